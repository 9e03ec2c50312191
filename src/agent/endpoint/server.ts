// The credentials and metadata endpoint tasks reach at 169.254.170.2:80.
// A request is answered only when BOTH its id is known AND it comes from the bridge address of
// the task that owns the id; every other request gets the same answer as an unknown id, so a
// task learns nothing about other tasks' ids (no oracle) and nothing else leaks in errors.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { ContainerRecord, TaskRecord } from '../task-record.js';
import type { CredentialsProvider } from './credentials.js';
import { containerMetadata, taskMetadata, type ClusterIdentity } from './metadata.js';

export interface EndpointLookup {
  byCredentialsId(id: string): TaskRecord | undefined;
  byMetadataId(id: string): { task: TaskRecord; container: ContainerRecord } | undefined;
}

export interface EndpointOptions {
  lookup: EndpointLookup;
  provider: CredentialsProvider | undefined;
  identity: ClusterIdentity;
  log: (line: string) => void;
}

// ECS's own answers (agent/handlers/v2, credentials handler) for a bad id.
const CREDENTIALS_NOT_FOUND = { code: 'InvalidIdInRequest', message: 'CredentialsV2Request: Credentials not found' };
const CREDENTIALS_FAILED = { code: 'InternalServerException', message: 'CredentialsV2Request: Credentials could not be retrieved' };
const NOT_FOUND = { code: 'NotFound', message: 'Not found' };

const send = (res: ServerResponse, status: number, body: unknown): void => {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
  res.end(text);
};

// Paths are matched exactly: ids are single path segments of a safe alphabet.
const ID = '([A-Za-z0-9-]{1,128})';
const CREDENTIALS = new RegExp(`^/v2/credentials/${ID}$`);
const CONTAINER = new RegExp(`^/v4/${ID}$`);
const TASK = new RegExp(`^/v4/${ID}/task$`);

export const createEndpointServer = (options: EndpointOptions): Server => {
  const { lookup, identity, log } = options;
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
      if (!task || !task.definition.taskRoleArn || task.attachment?.bridgeAddress !== source || !options.provider) {
        log(`endpoint: refused credentials request from ${source}`);
        send(res, 400, CREDENTIALS_NOT_FOUND);
        return;
      }
      try {
        send(res, 200, await options.provider.credentials(task.definition.taskRoleArn, task.id));
      } catch (error) {
        log(`endpoint: credentials for task ${task.id}: ${(error as Error).message}`);
        send(res, 500, CREDENTIALS_FAILED);
      }
      return;
    }
    const container = CONTAINER.exec(path) ?? TASK.exec(path);
    if (container) {
      const found = lookup.byMetadataId(container[1]!);
      if (!found || found.task.attachment?.bridgeAddress !== source) {
        send(res, 404, NOT_FOUND);
        return;
      }
      send(res, 200, path.endsWith('/task') ? taskMetadata(identity, found.task) : containerMetadata(identity, found.task, found.container));
      return;
    }
    send(res, 404, NOT_FOUND);
  };
  return createServer((req, res) => {
    handle(req, res).catch((error: Error) => {
      log(`endpoint: ${error.message}`);
      if (!res.headersSent) send(res, 500, { code: 'InternalServerException', message: 'Internal error' });
    });
  });
};
