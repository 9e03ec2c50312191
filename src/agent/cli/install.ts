// `tasknet install` and `tasknet uninstall`: put our plugins into a CNI runtime's bin dir (and
// conflists into its conf dir), and take exactly those out again.
import { DEFAULT_AGENT_ENV, DEFAULT_SYSTEMD_DIR, UNIT_NAME } from '../install/agent-service.js';
import { resolveConflist } from '../install/conflist.js';
import { install, uninstall, type Step } from '../install/install.js';
import { findPackageRoot } from '../install/launcher.js';
import { manifestPath } from '../install/manifest.js';
import { describeOptions, parseOptions } from './common.js';
import { CliError } from './errors.js';

export const DEFAULT_CNI_BIN_DIR = '/opt/cni/bin';
export const DEFAULT_CNI_CONF_DIR = '/etc/cni/net.d';

const INSTALL_HELP = `usage: tasknet install [--cni-bin-dir DIR] [--cni-conf-dir DIR] [--conflist NAME|FILE]... [--force]
                       [--agent [--systemd-dir DIR] [--agent-env FILE]]

Writes launchers for ecs-eni, ecs-bridge and ecs-ipam into the CNI bin dir. Each runs this
installation's bundle (dist/) with this node (${process.execPath}), so a CNI runtime finds
them whatever its PATH. Run it again after moving or upgrading tasknet or node.

Options:
  --cni-bin-dir DIR    where CNI runtimes look for plugins (default: ${DEFAULT_CNI_BIN_DIR})
  --cni-conf-dir DIR   where they look for network configs (default: ${DEFAULT_CNI_CONF_DIR})
  --conflist NAME|FILE also install a conflist: NAME is one of examples/cni/NAME.conflist
                       (e.g. tasknet-pod), FILE any path; checked before it is written (repeatable)
  --force              replace files that are not tasknet's (refused otherwise, naming the file)
  --agent              also run the agent as a service: a tasknet launcher in the CNI bin dir, the
                       systemd unit ${UNIT_NAME} (ExecStart: that launcher, agent) and the
                       environment file it reads, every setting commented out. An environment file
                       that exists and differs from what install writes is kept as it is (also
                       with --force). Nothing is started: systemctl daemon-reload, then
                       systemctl enable --now ${UNIT_NAME}
  --systemd-dir DIR    where the unit goes (default: ${DEFAULT_SYSTEMD_DIR})
  --agent-env FILE     the environment file (default: ${DEFAULT_AGENT_ENV})

What was written is recorded in DIR/.tasknet-install.json for \`tasknet uninstall\`.`;

const UNINSTALL_HELP = `usage: tasknet uninstall [--cni-bin-dir DIR] [--force]

Removes what \`tasknet install\` recorded in DIR/.tasknet-install.json: the launchers, any
conflists, the agent's unit and environment file, each only while it is still what install
wrote; nothing else. A changed environment file is kept, as a package manager keeps a changed
conffile (exit 0); any other changed file is kept and the exit is 1. Stop and disable the agent's
unit first (systemctl disable --now ${UNIT_NAME}).

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
      agent: { type: 'boolean', default: false },
      'systemd-dir': { type: 'string' },
      'agent-env': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(`${INSTALL_HELP}\n`);
    return 0;
  }
  if (!values.agent && (values['systemd-dir'] !== undefined || values['agent-env'] !== undefined)) {
    throw new CliError('--systemd-dir and --agent-env go with --agent', true);
  }
  const root = findPackageRoot();
  if (!root) throw new CliError(`cannot find the tasknet package above ${process.argv[1] ?? 'this script'}`);
  const conflists = [];
  for (const arg of values.conflist) conflists.push(await resolveConflist(arg, root));
  print(
    await install({
      binDir: values['cni-bin-dir'],
      confDir: values['cni-conf-dir'],
      conflists,
      force: values.force,
      root,
      nodePath: process.execPath,
      ...(values.agent
        ? {
            agent: {
              systemdDir: values['systemd-dir'] ?? DEFAULT_SYSTEMD_DIR,
              envFile: values['agent-env'] ?? DEFAULT_AGENT_ENV,
              // The agent's own option table: the environment file lists every flag it has.
              agentOptions: await describeOptions((await import('./agent.js')).agentCommand),
            },
          }
        : {}),
    }),
  );
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
  // Something recorded had to stay: say so in the exit code, as the files are still there (a
  // changed environment file stays on purpose).
  return steps.some((s) => s.action === 'kept' && !s.conffile) ? 1 : 0;
};
