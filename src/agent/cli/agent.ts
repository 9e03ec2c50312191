// `tasknet agent`: the daemon's command line. Options are read and checked here; the daemon
// itself (daemon/main.ts) gets a checked configuration.
import { isIP } from 'node:net';
import { DEFAULT_LIMITS } from '../daemon/endpoint/server.js';
import { fileProvider, labProvider, type CredentialsProvider } from '../daemon/endpoint/credentials.js';
import { LOG_FORMATS, LOG_LEVELS, type LogFormat, type LogLevel } from '../daemon/log.js';
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
  --log-level LEVEL          error, warn, info or debug (default: $ECS_LOGLEVEL or info)
  --log-format text|json     json: one JSON object per line (default: $ECS_LOG_OUTPUT_FORMAT or text)
  --metrics-address ADDR     also serve /metrics and /health over TCP on ADDR: PORT (127.0.0.1:PORT),
                             HOST:PORT or [IPV6]:PORT, a loopback address (default: $TASKNET_METRICS_ADDRESS;
                             /metrics is always on the control socket)
  --metrics-allow-remote     let --metrics-address be a non-loopback address (metrics open to the network)

The ECS agent's own settings are read where tasknet has the same knob (a flag wins):
ECS_AWSVPC_BLOCK_IMDS, ECS_CONTAINER_STOP_TIMEOUT, ECS_CLUSTER, ECS_LOGLEVEL, ECS_LOG_OUTPUT_FORMAT,
and ECS_DATADIR after $TASKNET_STATE_DIR for the state dir.`;

// The ECS agent's boolean settings take what Go's strconv.ParseBool takes.
const ecsBool = (name: string): boolean | undefined => {
  const value = process.env[name];
  if (value === undefined || value === '') return undefined;
  if (/^(1|t|true)$/i.test(value)) return true;
  if (/^(0|f|false)$/i.test(value)) return false;
  throw new CliError(`invalid ${name}=${JSON.stringify(value)}: expected true or false`, true);
};

// A Go duration (ECS_CONTAINER_STOP_TIMEOUT=45s, 1m30s, 500ms), in seconds.
const GO_UNITS: Record<string, number> = { ns: 1e-9, us: 1e-6, µs: 1e-6, ms: 1e-3, s: 1, m: 60, h: 3600 };
export const goDurationSeconds = (name: string, value: string): number => {
  if (!/^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/.test(value))
    throw new CliError(`invalid ${name}=${JSON.stringify(value)}: expected a duration such as 30s or 2m`, true);
  let seconds = 0;
  for (const m of value.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g)) seconds += Number(m[1]) * GO_UNITS[m[2]!]!;
  return seconds;
};

// The log level: --log-level, else the ECS agent's ECS_LOGLEVEL (crit, error, warn, info, debug;
// crit is error: the agent logs nothing above error), else info.
const ECS_LOG_LEVELS: Record<string, LogLevel> = {
  crit: 'error',
  error: 'error',
  warn: 'warn',
  info: 'info',
  debug: 'debug',
};
const logLevel = (flag: string | undefined): LogLevel => {
  if (flag !== undefined) {
    if (!(LOG_LEVELS as readonly string[]).includes(flag)) {
      throw new CliError(`invalid --log-level ${JSON.stringify(flag)}: expected ${LOG_LEVELS.join(', ')}`, true);
    }
    return flag as LogLevel;
  }
  const env = process.env.ECS_LOGLEVEL;
  if (env === undefined || env === '') return 'info';
  const level = ECS_LOG_LEVELS[env.trim().toLowerCase()];
  if (!level)
    throw new CliError(`invalid ECS_LOGLEVEL=${JSON.stringify(env)}: expected crit, error, warn, info or debug`, true);
  return level;
};

// The log format: --log-format, else ECS_LOG_OUTPUT_FORMAT (json, or logfmt: tasknet's text).
const logFormat = (flag: string | undefined): LogFormat => {
  if (flag !== undefined) {
    if (!(LOG_FORMATS as readonly string[]).includes(flag)) {
      throw new CliError(`invalid --log-format ${JSON.stringify(flag)}: expected text or json`, true);
    }
    return flag as LogFormat;
  }
  const env = process.env.ECS_LOG_OUTPUT_FORMAT;
  if (env === undefined || env === '') return 'text';
  if (env === 'json') return 'json';
  if (env === 'logfmt') return 'text';
  throw new CliError(`invalid ECS_LOG_OUTPUT_FORMAT=${JSON.stringify(env)}: expected logfmt or json`, true);
};

// --metrics-address: PORT, HOST:PORT or [IPV6]:PORT, HOST an IP address or localhost. Metrics
// tell anyone who reads them what runs on the host: a non-loopback address needs
// --metrics-allow-remote, said in so many words.
export const metricsAddress = (
  value: string,
  allowRemote: boolean,
  variable?: string,
): { host: string; port: number } => {
  const shown = variable ? `${variable}=${JSON.stringify(value)}` : `--metrics-address ${JSON.stringify(value)}`;
  const bad = (why: string): CliError => new CliError(`invalid ${shown}: ${why}`, true);
  const m = /^(?:(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):)?(\d{1,5})$/.exec(value);
  if (!m) throw bad('expected PORT, HOST:PORT or [IPV6]:PORT');
  const port = Number(m[3]);
  if (port > 65535) throw bad('the port must be 0-65535');
  const given = m[1] ?? m[2];
  const host = given === undefined || given === 'localhost' ? '127.0.0.1' : given;
  if (host === '') throw bad('give the address to listen on (127.0.0.1:PORT for this host only)');
  if (isIP(host) === 0) throw bad('the host must be an IP address or localhost');
  const loopback = isIP(host) === 4 ? host.startsWith('127.') : new URL(`http://[${host}]/`).hostname === '[::1]';
  if (!loopback && !allowRemote) {
    throw bad(
      `${host} is not a loopback address, so metrics would be open to the network (add --metrics-allow-remote if that is meant)`,
    );
  }
  return { host, port };
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
      'log-level': { type: 'string' },
      'log-format': { type: 'string' },
      'metrics-address': { type: 'string' },
      'metrics-allow-remote': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return 'help';
  const stateDir = resolveStateDir(values['state-dir']);
  const chainMode = (values.chain ?? process.env.TASKNET_CHAIN ?? 'in-process') as ChainMode;
  if (!CHAIN_MODES.includes(chainMode))
    throw new CliError(`invalid --chain ${JSON.stringify(chainMode)}: expected in-process or exec`, true);
  const envStop = process.env.ECS_CONTAINER_STOP_TIMEOUT;
  const stopTimeout =
    values['stop-timeout'] !== undefined
      ? Number(values['stop-timeout'])
      : envStop
        ? goDurationSeconds('ECS_CONTAINER_STOP_TIMEOUT', envStop)
        : 30;
  if (!Number.isFinite(stopTimeout) || stopTimeout < 0 || stopTimeout > 3600) {
    throw new CliError(
      values['stop-timeout'] !== undefined
        ? `invalid --stop-timeout ${values['stop-timeout']}: expected seconds (0-3600)`
        : `invalid ECS_CONTAINER_STOP_TIMEOUT=${JSON.stringify(envStop)}: expected at most 1h`,
      true,
    );
  }
  const count = (flag: 'endpoint-max-connections' | 'endpoint-max-connections-per-task', fallback: number): number => {
    const n = Number(values[flag] ?? fallback);
    if (!Number.isInteger(n) || n < 1)
      throw new CliError(`invalid --${flag} ${values[flag]}: expected a positive number`, true);
    return n;
  };
  const limits = {
    ...DEFAULT_LIMITS,
    total: count('endpoint-max-connections', DEFAULT_LIMITS.total),
    perSource: count('endpoint-max-connections-per-task', DEFAULT_LIMITS.perSource),
  };
  if (values['credentials-file'] && values['lab-credentials'])
    throw new CliError('give --credentials-file or --lab-credentials, not both', true);
  const provider: CredentialsProvider | undefined = values['credentials-file']
    ? fileProvider(values['credentials-file'])
    : values['lab-credentials']
      ? labProvider()
      : undefined;
  const engineSocket = values['engine-socket'] ?? (process.env.TASKNET_ENGINE_SOCKET || undefined);
  const defaultRuntime = (values.runtime ?? (engineSocket ? 'engine' : 'process')) as RuntimeKind;
  if (!RUNTIME_KINDS.includes(defaultRuntime))
    throw new CliError(`invalid --runtime ${JSON.stringify(values.runtime)}: expected engine or process`, true);
  if (defaultRuntime === 'engine' && !engineSocket)
    throw new CliError('--runtime engine needs --engine-socket PATH (or $TASKNET_ENGINE_SOCKET)', true);
  const region = values.region ?? process.env.AWS_REGION ?? 'us-east-1';
  const log = { level: logLevel(values['log-level']), format: logFormat(values['log-format']) };
  const envMetrics = process.env.TASKNET_METRICS_ADDRESS || undefined;
  const allowRemote = values['metrics-allow-remote'] ?? false;
  const metrics =
    values['metrics-address'] !== undefined
      ? metricsAddress(values['metrics-address'], allowRemote)
      : envMetrics !== undefined
        ? metricsAddress(envMetrics, allowRemote, 'TASKNET_METRICS_ADDRESS')
        : undefined;
  if (allowRemote && !metrics) throw new CliError('--metrics-allow-remote needs --metrics-address', true);
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
    identity: {
      cluster: values.cluster ?? (process.env.ECS_CLUSTER || 'tasknet'),
      region,
      availabilityZone: `${region}a`,
    },
    log,
    ...(metrics ? { metricsAddress: metrics } : {}),
  };
};
