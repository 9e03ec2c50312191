// `tasknet install` and `tasknet uninstall`: put our plugins into a CNI runtime's bin dir (and
// conflists into its conf dir), and take exactly those out again.
import { resolveConflist } from '../install/conflist.js';
import { install, uninstall, type Step } from '../install/install.js';
import { findPackageRoot } from '../install/launcher.js';
import { manifestPath } from '../install/manifest.js';
import { parseOptions } from './common.js';
import { CliError } from './errors.js';

export const DEFAULT_CNI_BIN_DIR = '/opt/cni/bin';
export const DEFAULT_CNI_CONF_DIR = '/etc/cni/net.d';

const INSTALL_HELP = `usage: tasknet install [--cni-bin-dir DIR] [--cni-conf-dir DIR] [--conflist NAME|FILE]... [--force]

Writes launchers for ecs-eni, ecs-bridge and ecs-ipam into the CNI bin dir. Each runs this
installation's bundle (dist/) with this node (${process.execPath}), so a CNI runtime finds
them whatever its PATH. Run it again after moving or upgrading tasknet or node.

Options:
  --cni-bin-dir DIR    where CNI runtimes look for plugins (default: ${DEFAULT_CNI_BIN_DIR})
  --cni-conf-dir DIR   where they look for network configs (default: ${DEFAULT_CNI_CONF_DIR})
  --conflist NAME|FILE also install a conflist: NAME is one of examples/cni/NAME.conflist
                       (e.g. tasknet-pod), FILE any path; checked before it is written (repeatable)
  --force              replace files that are not tasknet's (refused otherwise, naming the file)

What was written is recorded in DIR/.tasknet-install.json for \`tasknet uninstall\`.`;

const UNINSTALL_HELP = `usage: tasknet uninstall [--cni-bin-dir DIR] [--force]

Removes what \`tasknet install\` recorded in DIR/.tasknet-install.json: the launchers and any
conflists, each only while it is still what install wrote; nothing else.

Options:
  --cni-bin-dir DIR    the bin dir given to install (default: ${DEFAULT_CNI_BIN_DIR})
  --force              also remove recorded files that were changed since`;

const print = (steps: readonly Step[]): void => {
  for (const step of steps) process.stdout.write(`${step.action} ${step.path}${step.note ? ` (${step.note})` : ''}\n`);
};

export const installCommand = async (argv: string[]): Promise<number> => {
  const { values } = parseOptions({
    args: argv,
    options: {
      'cni-bin-dir': { type: 'string', default: DEFAULT_CNI_BIN_DIR },
      'cni-conf-dir': { type: 'string', default: DEFAULT_CNI_CONF_DIR },
      conflist: { type: 'string', multiple: true, default: [] },
      force: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(`${INSTALL_HELP}\n`);
    return 0;
  }
  const root = findPackageRoot();
  if (!root) throw new CliError(`cannot find the tasknet package above ${process.argv[1] ?? 'this script'}`);
  const conflists = [];
  for (const arg of values.conflist) conflists.push(await resolveConflist(arg, root));
  print(await install({
    binDir: values['cni-bin-dir'],
    confDir: values['cni-conf-dir'],
    conflists,
    force: values.force,
    root,
    nodePath: process.execPath,
  }));
  return 0;
};

export const uninstallCommand = async (argv: string[]): Promise<number> => {
  const { values } = parseOptions({
    args: argv,
    options: {
      'cni-bin-dir': { type: 'string', default: DEFAULT_CNI_BIN_DIR },
      force: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(`${UNINSTALL_HELP}\n`);
    return 0;
  }
  const binDir = values['cni-bin-dir'];
  const steps = await uninstall({ binDir, force: values.force });
  if (steps.length === 0) process.stdout.write(`nothing to remove: ${manifestPath(binDir)} does not exist\n`);
  print(steps);
  // Something recorded had to stay: say so in the exit code, as the files are still there.
  return steps.some((s) => s.action === 'kept') ? 1 : 0;
};
