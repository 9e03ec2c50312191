// The control socket: HTTP over a unix socket in the state dir (0600 in a 0700 dir: only root
// talks to the agent). The CLI is its only client; every answer is JSON, errors as {error}.
import { chmod, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { buildInfo } from '../../cni/build-info.js';
import type { Agent } from './agent.js';
import { AgentError, type AgentErrorKind } from './errors.js';
import { RUNTIME_KINDS, type RuntimeKind } from '../runtime/runtime.js';
import { SUMMARY_STATUSES } from '../task/record.js';
import { TaskDefinitionError } from '../task/definition.js';
import { CHAIN_MODES, ENDPOINT_ADDRESS, type ChainMode } from '../task/network.js';

const MAX_BODY = 1 << 20;

// The agent's errors as HTTP statuses, decided here only.
const STATUS: Record<AgentErrorKind, number> = { invalid: 400, 'not-found': 404, failed: 500 };

const send = (res: ServerResponse, status: number, body: unknown): void => {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
};

const readBody = async (req: IncomingMessage): Promise<unknown> => {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) throw new AgentError('invalid', `request body over ${MAX_BODY} bytes`);
    chunks.push(chunk as Buffer);
  }
  if (size === 0) return {};
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new AgentError('invalid', 'request body is not JSON');
  }
};

export interface ControlHooks {
  shutdown(stopTasks: boolean): void;
  // GET /metrics: the Prometheus text exposition and its content type.
  metrics?(): Promise<{ contentType: string; body: string }>;
}

export const createControlServer = (agent: Agent, hooks: ControlHooks): Server => {
  // The process's start, fixed once: derived anew per request it would drift by milliseconds.
  const startedAtMs = Date.now() - process.uptime() * 1000;
  const route = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://agent');
    const parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
    const method = req.method ?? 'GET';
    if (method === 'GET' && url.pathname === '/health') {
      // What `tasknet status` prints; every field is in docs/agent.md ("GET /health").
      const tasks: Record<string, number> = Object.fromEntries(SUMMARY_STATUSES.map((s) => [s, 0]));
      for (const t of agent.list(true)) tasks[t.status] = (tasks[t.status] ?? 0) + 1;
      send(res, 200, {
        ok: true,
        pid: process.pid,
        stateDir: agent.layout.root,
        chainMode: agent.options.chainMode,
        build: buildInfo(),
        runtime: agent.options.defaultRuntime,
        ...(agent.engineSocket() ? { engineSocket: agent.engineSocket() } : {}),
        startedAt: new Date(startedAtMs).toISOString(),
        uptimeSeconds: Math.floor((Date.now() - startedAtMs) / 1000),
        tasks,
        endpoint: `${ENDPOINT_ADDRESS}:80`,
      });
      return;
    }
    if (method === 'GET' && url.pathname === '/metrics' && hooks.metrics) {
      const { contentType, body } = await hooks.metrics();
      res.writeHead(200, { 'content-type': contentType, 'content-length': Buffer.byteLength(body) });
      res.end(body);
      return;
    }
    if (method === 'POST' && url.pathname === '/shutdown') {
      const body = (await readBody(req)) as { stopTasks?: unknown };
      send(res, 202, { ok: true });
      hooks.shutdown(body.stopTasks === true);
      return;
    }
    if (parts[0] === 'tasks') {
      if (parts.length === 1 && method === 'GET') {
        send(res, 200, { tasks: agent.list(url.searchParams.get('all') === '1') });
        return;
      }
      if (parts.length === 1 && method === 'POST') {
        const body = (await readBody(req)) as Record<string, unknown>;
        if (typeof body.eni !== 'string')
          throw new AgentError('invalid', 'missing eni: give --eni MAC,ip=CIDR,gw=IP or --eni auto');
        if (typeof body.baseDir !== 'string') throw new AgentError('invalid', 'missing baseDir');
        if (body.chainMode !== undefined && !CHAIN_MODES.includes(body.chainMode as ChainMode)) {
          throw new AgentError(
            'invalid',
            `invalid chain mode ${JSON.stringify(body.chainMode)}: expected ${CHAIN_MODES.join(' or ')}`,
          );
        }
        if (body.runtime !== undefined && !RUNTIME_KINDS.includes(body.runtime as RuntimeKind)) {
          throw new AgentError(
            'invalid',
            `invalid runtime ${JSON.stringify(body.runtime)}: expected ${RUNTIME_KINDS.join(' or ')}`,
          );
        }
        const summary = await agent.run({
          definition: body.definition,
          baseDir: body.baseDir,
          eni: body.eni,
          ...(body.chainMode ? { chainMode: body.chainMode as ChainMode } : {}),
          ...(body.runtime ? { runtime: body.runtime as RuntimeKind } : {}),
        });
        send(res, 201, summary);
        return;
      }
      const ref = parts[1]!;
      if (parts.length === 2 && method === 'GET') {
        const { record, summary } = agent.find(ref);
        const containers = record?.containers.map((c) => {
          const def = record.definition.containers.find((d) => d.name === c.name)!;
          return {
            ...c,
            env: agent.containerEnv(record, def, c),
            cwd: def.workingDirectory ? `${record.baseDir}/${def.workingDirectory}` : record.baseDir,
          };
        });
        const engine = record?.runtime === 'engine' ? { engineSocket: agent.engineSocket() } : {};
        send(res, 200, {
          ...summary,
          ...engine,
          ...(record ? { pause: record.pause, hostname: record.hostname, containerDetails: containers } : {}),
        });
        return;
      }
      if (parts.length === 2 && method === 'DELETE') {
        send(res, 200, await agent.stop(ref));
        return;
      }
      if (parts.length === 3 && parts[2] === 'logs' && method === 'GET') {
        send(res, 200, { logs: await agent.logFiles(ref, url.searchParams.get('container') ?? undefined) });
        return;
      }
    }
    send(res, 404, { error: `no such request: ${method} ${url.pathname}` });
  };
  return createServer((req, res) => {
    route(req, res).catch((error: Error) => {
      const status =
        error instanceof AgentError ? STATUS[error.kind] : error instanceof TaskDefinitionError ? 400 : 500;
      if (!res.headersSent) send(res, status, { error: error.message });
    });
  });
};

// Listens on the socket path, replacing a stale socket a killed agent left behind (the pid file
// lock, taken first, guarantees no live agent owns it).
export const listenControl = async (server: Server, socketPath: string): Promise<void> => {
  await rm(socketPath, { force: true });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => resolve());
  });
  await chmod(socketPath, 0o600);
};
