import { createHash } from 'node:crypto';
import { dirname, resolve } from 'node:path';
import { parseCniArgs } from '../../cni/args.js';
import { CniError } from '../../cni/errors.js';
import { formatResult } from '../../cni/result.js';
import { CniRuntime, loadConflist } from '../../cni/runtime.js';
import { parseOptions } from './common.js';
import { CliError } from './errors.js';

const HELP = `usage: tasknet cni add|del|check|status|gc CONFLIST [NETNS] [options]

Runs a CNI network configuration list against one attachment, as cnitool does.
NETNS is a netns path (/proc/PID/ns/net, /var/run/netns/x) or a name under /var/run/netns.

Options:
  --ifname NAME          interface name in the netns (default: eth0, or $CNI_IFNAME)
  --container-id ID      default: tasknet- + a hash of the netns path
  --cache-dir DIR        result cache (default: /var/lib/tasknet/cni)
  --valid ID/IFNAME      for gc: an attachment to keep (repeatable); none given: keep none
Environment: CNI_PATH (default: this package's bin/ then /opt/cni/bin), CNI_ARGS (K=V;...),
CAP_ARGS (JSON object of capability arguments).`;

export const CNI_VERBS = ['add', 'del', 'check', 'status', 'gc'] as const;

// Where our own plugins live when run from this package: next to the tasknet launcher.
const ownBinDir = (): string => dirname(process.argv[1] ?? '');

export const cniCommand = async (argv: string[]): Promise<number> => {
  const { values, positionals } = parseOptions({
    args: argv,
    allowPositionals: true,
    options: {
      ifname: { type: 'string' },
      'container-id': { type: 'string' },
      'cache-dir': { type: 'string', default: '/var/lib/tasknet/cni' },
      valid: { type: 'string', multiple: true },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(`${HELP}\n`);
    return 0;
  }
  const [verb, conflistPath, netnsArg] = positionals;
  if (!verb || !(CNI_VERBS as readonly string[]).includes(verb) || !conflistPath)
    throw new CliError(`expected a verb and a conflist (tasknet cni --help shows the usage)`, true);
  const needsNetns = verb === 'add' || verb === 'check';
  if (needsNetns && !netnsArg) throw new CliError(`${verb} needs a NETNS`, true);
  const netns = !netnsArg ? '' : netnsArg.includes('/') ? resolve(netnsArg) : `/var/run/netns/${netnsArg}`;
  const cniPath = (process.env.CNI_PATH ?? `${ownBinDir()}:/opt/cni/bin`).split(':').filter(Boolean);
  let capabilityArgs: Record<string, unknown> = {};
  if (process.env.CAP_ARGS) {
    try {
      capabilityArgs = JSON.parse(process.env.CAP_ARGS) as Record<string, unknown>;
    } catch {
      throw new CliError('CAP_ARGS is not a JSON object', true);
    }
  }
  const runtime = new CniRuntime({ cniPath, cacheDir: values['cache-dir'] });
  try {
    const list = await loadConflist(conflistPath);
    const rt = {
      containerId: values['container-id'] ?? `tasknet-${createHash('sha512').update(netns).digest('hex').slice(0, 20)}`,
      netns,
      ifname: values.ifname ?? process.env.CNI_IFNAME ?? 'eth0',
      args: [...parseCniArgs(process.env.CNI_ARGS, [], true)],
      capabilityArgs,
    };
    switch (verb) {
      case 'add':
        process.stdout.write(
          `${JSON.stringify(formatResult(await runtime.add(list, rt), list.cniVersion), null, 2)}\n`,
        );
        break;
      case 'del':
        await runtime.del(list, rt);
        break;
      case 'check':
        await runtime.check(list, rt);
        break;
      case 'status':
        await runtime.status(list);
        break;
      case 'gc':
        await runtime.gc(
          list,
          (values.valid ?? []).map((v) => {
            const [containerId, ifname] = v.split('/');
            if (!containerId || !ifname)
              throw new CliError(`--valid ${JSON.stringify(v)}: expected CONTAINER-ID/IFNAME`, true);
            return { containerId, ifname };
          }),
        );
        break;
    }
  } catch (error) {
    if (error instanceof CniError)
      throw new CliError(`${error.message}${error.details ? ` (${error.details})` : ''} [CNI code ${error.code}]`);
    throw error;
  }
  return 0;
};
