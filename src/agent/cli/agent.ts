// `tasknet agent`: the daemon's command line. Options are read and checked here; the daemon
// itself (daemon/main.ts) gets a checked configuration.
import { DEFAULT_LIMITS } from '../daemon/endpoint/server.js';
import { fileProvider, labProvider, type CredentialsProvider } from '../daemon/endpoint/credentials.js';
import { runDaemon, type DaemonConfig } from '../daemon/main.js';
import { RUNTIME_KINDS, type RuntimeKind } from '../runtime/runtime.js';
import { resolveStateDir } from '../state/layout.js';
import { secretsFileProvider } from '../task/environment.js';
import { CHAIN_MODES, ENDPOINT_ADDRESS, type ChainMode } from '../task/network.js';
import { parseOptions } from './common.js';
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
  --block-instance-metadata  tasks cannot reach 169.254.169.254 (default: $ECS_AWSVPC_BLOCK_IMDS or false)
  --endpoint-max-connections N            open connections to the endpoint, in all (default 1024)
  --endpoint-max-connections-per-task N   open connections from one task (default 32)
  --stop-timeout SECONDS     SIGTERM -> SIGKILL grace for containers without stopTimeout
                             (default: $ECS_CONTAINER_STOP_TIMEOUT, a duration such as 45s or 2m, or 30)
  --cluster NAME             cluster name in ARNs and metadata (default: $ECS_CLUSTER or tasknet)
  --region REGION            region in ARNs and metadata (default: $AWS_REGION or us-east-1)

The ECS agent's own settings are read where tasknet has the same knob (a flag wins):
ECS_AWSVPC_BLOCK_IMDS, ECS_CONTAINER_STOP_TIMEOUT, ECS_CLUSTER, and ECS_DATADIR after
$TASKNET_STATE_DIR for the state dir.`;

// The ECS agent's boolean settings take what Go's strconv.ParseBool takes.
const ecsBool = (name: string): boolean | undefined => {
  const value = process.env[name];
  if (value === undefined || value === '') return undefined;
  if (/^(1|t|true)$/i.test(value)) return true;
  if (/^(0|f|false)$/i.test(value)) return false;
  throw new CliError(`invalid ${name}=${JSON.stringify(value)}: expected true or false`, true);
};

// A Go duration (ECS_CONTAINER_STOP_TIMEOUT=45s, 1m30s, 500ms), in seconds.
const GO_UNITS: Record<string, number> = { ns: 1e-9, us: 1e-6, 'µs': 1e-6, ms: 1e-3, s: 1, m: 60, h: 3600 };
export const goDurationSeconds = (name: string, value: string): number => {
  if (!/^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/.test(value)) throw new CliError(`invalid ${name}=${JSON.stringify(value)}: expected a duration such as 30s or 2m`, true);
  let seconds = 0;
  for (const m of value.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g)) seconds += Number(m[1]) * GO_UNITS[m[2]!]!;
  return seconds;
};

export const agentCommand = async (argv: string[]): Promise<number> => {
  const config = agentConfig(argv);
  if (config === 'help') {
    process.stdout.write(`${HELP}\n`);
    return 0;
  }
  return runDaemon(config);
};

// The daemon's configuration from the command line, then the environment, then the defaults.
export const agentConfig = (argv: string[]): DaemonConfig | 'help' => {
  const { values } = parseOptions({
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
  if (values.help) return 'help';
  const stateDir = resolveStateDir(values['state-dir']);
  const chainMode = (values.chain ?? process.env.TASKNET_CHAIN ?? 'in-process') as ChainMode;
  if (!CHAIN_MODES.includes(chainMode)) throw new CliError(`invalid --chain ${JSON.stringify(chainMode)}: expected in-process or exec`, true);
  const envStop = process.env.ECS_CONTAINER_STOP_TIMEOUT;
  const stopTimeout = values['stop-timeout'] !== undefined ? Number(values['stop-timeout'])
    : envStop ? goDurationSeconds('ECS_CONTAINER_STOP_TIMEOUT', envStop) : 30;
  if (!Number.isFinite(stopTimeout) || stopTimeout < 0 || stopTimeout > 3600) {
    throw new CliError(values['stop-timeout'] !== undefined ? `invalid --stop-timeout ${values['stop-timeout']}: expected seconds (0-3600)`
      : `invalid ECS_CONTAINER_STOP_TIMEOUT=${JSON.stringify(envStop)}: expected at most 1h`, true);
  }
  const count = (flag: 'endpoint-max-connections' | 'endpoint-max-connections-per-task', fallback: number): number => {
    const n = Number(values[flag] ?? fallback);
    if (!Number.isInteger(n) || n < 1) throw new CliError(`invalid --${flag} ${values[flag]}: expected a positive number`, true);
    return n;
  };
  const limits = { ...DEFAULT_LIMITS, total: count('endpoint-max-connections', DEFAULT_LIMITS.total), perSource: count('endpoint-max-connections-per-task', DEFAULT_LIMITS.perSource) };
  if (values['credentials-file'] && values['lab-credentials']) throw new CliError('give --credentials-file or --lab-credentials, not both', true);
  const provider: CredentialsProvider | undefined = values['credentials-file'] ? fileProvider(values['credentials-file'])
    : values['lab-credentials'] ? labProvider() : undefined;
  const engineSocket = values['engine-socket'] ?? (process.env.TASKNET_ENGINE_SOCKET || undefined);
  const defaultRuntime = (values.runtime ?? (engineSocket ? 'engine' : 'process')) as RuntimeKind;
  if (!RUNTIME_KINDS.includes(defaultRuntime)) throw new CliError(`invalid --runtime ${JSON.stringify(values.runtime)}: expected engine or process`, true);
  if (defaultRuntime === 'engine' && !engineSocket) throw new CliError('--runtime engine needs --engine-socket PATH (or $TASKNET_ENGINE_SOCKET)', true);
  const region = values.region ?? process.env.AWS_REGION ?? 'us-east-1';
  return {
    stateDir,
    chainMode,
    defaultRuntime,
    ...(engineSocket ? { engineSocket } : {}),
    allowPrivileged: values['allow-privileged'] ?? false,
    provider,
    ...(values['secrets-file'] ? { secrets: secretsFileProvider(values['secrets-file']) } : {}),
    blockInstanceMetadata: values['block-instance-metadata'] ?? ecsBool('ECS_AWSVPC_BLOCK_IMDS') ?? false,
    stopTimeoutMs: stopTimeout * 1000,
    limits,
    identity: { cluster: values.cluster ?? (process.env.ECS_CLUSTER || 'tasknet'), region, availabilityZone: `${region}a` },
  };
};
