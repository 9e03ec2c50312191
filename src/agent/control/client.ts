// The CLI side of the control socket.
import { request } from 'node:http';
import { CliError } from '../cli/errors.js';
import { stateLayout } from '../state/layout.js';

export interface Reply<T = any> {
  status: number;
  body: T;
}

export const callAgent = <T = any>(stateDir: string, method: string, path: string, body?: unknown, timeoutMs = 0): Promise<Reply<T>> =>
  new Promise((resolve, reject) => {
    const text = body === undefined ? undefined : JSON.stringify(body);
    const req = request({
      socketPath: stateLayout(stateDir).socket,
      agent: false, // Node 20's global agent times idle sockets out after 5 s; a run may take longer
      method,
      path,
      headers: text === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) },
      ...(timeoutMs > 0 ? { timeout: timeoutMs } : {}),
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        try {
          resolve({ status: res.statusCode ?? 0, body: raw ? JSON.parse(raw) : {} });
        } catch {
          reject(new CliError(`the agent answered ${res.statusCode} with something that is not JSON`));
        }
      });
    });
    if (timeoutMs > 0) req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT' || error.code === 'ECONNREFUSED') {
        reject(new CliError(`no agent is running with state dir ${stateDir} (start one: tasknet agent --state-dir ${stateDir}, or tasknet lab up)`));
      } else reject(new CliError(`cannot talk to the agent: ${error.message}`));
    });
    req.end(text);
  });

// The reply body on 2xx; the agent's error message as a one-line CliError otherwise.
export const expectOk = <T>(reply: Reply<T>): T => {
  if (reply.status >= 200 && reply.status < 300) return reply.body;
  throw new CliError((reply.body as { error?: string })?.error ?? `the agent answered ${reply.status}`);
};
