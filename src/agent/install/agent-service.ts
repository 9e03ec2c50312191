// What `tasknet install --agent` writes besides the plugins: a launcher for tasknet itself, a
// systemd unit that runs `tasknet agent` through it, and the environment file the unit reads.
import type { Options } from '../cli/common.js';
import { CliError } from '../cli/errors.js';

export const DEFAULT_SYSTEMD_DIR = '/etc/systemd/system';
export const DEFAULT_AGENT_ENV = '/etc/tasknet/agent.env';
export const UNIT_NAME = 'tasknet-agent.service';

// The variable the unit splits into extra `tasknet agent` flags ($VAR in ExecStart: one word per
// whitespace-separated part), for the options that have no variable of their own.
export const AGENT_ARGS_VAR = 'TASKNET_AGENT_ARGS';

// Every variable `tasknet agent` reads (cli/agent.ts, state/layout.ts), with the flag it stands for
// and a value to show. A test holds this list to the variables the source reads.
export const AGENT_VARIABLES: readonly { name: string; flag: string; what: string; example: string }[] = [
  {
    name: 'TASKNET_STATE_DIR',
    flag: '--state-dir',
    what: 'state, logs and the control socket',
    example: '/var/lib/tasknet',
  },
  {
    name: 'ECS_DATADIR',
    flag: '--state-dir',
    what: "the ECS agent's data dir, the state dir when TASKNET_STATE_DIR is unset",
    example: '/var/lib/ecs/data',
  },
  {
    name: 'TASKNET_CHAIN',
    flag: '--chain',
    what: 'how the CNI plugins run: in-process or exec',
    example: 'in-process',
  },
  {
    name: 'TASKNET_ENGINE_SOCKET',
    flag: '--engine-socket',
    what: "the Docker Engine API socket (Docker, or Podman's service); unset: the process runtime only",
    example: '/run/docker.sock',
  },
  {
    name: 'ECS_AWSVPC_BLOCK_IMDS',
    flag: '--block-instance-metadata',
    what: 'tasks cannot reach 169.254.169.254 (true or false)',
    example: 'false',
  },
  {
    name: 'ECS_CONTAINER_STOP_TIMEOUT',
    flag: '--stop-timeout',
    what: 'SIGTERM -> SIGKILL grace for containers without stopTimeout (a duration: 45s, 2m)',
    example: '30s',
  },
  { name: 'ECS_CLUSTER', flag: '--cluster', what: 'the cluster name in ARNs and metadata', example: 'tasknet' },
  { name: 'AWS_REGION', flag: '--region', what: 'the region in ARNs and metadata', example: 'us-east-1' },
  {
    name: 'ECS_LOGLEVEL',
    flag: '--log-level',
    what: "the agent's log level: crit, error, warn, info or debug",
    example: 'info',
  },
  {
    name: 'ECS_LOG_OUTPUT_FORMAT',
    flag: '--log-format',
    what: 'logfmt (text) or json (one JSON object per line)',
    example: 'logfmt',
  },
  {
    name: 'TASKNET_METRICS_ADDRESS',
    flag: '--metrics-address',
    what: '/metrics and /health over TCP too, on a loopback PORT or HOST:PORT',
    example: '127.0.0.1:9464',
  },
];

// /etc/tasknet/agent.env: every setting, commented out (the defaults apply until one is set).
// agentOptions is `tasknet agent`'s own option table, so a new flag is listed without an edit here.
export const agentEnvFile = (agentOptions: Options, envPath: string, unitPath: string): string => {
  const covered = new Set(AGENT_VARIABLES.map((v) => v.flag));
  const flags = Object.entries(agentOptions)
    .filter(([name]) => name !== 'help' && !covered.has(`--${name}`))
    .map(([name, o]) => `--${name}${o.type === 'string' ? ' VALUE' : ''}`);
  // Wrapped at 100 columns, as comment lines.
  const wrapped: string[] = [];
  for (const flag of flags) {
    const last = wrapped.at(-1);
    if (last !== undefined && last.length + flag.length + 2 <= 100) wrapped[wrapped.length - 1] = `${last}  ${flag}`;
    else wrapped.push(`#   ${flag}`);
  }
  return `# ${envPath}: the tasknet agent's settings, read by ${unitPath}
# (EnvironmentFile=) at every start: \`systemctl restart ${UNIT_NAME}\` applies a change
# (tasks keep running across the restart; the new agent adopts them).
# Written by \`tasknet install --agent\`. Once you change it, it is yours: a later install does not
# replace it and \`tasknet uninstall\` leaves it in place (as a package manager keeps a changed
# conffile). systemd's syntax: VAR=value, one per line; a line starting with # is a comment.
# Nothing is set here: each commented line shows a variable and an example value.
${AGENT_VARIABLES.map((v) => `\n# ${v.what} (${v.flag})\n#${v.name}=${v.example}`).join('\n')}

# Flags of \`tasknet agent\` that have no variable (\`tasknet agent --help\` describes them):
${wrapped.join('\n')}
# given here as they would be on the command line (split at spaces; a flag wins over a variable):
#${AGENT_ARGS_VAR}=--runtime engine --credentials-file /etc/tasknet/credentials.json
`;
};

// The unit. KillMode=process: stopping or restarting the agent signals the agent alone, never the
// tasks; the agent leaves them running on SIGTERM and the next one adopts them (docs/agent.md,
// "State and crashes"). With the default (control-group) systemd would kill every process-runtime
// task with the agent: they are the agent's children, in its cgroup. containerd.service does the
// same for its shims.
export const agentUnit = (o: {
  launcher: string;
  envFile: string;
  from: string;
}): string => `# ${UNIT_NAME}: the tasknet agent. Written by \`tasknet install --agent\` from ${o.from.replaceAll('\n', ' ')};
# \`tasknet uninstall\` removes it. Settings: ${o.envFile}.
[Unit]
Description=tasknet agent (ECS awsvpc task networking: tasks, CNI chain, 169.254.170.2 endpoint)
After=network.target docker.service

[Service]
Type=simple
EnvironmentFile=-${systemdPath(o.envFile)}
ExecStart=${systemdPath(o.launcher)} agent $${AGENT_ARGS_VAR}
Restart=on-failure
RestartSec=5
# Exit 2 is a mistake in the settings (a bad flag or variable): restarting cannot mend it.
RestartPreventExitStatus=2
# Stop the agent only: its tasks keep running and the next agent adopts them.
KillMode=process
# Up to 1024 endpoint connections by default (--endpoint-max-connections), plus tasks and engine.
LimitNOFILE=65536

[Install]
WantedBy=multi-user.target
`;

// A path in a unit file: % is systemd's specifier character; whitespace, quotes and backslashes
// would need quoting that EnvironmentFile= does not take, and ExecStart= expands $, so such paths
// are refused.
const systemdPath = (path: string): string => {
  if (/[\s"'\\$]/.test(path))
    throw new CliError(`${path}: a path with spaces, quotes, backslashes or "$" cannot go into a systemd unit`, true);
  return path.replaceAll('%', '%%');
};
