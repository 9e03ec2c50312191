import { labDown, labUp, DEFAULT_LAB_PREFIX, MAX_ENIS, validateLabPrefix } from '../lab/lab.js';
import { CHAIN_MODES, type ChainMode } from '../task-network.js';
import { parseCommand, printFields, printJson } from './common.js';
import { CliError } from './errors.js';

const HELP = `usage: tasknet lab up [--enis N] [--json] [--lab NAME] [--state-dir DIR] [--chain MODE] [--block-instance-metadata]
       tasknet lab down [--lab NAME] [--state-dir DIR]

A self-contained lab on this machine, in namespaces of its own (the machine's network is never
touched):
  NAME-lab   the "host": ecs-bridge, the endpoint 169.254.170.2, the agent, and N fake ENIs
  NAME-vpc   the "VPC": the subnet gateway 10.0.0.1/24, the other end of every ENI
ENI i has MAC 0e:74:6e:00:00:<i> and address 10.0.0.<10+i>/24; 'tasknet run --eni auto' picks a
free one. The agent runs inside NAME-lab with lab credentials (fake, short-lived).
'lab down' stops the tasks, the agent, and removes both namespaces and the lab's state.

Options:
  --enis N        ENIs to make (default 4, at most ${MAX_ENIS})
  --lab NAME      lab name (default: $TASKNET_LAB or ${DEFAULT_LAB_PREFIX}), so several labs can coexist
  --state-dir DIR the lab agent's state dir (default: $TASKNET_STATE_DIR or /var/lib/tasknet)
  --chain MODE    the agent's CNI chain mode: in-process (default) or exec
  --block-instance-metadata   pass on to the agent`;

export const labCommand = async (argv: string[]): Promise<number> => {
  const cmd = parseCommand(argv, {
    enis: { type: 'string' },
    json: { type: 'boolean' },
    lab: { type: 'string' },
    chain: { type: 'string' },
    'block-instance-metadata': { type: 'boolean' },
  }, HELP);
  const [verb, ...extra] = cmd.positionals;
  if (cmd.help) {
    process.stdout.write(`${HELP}\n`);
    return 0;
  }
  if ((verb !== 'up' && verb !== 'down') || extra.length > 0) throw new CliError(`expected up or down\n${HELP}`, true);
  const given = (cmd.values.lab as string | undefined) ?? (process.env.TASKNET_LAB || undefined);
  const prefix = validateLabPrefix(given ?? DEFAULT_LAB_PREFIX);
  if (verb === 'down') {
    const report = await labDown({ stateDir: cmd.stateDir, ...(given ? { prefix } : {}) });
    if (cmd.values.json) printJson(report);
    else {
      process.stdout.write(`lab ${report.prefix} down: ${report.stoppedTasks} task(s) stopped, ` +
        `netns removed: ${report.removedNetns.join(', ') || 'none'}${report.removedStateDir ? `, state ${cmd.stateDir} removed` : ''}\n`);
    }
    return 0;
  }
  const enis = Number(cmd.values.enis ?? 4);
  if (!Number.isInteger(enis) || enis < 1 || enis > MAX_ENIS) throw new CliError(`invalid --enis ${cmd.values.enis}: expected 1-${MAX_ENIS}`, true);
  const chain = cmd.values.chain as ChainMode | undefined;
  if (chain !== undefined && !CHAIN_MODES.includes(chain)) throw new CliError(`invalid --chain ${JSON.stringify(chain)}: expected in-process or exec`, true);
  const lab = await labUp({
    stateDir: cmd.stateDir,
    prefix,
    enis,
    launcher: process.argv[1] ?? '',
    agentArgs: cmd.values['block-instance-metadata'] ? ['--block-instance-metadata'] : [],
    ...(chain ? { chain } : {}),
  });
  if (cmd.values.json) {
    printJson({ ...lab, stateDir: cmd.stateDir });
    return 0;
  }
  printFields([
    ['lab', lab.prefix],
    ['host netns', `${lab.hostNs} (agent pid ${lab.agentPid}, ecs-bridge, endpoint 169.254.170.2)`],
    ['vpc netns', `${lab.vpcNs} (gateway ${lab.gateway}, subnet ${lab.subnet})`],
    ['state dir', cmd.stateDir],
    ...lab.enis.map((e, i): [string, string] => [`eni${i}`, `${e.mac} ${e.addresses.join(' ')}`]),
  ]);
  process.stdout.write(`\nnext: tasknet run TASKDEF.json --eni auto${cmd.values['state-dir'] ? ` --state-dir ${cmd.stateDir}` : ''}\n`);
  return 0;
};
