import { open, readFile, rm } from 'node:fs/promises';
import type { Server } from 'node:http';
import { parseArgs } from 'node:util';
import { Agent } from '../agent.js';
import { createControlServer, listenControl } from '../control/server.js';
import { fileProvider, labProvider, type CredentialsProvider } from '../endpoint/credentials.js';
import { createEndpointServer, DEFAULT_LIMITS } from '../endpoint/server.js';
import { ensureHostWiring } from '../host-wiring.js';
import { EngineRuntime } from '../runtime/engine/engine-runtime.js';
import { ProcessRuntime } from '../runtime/process/process-runtime.js';
import { isAlive, processRef, type ProcessRef } from '../runtime/process/process-ref.js';
import { RUNTIME_KINDS, type RuntimeKind } from '../runtime/runtime.js';
import { secretsFileProvider } from '../task/environment.js';
import { ensurePrivateDir } from '../state/files.js';
import { resolveStateDir, stateLayout } from '../state/layout.js';
import { CHAIN_MODES, ENDPOINT_ADDRESS, ownBinDir, type ChainMode } from '../task-network.js';
import { CliError } from './errors.js';

const HELP = `usage: tasknet agent [options]

Runs the tasknet agent in the foreground: tasks, the CNI chain, the credentials and metadata
endpoint on ${ENDPOINT_ADDRESS}:80, and the control socket the other commands talk to.
On start it adopts the tasks that survived the last agent and tears down the ones that did not.
SIGTERM or SIGINT stop the agent and leave its tasks running (a new agent adopts them).

Options:
  --state-dir DIR            state, logs and the control socket (default: $TASKNET_STATE_DIR or /var/lib/tasknet)
  --chain in-process|exec    how the CNI plugins run (default: $TASKNET_CHAIN or in-process)
  --runtime engine|process   the runtime a task gets unless it asks (default: engine when an engine
                             socket is given, else process)
  --engine-socket PATH       the Docker Engine API socket (Docker Engine, or Podman's compatible
                             service); default: $TASKNET_ENGINE_SOCKET; none: no engine runtime
  --allow-privileged         let task definitions ask for privileged: true (engine runtime)
  --credentials-file FILE    JSON mapping role ARNs to credentials, for tasks with a taskRoleArn
  --secrets-file FILE        JSON mapping secrets' valueFrom to their values, for containers' secrets
  --lab-credentials          mint fake short-lived credentials (the lab's provider)
  --block-instance-metadata  tasks cannot reach 169.254.169.254 (ECS_AWSVPC_BLOCK_IMDS)
  --endpoint-max-connections N            open connections to the endpoint, in all (default 1024)
  --endpoint-max-connections-per-task N   open connections from one task (default 32)
  --stop-timeout SECONDS     SIGTERM -> SIGKILL grace for containers without stopTimeout (default 30)
  --cluster NAME             cluster name in ARNs and metadata (default: tasknet)
  --region REGION            region in ARNs and metadata (default: $AWS_REGION or us-east-1)`;

