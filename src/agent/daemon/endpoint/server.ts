// The credentials and metadata endpoint tasks reach at 169.254.170.2:80.
// A request is answered only when BOTH its id is known AND it comes from the bridge address of
// the task that owns the id; every other request gets the same answer as an unknown id, so a
// task learns nothing about other tasks' ids (no oracle) and nothing else leaks in errors.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { ContainerRecord, TaskRecord } from '../../task/record.js';
import type { AgentLog } from '../log.js';
import type { CredentialsProvider } from './credentials.js';
import { containerMetadata, taskMetadata, type ClusterIdentity } from './metadata.js';

export interface EndpointLookup {
  byCredentialsId(id: string): TaskRecord | undefined;
  byMetadataId(id: string): { task: TaskRecord; container: ContainerRecord } | undefined;
  // The engine's stats of a container (the Docker stats shape TMDS v4 serves), null without one.
  stats?(task: TaskRecord, container: ContainerRecord): Promise<unknown>;
}

export interface EndpointOptions {
  lookup: EndpointLookup;
  provider: CredentialsProvider | undefined;
  identity: ClusterIdentity;
  log: AgentLog;
  limits?: Partial<ConnectionLimits>;
  answered?: (path: string, status: number) => void; // every response sent (metrics)
}

// One task must not be able to starve the others (or the agent's file descriptors): connections
// are capped per source address (a task has one bridge address) and in total, and a connection
// that sends nothing, or too slowly, is dropped. An SDK holds one or two keep-alive connections.
export interface ConnectionLimits {
  perSource: number;
  total: number;
  headersTimeoutMs: number; // the whole request head must arrive within this
  idleTimeoutMs: number; // a connection with nothing to do is closed after this
}

export const DEFAULT_LIMITS: ConnectionLimits = {
  perSource: 32,
  total: 1024,
  headersTimeoutMs: 5000,
  idleTimeoutMs: 10_000,
};

// ECS's own answers (agent/handlers/v2, credentials handler) for a bad id.
const CREDENTIALS_NOT_FOUND = { code: 'InvalidIdInRequest', message: 'CredentialsV2Request: Credentials not found' };
const CREDENTIALS_FAILED = {
  code: 'InternalServerException',
  message: 'CredentialsV2Request: Credentials could not be retrieved',
};
const NOT_FOUND = { code: 'NotFound', message: 'Not found' };

const send = (res: ServerResponse, status: number, body: unknown): void => {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
  });
  res.end(text);
};

// Paths are matched exactly: ids are single path segments of a safe alphabet.
const ID = '([A-Za-z0-9-]{1,128})';
const CREDENTIALS = new RegExp(`^/v2/credentials/${ID}$`);
const CONTAINER = new RegExp(`^/v4/${ID}$`);
const TASK = new RegExp(`^/v4/${ID}/task$`);
const CONTAINER_STATS = new RegExp(`^/v4/${ID}/stats$`);
const TASK_STATS = new RegExp(`^/v4/${ID}/task/stats$`);

// A path as the log may show it: ids are a task's secrets, so only what kind of request it was.
const pathKind = (path: string): string =>
  path.startsWith('/v2/credentials/') ? '/v2/credentials/<id>' : path.replace(/^\/v4\/[^/]+/, '/v4/<id>').slice(0, 64);

// Refused credentials requests are logged at most once a minute per source, with how many were
// not logged: a task looping on them must not flood the agent's log (journald's rate limit would
// then drop everyone's lines) nor spend the event loop on log writes. The metrics count them all.
const REFUSAL_LOG_INTERVAL_MS = 60_000;

