// The agent daemon: takes its state dir (one agent per dir, by a pid-file lock), connects its
// runtimes, reconciles what the last agent left, wires the host, and serves the endpoint at
// 169.254.170.2:80 and the control socket until SIGTERM/SIGINT or a shutdown request. Its command
// line is cli/agent.ts.
import { open, readFile, rm } from 'node:fs/promises';
import type { Server } from 'node:http';
import { EngineRuntime } from '../runtime/engine/engine-runtime.js';
import { ProcessRuntime } from '../runtime/process/process-runtime.js';
import { isAlive, processRef, type ProcessRef } from '../runtime/process/process-ref.js';
import type { RuntimeKind } from '../runtime/runtime.js';
import { ensurePrivateDir } from '../state/files.js';
import { stateLayout } from '../state/layout.js';
import type { SecretsProvider } from '../task/environment.js';
import { ENDPOINT_ADDRESS, ownBinDir, type ChainMode } from '../task/network.js';
import { Agent } from './agent.js';
import { createControlServer, listenControl } from './control-server.js';
import type { CredentialsProvider } from './endpoint/credentials.js';
import type { ClusterIdentity } from './endpoint/metadata.js';
import { createEndpointServer, type ConnectionLimits } from './endpoint/server.js';
import { AgentError } from './errors.js';
import { ensureHostWiring } from './host-wiring.js';

export interface DaemonConfig {
  stateDir: string;
  chainMode: ChainMode;
  defaultRuntime: RuntimeKind;
  engineSocket?: string;
  allowPrivileged: boolean;
  provider: CredentialsProvider | undefined;
  secrets?: SecretsProvider;
  blockInstanceMetadata: boolean;
  stopTimeoutMs: number;
  limits: ConnectionLimits;
  identity: ClusterIdentity;
}

export const runDaemon = async (config: DaemonConfig): Promise<number> => {
  const { stateDir, chainMode, defaultRuntime, engineSocket, provider } = config;
  const log = (line: string): void => { process.stderr.write(`${new Date().toISOString()} ${line}\n`); };
  const layout = stateLayout(stateDir);
  await ensurePrivateDir(stateDir);
  const lock = await lockStateDir(layout.pidFile);
  const engine = engineSocket
    ? await EngineRuntime.connect({ socket: engineSocket, allowPrivileged: config.allowPrivileged }).catch(async (error: Error) => {
      await releaseLock(layout.pidFile, lock);
      throw new AgentError('failed', error.message);
    })
    : undefined;
  const agent = new Agent({
    stateDir,
    runtimes: { process: new ProcessRuntime(), ...(engine ? { engine } : {}) },
    defaultRuntime,
    ...(engineSocket ? { engineSocket } : {}),
    ...(config.secrets ? { secrets: config.secrets } : {}),
    chainMode,
    cniPath: [ownBinDir()],
    blockInstanceMetadata: config.blockInstanceMetadata,
    stopTimeoutMs: config.stopTimeoutMs,
    provider,
    identity: config.identity,
    log,
  });
  const servers: Server[] = [];
  let stopping = false;
  const shutdown = async (stopTasks: boolean, code: number): Promise<void> => {
    if (stopping) return;
    stopping = true;
    log(`agent stopping${stopTasks ? ' with its tasks' : ' (tasks keep running)'}`);
    await agent.shutdown(stopTasks);
    await Promise.all(servers.map((s) => new Promise((r) => { s.close(r); s.closeAllConnections(); })));
    await rm(layout.socket, { force: true });
    await releaseLock(layout.pidFile, lock);
    log('agent stopped');
    process.exit(code);
  };
  try {
    await agent.start();
    await ensureHostWiring();
    const endpoint = createEndpointServer({ lookup: agent, provider, identity: agent.options.identity, log, limits: config.limits });
    await new Promise<void>((resolve, reject) => {
      endpoint.once('error', (error) => reject(new Error(`cannot listen on ${ENDPOINT_ADDRESS}:80: ${error.message}`)));
      endpoint.listen(80, ENDPOINT_ADDRESS, () => resolve());
    });
    servers.push(endpoint);
    const control = createControlServer(agent, { shutdown: (stopTasks) => { void shutdown(stopTasks, 0); } });
    await listenControl(control, layout.socket);
    servers.push(control);
  } catch (error) {
    await releaseLock(layout.pidFile, lock);
    throw error;
  }
  process.on('SIGTERM', () => { void shutdown(false, 0); });
  process.on('SIGINT', () => { void shutdown(false, 0); });
  log(`agent ${process.pid} ready: state ${stateDir}, runtime ${defaultRuntime}${engineSocket ? ` (engine ${engineSocket})` : ''}, chain ${chainMode}, credentials ${provider?.kind ?? 'none'}, endpoint ${ENDPOINT_ADDRESS}:80`);
  if (defaultRuntime === 'process') {
    log('WARNING: the process runtime runs task commands on the host filesystem as root: it isolates networks, not files or users');
  }
  return new Promise<number>(() => { /* runs until shutdown() exits the process */ });
};

// One agent per state dir: the pid file holds the owner's pid and start time; a file left by a
// dead agent (kill -9) is taken over.
const lockStateDir = async (path: string): Promise<ProcessRef> => {
  const me = processRef(process.pid)!;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const handle = await open(path, 'wx', 0o600);
      await handle.writeFile(JSON.stringify(me));
      await handle.close();
      return me;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    let owner: ProcessRef | undefined;
    try {
      owner = JSON.parse(await readFile(path, 'utf8')) as ProcessRef;
    } catch { /* unreadable: stale */ }
    if (owner && isAlive(owner)) throw new AgentError('invalid', `an agent is already running with state dir ${path.replace(/\/agent\.pid$/, '')} (pid ${owner.pid})`);
    await rm(path, { force: true });
  }
  throw new AgentError('failed', `cannot take the lock ${path}`);
};

const releaseLock = async (path: string, me: ProcessRef): Promise<void> => {
  try {
    const owner = JSON.parse(await readFile(path, 'utf8')) as ProcessRef;
    if (owner.pid === me.pid && owner.startTime === me.startTime) await rm(path, { force: true });
  } catch { /* already gone */ }
};