export const agentCommand = async (argv: string[]): Promise<number> => {
  const { values } = parseArgs({
    args: argv,
    options: {
      'state-dir': { type: 'string' },
      chain: { type: 'string' },
      'credentials-file': { type: 'string' },
      'secrets-file': { type: 'string' },
      runtime: { type: 'string' },
      'engine-socket': { type: 'string' },
      'allow-privileged': { type: 'boolean' },
      'lab-credentials': { type: 'boolean' },
      'block-instance-metadata': { type: 'boolean' },
      'stop-timeout': { type: 'string' },
      'endpoint-max-connections': { type: 'string' },
      'endpoint-max-connections-per-task': { type: 'string' },
      cluster: { type: 'string' },
      region: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(`${HELP}\n`);
    return 0;
  }
  const stateDir = resolveStateDir(values['state-dir']);
  const chainMode = (values.chain ?? process.env.TASKNET_CHAIN ?? 'in-process') as ChainMode;
  if (!CHAIN_MODES.includes(chainMode)) throw new CliError(`invalid --chain ${JSON.stringify(chainMode)}: expected in-process or exec`, true);
  const stopTimeout = Number(values['stop-timeout'] ?? 30);
  if (!Number.isFinite(stopTimeout) || stopTimeout < 0 || stopTimeout > 3600) throw new CliError(`invalid --stop-timeout ${values['stop-timeout']}: expected seconds`, true);
  const count = (flag: 'endpoint-max-connections' | 'endpoint-max-connections-per-task', fallback: number): number => {
    const n = Number(values[flag] ?? fallback);
    if (!Number.isInteger(n) || n < 1) throw new CliError(`invalid --${flag} ${values[flag]}: expected a positive number`, true);
    return n;
  };
  const limits = { total: count('endpoint-max-connections', DEFAULT_LIMITS.total), perSource: count('endpoint-max-connections-per-task', DEFAULT_LIMITS.perSource) };
  if (values['credentials-file'] && values['lab-credentials']) throw new CliError('give --credentials-file or --lab-credentials, not both', true);
  const provider: CredentialsProvider | undefined = values['credentials-file'] ? fileProvider(values['credentials-file'])
    : values['lab-credentials'] ? labProvider() : undefined;
  const engineSocket = values['engine-socket'] ?? (process.env.TASKNET_ENGINE_SOCKET || undefined);
  const defaultRuntime = (values.runtime ?? (engineSocket ? 'engine' : 'process')) as RuntimeKind;
  if (!RUNTIME_KINDS.includes(defaultRuntime)) throw new CliError(`invalid --runtime ${JSON.stringify(values.runtime)}: expected engine or process`, true);
  if (defaultRuntime === 'engine' && !engineSocket) throw new CliError('--runtime engine needs --engine-socket PATH (or $TASKNET_ENGINE_SOCKET)', true);
  const region = values.region ?? process.env.AWS_REGION ?? 'us-east-1';
  const log = (line: string): void => { process.stderr.write(`${new Date().toISOString()} ${line}\n`); };

  const layout = stateLayout(stateDir);
  await ensurePrivateDir(stateDir);
  const lock = await lockStateDir(layout.pidFile);
  const engine = engineSocket
    ? await EngineRuntime.connect({ socket: engineSocket, allowPrivileged: values['allow-privileged'] ?? false }).catch((error: Error) => {
      throw new CliError(error.message);
    })
    : undefined;
  const agent = new Agent({
    stateDir,
    runtimes: { process: new ProcessRuntime(), ...(engine ? { engine } : {}) },
    defaultRuntime,
    ...(engineSocket ? { engineSocket } : {}),
    ...(values['secrets-file'] ? { secrets: secretsFileProvider(values['secrets-file']) } : {}),
    chainMode,
    cniPath: [ownBinDir()],
    blockInstanceMetadata: values['block-instance-metadata'] ?? false,
    stopTimeoutMs: stopTimeout * 1000,
    provider,
    identity: { cluster: values.cluster ?? 'tasknet', region, availabilityZone: `${region}a` },
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
    const endpoint = createEndpointServer({ lookup: agent, provider, identity: agent.options.identity, log, limits });
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
    if (owner && isAlive(owner)) throw new CliError(`an agent is already running with state dir ${path.replace(/\/agent\.pid$/, '')} (pid ${owner.pid})`);
    await rm(path, { force: true });
  }
  throw new CliError(`cannot take the lock ${path}`);
};

const releaseLock = async (path: string, me: ProcessRef): Promise<void> => {
  try {
    const owner = JSON.parse(await readFile(path, 'utf8')) as ProcessRef;
    if (owner.pid === me.pid && owner.startTime === me.startTime) await rm(path, { force: true });
  } catch { /* already gone */ }
};
