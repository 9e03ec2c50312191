// Stands in for `tasknet install|uninstall` until the CLI's command table lists them: the same
// commands, the same contract (one line on stderr, exit 2 for a usage mistake, 1 otherwise).
import { CliError } from '../../src/agent/cli/errors.js';
import { installCommand, uninstallCommand } from '../../src/agent/cli/install.js';

const [name, ...rest] = process.argv.slice(2);
const command = name === 'install' ? installCommand : name === 'uninstall' ? uninstallCommand : undefined;
if (!command) {
  process.stderr.write('usage: entry.ts install|uninstall [options]\n');
  process.exitCode = 2;
} else {
  command(rest).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      process.stderr.write(`tasknet ${name}: ${(error as Error).message}\n`);
      process.exitCode = error instanceof CliError && error.usage ? 2 : 1;
    },
  );
}
