import { buildInfo } from '../../cni/build-info.js';
import { CURRENT_VERSION, SUPPORTED_VERSIONS } from '../../cni/version.js';
import { CliError } from './errors.js';

const USAGE = `usage: tasknet <command> [options]

Commands:
  cni add|del|check|status|gc CONFLIST NETNS   run a CNI network list, like cnitool
  --version                                    print the build version

Run 'tasknet <command> --help' for a command's options.`;

type Command = (argv: string[]) => Promise<number>;

// Each command's code loads only when it is asked for.
const COMMANDS: Record<string, () => Promise<Command>> = {
  cni: async () => (await import('./cni.js')).cniCommand,
};

// The CLI's contract: one clear line on stderr and a non-zero exit for any failure, never a stack.
export const runCli = async (argv: string[]): Promise<number> => {
  const [name, ...rest] = argv;
  // The ECS agent probes every binary in its plugin dir; tasknet answers like its plugins do.
  if (process.env.CNI_COMMAND === 'VERSION') {
    process.stdout.write(`${JSON.stringify({ cniVersion: CURRENT_VERSION, supportedVersions: SUPPORTED_VERSIONS })}\n`);
    return 0;
  }
  if (name === '--capabilities') {
    process.stdout.write(`${JSON.stringify({ capabilities: ['awsvpc-network-mode'] })}\n`);
    return 0;
  }
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return name === undefined ? 2 : 0;
  }
  if (name === '--version') {
    process.stdout.write(`${JSON.stringify(buildInfo())}\n`);
    return 0;
  }
  const load = COMMANDS[name];
  if (!load) {
    process.stderr.write(`tasknet: unknown command "${name}"\n${USAGE}\n`);
    return 2;
  }
  try {
    return await (await load())(rest);
  } catch (error) {
    const usage = error instanceof CliError && error.usage;
    process.stderr.write(`tasknet ${name}: ${(error as Error).message}\n`);
    return usage ? 2 : 1;
  }
};