export const createEndpointServer = (options: EndpointOptions): Server => {
  const { lookup, identity, log } = options;
  const limits = { ...DEFAULT_LIMITS, ...options.limits };
  const refusals = new Map<string, { loggedAt: number; unlogged: number }>();
  const logRefusal = (source: string): void => {
    const now = Date.now();
    const seen = refusals.get(source);
    if (seen && now - seen.loggedAt < REFUSAL_LOG_INTERVAL_MS) {
      seen.unlogged++;
      return;
    }
    const more = seen?.unlogged ? ` (and ${seen.unlogged} more since the last line)` : '';
    log.info(`endpoint: refused credentials request from ${source}${more}`);
    if (refusals.size > 4096) refusals.clear(); // bounded: sources are task addresses
    refusals.set(source, { loggedAt: now, unlogged: 0 });
  };
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const source = req.socket.remoteAddress ?? '';
    const path = (req.url ?? '').split('?')[0]!;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      send(res, 405, { code: 'MethodNotAllowed', message: 'Only GET is supported' });
      return;
    }
    const credentials = CREDENTIALS.exec(path);
    if (credentials) {
      const task = lookup.byCredentialsId(credentials[1]!);
      if (!task?.definition.taskRoleArn || task.attachment?.bridgeAddress !== source || !options.provider) {
        logRefusal(source);
        send(res, 400, CREDENTIALS_NOT_FOUND);
        return;
      }
      try {
        send(res, 200, await options.provider.credentials(task.definition.taskRoleArn, task.id));
      } catch (error) {
        log.error(`endpoint: credentials for task ${task.id}: ${(error as Error).message}`, { taskId: task.id });
        send(res, 500, CREDENTIALS_FAILED);
      }
      return;
    }
    // Metadata and stats: the id's container, if the request comes from its task.
    const metadataId = (CONTAINER.exec(path) ??
      TASK.exec(path) ??
      CONTAINER_STATS.exec(path) ??
      TASK_STATS.exec(path))?.[1];
    const found = metadataId === undefined ? undefined : lookup.byMetadataId(metadataId);
    if (!found || found.task.attachment?.bridgeAddress !== source) {
      send(res, 404, NOT_FOUND);
      return;
    }
    const { task, container } = found;
    const statsOf = (c: ContainerRecord) => (lookup.stats ? lookup.stats(task, c) : Promise.resolve(null));
    if (path.endsWith('/task/stats')) {
      // ECS: an object keyed by each container's Docker id.
      send(
        res,
        200,
        Object.fromEntries(
          await Promise.all(task.containers.map(async (c) => [c.engineId ?? c.runtimeId, await statsOf(c)] as const)),
        ),
      );
    } else if (path.endsWith('/stats')) {
      send(res, 200, await statsOf(container));
    } else {
      send(
        res,
        200,
        path.endsWith('/task') ? taskMetadata(identity, task) : containerMetadata(identity, task, container),
      );
    }
  };
  const server = createServer(
    {
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: limits.headersTimeoutMs * 2,
      keepAliveTimeout: limits.idleTimeoutMs,
    },
    (req, res) => {
      const path = (req.url ?? '').split('?')[0]!;
      res.once('finish', () => {
        options.answered?.(path, res.statusCode);
        log.debug(`endpoint: ${req.method} ${pathKind(path)} from ${req.socket.remoteAddress}: ${res.statusCode}`);
      });
      handle(req, res).catch((error: Error) => {
        log.error(`endpoint: ${error.message}`);
        if (!res.headersSent) send(res, 500, { code: 'InternalServerException', message: 'Internal error' });
      });
    },
  );
  server.setTimeout(limits.idleTimeoutMs, (socket) => socket.destroy());
  const open = new Map<string, number>();
  let total = 0;
  const refusedLogged = new Set<string>();
  server.on('connection', (socket) => {
    const source = socket.remoteAddress ?? '';
    const mine = open.get(source) ?? 0;
    if (mine >= limits.perSource || total >= limits.total) {
      // Once per source until it is back under its limit: a flood must not flood the log too.
      if (!refusedLogged.has(source))
        log.warn(
          `endpoint: refusing connections from ${source}: ${mine >= limits.perSource ? `${mine} open (limit ${limits.perSource})` : `${total} open in all (limit ${limits.total})`}`,
        );
      refusedLogged.add(source);
      socket.destroy();
      return;
    }
    open.set(source, mine + 1);
    total++;
    socket.once('close', () => {
      total--;
      const left = (open.get(source) ?? 1) - 1;
      if (left === 0) open.delete(source);
      else open.set(source, left);
      if (left < limits.perSource / 2) refusedLogged.delete(source);
    });
  });
  return server;
};
