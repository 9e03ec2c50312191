import { buildInfoText, capabilitiesText, versionText } from '../../cni/answers.js';
import { nearest } from '../../cni/nearest.js';
import { CURRENT_VERSION, SUPPORTED_VERSIONS } from '../../cni/version.js';
import { CliError } from './errors.js';

const USAGE = `usage: tasknet <command> [options]

Commands:
  agent [--state-dir DIR]                    run the agent (tasks, CNI chain, credentials endpoint)
  run TASKDEF.json --eni MAC,ip=CIDR,gw=IP|auto [--json] [--runtime engine|process]
                                             start a task from an ECS task definition
  status [--json]                            the running agent: pid, uptime, version, runtime, tasks
  ls [--all] [--json | -q]                   list tasks
  stop TASK...                               stop tasks (SIGTERM, then SIGKILL after the timeout)
  logs TASK [CONTAINER] [-f] [--tail N]      print container output
  image load FILE.tar | build DIR -t NAME | ls   images on the agent's engine
  exec TASK [--container NAME] -- CMD...     run a command inside a task's container
  lab up [--enis N] [--runtime engine|process] [--json] | lab down
                                             a self-contained lab in namespaces of its own
  cni add|del|check|status|gc CONFLIST NETNS run a CNI network list, like cnitool
  install [--cni-bin-dir DIR] [--cni-conf-dir DIR] [--conflist NAME|FILE]... [--agent] [--force]
                                             put ecs-eni, ecs-bridge, ecs-ipam into a CNI bin dir
                                             (--agent: also a systemd unit and /etc/tasknet/agent.env)
  uninstall [--cni-bin-dir DIR] [--force]    remove exactly what install put there
  completion bash|zsh                        a shell completion script (source <(tasknet completion bash))
  help [COMMAND]                             this text, or a command's options
  --version                                  print the build version

Task and lab commands take --state-dir DIR (default: $TASKNET_STATE_DIR or /var/lib/tasknet).
Run 'tasknet <command> --help' for a command's options.`;

export type Command = (argv: string[]) => Promise<number>;

// Each command's code loads only when it is asked for. `tasknet completion` reads this table.
export const COMMANDS: Record<string, () => Promise<Command>> = {
  agent: async () => (await import('./agent.js')).agentCommand,
  status: async () => (await import('./status.js')).statusCommand,
  run: async () => (await import('./tasks.js')).runCommand,
  ls: async () => (await import('./tasks.js')).lsCommand,
  stop: async () => (await import('./tasks.js')).stopCommand,
  logs: async () => (await import('./tasks.js')).logsCommand,
  exec: async () => (await import('./tasks.js')).execCommand,
  lab: async () => (await import('./lab.js')).labCommand,
  image: async () => (await import('./image.js')).imageCommand,
  cni: async () => (await import('./cni.js')).cniCommand,
  install: async () => (await import('./install.js')).installCommand,
  uninstall: async () => (await import('./install.js')).uninstallCommand,
  completion: async () => (await import('./completion.js')).completionCommand,
};

// The CLI's contract: one clear line on stderr and a non-zero exit for any failure, never a stack.
const unknownCommand = (name: string): number => {
  const near = nearest(name, [...Object.keys(COMMANDS), 'help']);
  process.stderr.write(
    `tasknet: unknown command "${name}"${near ? ` (did you mean ${near}?)` : ''}; tasknet --help lists the commands\n`,
  );
  return 2;
};

export const runCli = async (argv: string[]): Promise<number> => {
  const [name, ...rest] = argv;
  // The ECS agent probes every binary in its plugin dir; tasknet answers like its plugins do (the
  // same texts; src/cni/front.ts usually answers these before this bundle loads).
  if (process.env.CNI_COMMAND === 'VERSION') {
    process.stdout.write(versionText(CURRENT_VERSION, SUPPORTED_VERSIONS));
    return 0;
  }
  if (name === '--capabilities') {
    process.stdout.write(capabilitiesText());
    return 0;
  }
  if (name === 'help' && rest[0] !== undefined) {
    if (COMMANDS[rest[0]]) return runCli([rest[0], '--help']);
    return unknownCommand(rest[0]);
  }
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return name === undefined ? 2 : 0;
  }
  if (name === '--version') {
    process.stdout.write(buildInfoText());
    return 0;
  }
  const load = COMMANDS[name];
  if (!load) return unknownCommand(name);
  try {
    return await (await load())(rest);
  } catch (error) {
    // A usage mistake (exit 2) is a CliError's, or a lab's (LabError) that says so.
    const usage =
      (error instanceof CliError || (error as Error)?.name === 'LabError') &&
      (error as { usage?: boolean }).usage === true;
    const message =
      error instanceof CliError || (error as Error)?.name === 'LabError' ? (error as Error).message : oneLine(error);
    process.stderr.write(`tasknet ${name}: ${message}\n`);
    return usage ? 2 : 1;
  }
};

// An unexpected error still gets one line: its message, never its stack.
const oneLine = (error: unknown): string =>
  (error instanceof Error ? error.message : String(error)).split('\n')[0] ?? 'failed';
