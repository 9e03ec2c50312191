// The client of the agent's control socket (the CLI's and the lab's).
import { request } from 'node:http';
import { AgentError } from './errors.js';
import { stateLayout } from '../state/layout.js';

export interface Reply<T = unknown> {
  status: number;
  body: T;
}

export const callAgent = <T = unknown>(
  stateDir: string,
  method: string,
  path: string,
  body?: unknown,
  timeoutMs = 0,
): Promise<Reply<T>> =>
  new Promise((resolve, reject) => {
    const text = body === undefined ? undefined : JSON.stringify(body);
    const req = request(
      {
        socketPath: stateLayout(stateDir).socket,
        agent: false, // Node 20's global agent times idle sockets out after 5 s; a run may take longer
        method,
        path,
        headers:
          text === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) },
        ...(timeoutMs > 0 ? { timeout: timeoutMs } : {}),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const raw = Buffer.concat(chunks).toString('utf8');
          try {
            resolve({ status: res.statusCode ?? 0, body: raw ? JSON.parse(raw) : {} });
          } catch {
            reject(new AgentError('failed', `the agent answered ${res.statusCode} with something that is not JSON`));
          }
        });
      },
    );
    if (timeoutMs > 0) req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT' || error.code === 'ECONNREFUSED') {
        reject(
          new AgentError(
            'failed',
            `no agent is running with state dir ${stateDir} (start one: tasknet agent --state-dir ${stateDir}, or tasknet lab up)`,
          ),
        );
      } else reject(new AgentError('failed', `cannot talk to the agent: ${error.message}`));
    });
    req.end(text);
  });
