import { resolve } from 'node:path';
import { defaultLabRuntime, labDown, labUp, DEFAULT_LAB_PREFIX, MAX_ENIS, validateLabPrefix } from '../lab/lab.js';
import { RUNTIME_KINDS, type RuntimeKind } from '../runtime/runtime.js';
import { CHAIN_MODES, type ChainMode } from '../task/network.js';
import { parseCommand, printFields, printJson } from './common.js';
import { CliError } from './errors.js';

const HELP = `usage: tasknet lab up [--enis N] [--json] [--lab NAME] [--state-dir DIR] [--runtime engine|process]
                     [--engine-socket PATH] [--chain MODE] [--block-instance-metadata]
       tasknet lab down [--lab NAME] [--state-dir DIR]

A self-contained lab on this machine, in namespaces of its own (the machine's network is never
touched):
  NAME-lab   the "host": ecs-bridge, the endpoint 169.254.170.2, the agent, and N fake ENIs
  NAME-vpc   the "VPC": the subnet gateway 10.0.0.1/24, the other end of every ENI
ENI i has MAC 0e:74:6e:00:00:<i> and address 10.0.0.<10+i>/24; 'tasknet run --eni auto' picks a
free one. The agent runs inside NAME-lab with lab credentials (fake, short-lived).
With the engine runtime the lab starts a private dockerd inside NAME-lab (data and exec root
under the state dir, its socket at STATE_DIR/engine/docker.sock) and makes the images tasknet/pause:1,
tasknet/busybox:1 and tasknet/node:20 from host files, offline.
'lab down' stops the tasks, the agent, the lab's engine, and removes both namespaces and the
lab's state.

Options:
  --enis N        ENIs to make (default 4, at most ${MAX_ENIS})
  --lab NAME      lab name (default: $TASKNET_LAB or ${DEFAULT_LAB_PREFIX}), so several labs can coexist
  --state-dir DIR the lab agent's state dir (default: $TASKNET_STATE_DIR or /var/lib/tasknet)
  --runtime KIND  engine (default where dockerd is installed) or process (host commands, no images)
  --engine-socket PATH   use this engine (Docker or Podman's service) instead of starting one
  --chain MODE    the agent's CNI chain mode: in-process (default) or exec
  --block-instance-metadata   pass on to the agent`;

export const labCommand = async (argv: string[]): Promise<number> => {
  const cmd = parseCommand(argv, {
    enis: { type: 'string' },
    json: { type: 'boolean' },
    lab: { type: 'string' },
    chain: { type: 'string' },
    runtime: { type: 'string' },
    'engine-socket': { type: 'string' },
    'block-instance-metadata': { type: 'boolean' },
  });
  const [verb, ...extra] = cmd.positionals;
  if (cmd.help) {
    process.stdout.write(`${HELP}\n`);
    return 0;
  }
  if ((verb !== 'up' && verb !== 'down') || extra.length > 0)
    throw new CliError(`expected up or down (tasknet lab --help shows the usage)`, true);
  const given = (cmd.values.lab as string | undefined) ?? (process.env.TASKNET_LAB || undefined);
  const prefix = validateLabPrefix(given ?? DEFAULT_LAB_PREFIX);
  if (verb === 'down') {
    const report = await labDown({ stateDir: cmd.stateDir, ...(given ? { prefix } : {}) });
    if (cmd.values.json) printJson(report);
    else {
      process.stdout.write(
        `lab ${report.prefix} down: ${report.stoppedTasks} task(s) stopped, ${report.stoppedEngine ? 'its engine stopped, ' : ''}` +
          `netns removed: ${report.removedNetns.join(', ') || 'none'}${report.removedStateDir ? `, state ${cmd.stateDir} removed` : ''}\n`,
      );
    }
    return 0;
  }
  const enis = Number(cmd.values.enis ?? 4);
  if (!Number.isInteger(enis) || enis < 1 || enis > MAX_ENIS)
    throw new CliError(`invalid --enis ${cmd.values.enis}: expected 1-${MAX_ENIS}`, true);
  const chain = cmd.values.chain as ChainMode | undefined;
  if (chain !== undefined && !CHAIN_MODES.includes(chain))
    throw new CliError(`invalid --chain ${JSON.stringify(chain)}: expected in-process or exec`, true);
  const runtime = (cmd.values.runtime ?? (cmd.values['engine-socket'] ? 'engine' : defaultLabRuntime())) as RuntimeKind;
  if (!RUNTIME_KINDS.includes(runtime))
    throw new CliError(`invalid --runtime ${JSON.stringify(runtime)}: expected engine or process`, true);
  if (runtime === 'process' && cmd.values['engine-socket'])
    throw new CliError('--engine-socket needs --runtime engine', true);
  const lab = await labUp({
    runtime,
    ...(cmd.values['engine-socket'] ? { engineSocket: resolve(cmd.values['engine-socket'] as string) } : {}),
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
    [
      'runtime',
      lab.runtime === 'engine'
        ? `engine (${lab.engine?.dir ? 'private dockerd, ' : ''}socket ${lab.engine?.socket})`
        : 'process (host commands: no images, no filesystem isolation)',
    ],
    ...lab.enis.map((e, i): [string, string] => [`eni${i}`, `${e.mac} ${e.addresses.join(' ')}`]),
  ]);
  process.stdout.write(
    `\nnext: tasknet run TASKDEF.json --eni auto${cmd.values['state-dir'] ? ` --state-dir ${cmd.stateDir}` : ''}\n`,
  );
  return 0;
};
