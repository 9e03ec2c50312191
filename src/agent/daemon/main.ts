// The agent daemon: takes its state dir (one agent per dir, by a pid-file lock), connects its
// runtimes, reconciles what the last agent left, wires the host, and serves the endpoint at
// 169.254.170.2:80, the control socket and, when asked, metrics on a loopback port until
// SIGTERM/SIGINT or a shutdown request. Its command line is cli/agent.ts.
import { open, readFile, rm } from 'node:fs/promises';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { useSpawnServer } from '../../netlink/spawn-server.js';
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
import { createAgentLog, type LogOptions } from './log.js';
import { AgentMetrics, createMetricsServer } from './metrics.js';

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
  log: LogOptions;
  metricsAddress?: { host: string; port: number }; // a TCP listener for /metrics, besides the socket
}

// prom-client's process and Node.js metrics (CPU, memory, fds, event loop lag, GC). Measured: about
// 11 ms of CPU once at start, against an agent start-up of 1.3 s or more (docs/agent.md, Metrics).
const PROCESS_METRICS = true;

export const runDaemon = async (config: DaemonConfig): Promise<number> => {
  const { stateDir, chainMode, defaultRuntime, engineSocket, provider } = config;
  // Every `ip`/`nsenter` of the agent forked by a small shell: Node's own spawn blocks the agent's
  // loop (its endpoint included) for each child's fork and exec (src/netlink/spawn-server.ts).
  useSpawnServer();
  const log = createAgentLog(config.log);
  // Before the agent, which reports to it from its first CNI call (reconcile, GC); `agent` is read
  // only when scraped, which the control socket allows once the agent is made.
  const metrics: AgentMetrics = new AgentMetrics({ tasks: () => agent.list(), processMetrics: PROCESS_METRICS });
  const layout = stateLayout(stateDir);
  await ensurePrivateDir(stateDir);
  const lock = await lockStateDir(layout.pidFile);
  const engine = engineSocket
    ? await EngineRuntime.connect({ socket: engineSocket, allowPrivileged: config.allowPrivileged }).catch(
        async (error: Error) => {
          await releaseLock(layout.pidFile, lock);
          throw new AgentError('failed', error.message);
        },
      )
    : undefined;
  const agent: Agent = new Agent({
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
    metrics,
  });
  const servers: Server[] = [];
  let metricsServer: Server | undefined;
  let stopping = false;
  const shutdown = async (stopTasks: boolean, code: number): Promise<void> => {
    if (stopping) return;
    stopping = true;
    log.info(`agent stopping${stopTasks ? ' with its tasks' : ' (tasks keep running)'}`);
    await agent.shutdown(stopTasks);
    await Promise.all(
      servers.map(
        (s) =>
          new Promise((r) => {
            s.close(r);
            s.closeAllConnections();
          }),
      ),
    );
    await rm(layout.socket, { force: true });
    await releaseLock(layout.pidFile, lock);
    log.info('agent stopped');
    process.exit(code);
  };
  try {
    await agent.start();
    await ensureHostWiring();
    const endpoint = createEndpointServer({
      lookup: agent,
      provider,
      identity: agent.options.identity,
      log,
      limits: config.limits,
      answered: (path, status) => metrics.endpointAnswered(path, status),
    });
    await new Promise<void>((resolve, reject) => {
      endpoint.once('error', (error) => reject(new Error(`cannot listen on ${ENDPOINT_ADDRESS}:80: ${error.message}`)));
      endpoint.listen(80, ENDPOINT_ADDRESS, () => resolve());
    });
    servers.push(endpoint);
    const control = createControlServer(agent, {
      shutdown: (stopTasks) => {
        void shutdown(stopTasks, 0);
      },
      metrics: () => metrics.render(),
    });
    await listenControl(control, layout.socket);
    servers.push(control);
    if (config.metricsAddress) {
      metricsServer = await listenMetrics(metrics, config.metricsAddress);
      servers.push(metricsServer);
    }
  } catch (error) {
    // The servers already listening would keep the process alive after the error is reported.
    for (const server of servers) server.close();
    await rm(layout.socket, { force: true }); // ours: the lock is held
    await releaseLock(layout.pidFile, lock);
    throw error;
  }
  process.on('SIGTERM', () => {
    void shutdown(false, 0);
  });
  process.on('SIGINT', () => {
    void shutdown(false, 0);
  });
  const metricsAt = metricsServer ? `, metrics http://${hostPort(metricsServer.address() as AddressInfo)}/metrics` : '';
  const engineAt = engineSocket ? ` (engine ${engineSocket})` : '';
  log.info(
    `agent ${process.pid} ready: state ${stateDir}, runtime ${defaultRuntime}${engineAt}, chain ${chainMode}, credentials ${provider?.kind ?? 'none'}, ` +
      `endpoint ${ENDPOINT_ADDRESS}:80${metricsAt}`,
  );
  if (defaultRuntime === 'process') {
    log.warn(
      'the process runtime runs task commands on the host filesystem as root: it isolates networks, not files or users',
    );
  }
  return new Promise<number>(() => {
    /* runs until shutdown() exits the process */
  });
};

// The metrics listener; a port taken is a start-up failure, not a silent absence of metrics.
const listenMetrics = async (
  metrics: AgentMetrics,
  { host, port }: { host: string; port: number },
): Promise<Server> => {
  const server = createMetricsServer(metrics);
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error) =>
      reject(
        new AgentError('failed', `cannot listen on ${hostPort({ address: host, port })} for metrics: ${error.message}`),
      ),
    );
    server.listen(port, host, () => resolve());
  });
  return server;
};

const hostPort = ({ address, port }: { address: string; port: number }): string =>
  address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;

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
    } catch {
      /* unreadable: stale */
    }
    if (owner && isAlive(owner))
      throw new AgentError(
        'invalid',
        `an agent is already running with state dir ${path.replace(/\/agent\.pid$/, '')} (pid ${owner.pid})`,
      );
    await rm(path, { force: true });
  }
  throw new AgentError('failed', `cannot take the lock ${path}`);
};

const releaseLock = async (path: string, me: ProcessRef): Promise<void> => {
  try {
    const owner = JSON.parse(await readFile(path, 'utf8')) as ProcessRef;
    if (owner.pid === me.pid && owner.startTime === me.startTime) await rm(path, { force: true });
  } catch {
    /* already gone */
  }
};
