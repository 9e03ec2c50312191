// A task's CNI chain, as the ECS agent builds it for an awsvpc task:
// ecs-eni on eth0, then ecs-bridge + ecs-ipam on ecs-eth0. Two network lists, not one, because
// each plugin needs its own CNI_IFNAME (upstream agent#1151). Both go through tasknet's conflist
// runtime, which caches results under the state dir so a restarted agent can still DEL.
import { basename, dirname, join } from 'node:path';
import { findPlugin } from '../../cni/delegate.js';
import { CniError, ErrorCode, toCniError } from '../../cni/errors.js';
import { execPlugin } from '../../cni/exec.js';
import {
  parseConflist,
  CniRuntime,
  type NetworkConfigList,
  type PluginInvoker,
  type RuntimeConf,
} from '../../cni/runtime.js';
import type { Result } from '../../cni/result.js';
import { runPlugin, type PluginDefinition, type PluginOutput } from '../../cni/skel.js';
import { listLinks } from '../../netlink/index.js';
import { parseAlias } from '../../plugins/eni/record.js';
import type { EniSpec } from './eni.js';

export type ChainMode = 'in-process' | 'exec';
export const CHAIN_MODES: readonly ChainMode[] = ['in-process', 'exec'];

export const BRIDGE_NAME = 'ecs-bridge';
export const BRIDGE_SUBNET = '169.254.172.0/22';
export const BRIDGE_GATEWAY = '169.254.172.1'; // ecs-ipam's default: the subnet's first address
export const ENDPOINT_ADDRESS = '169.254.170.2';
export const ENI_IFNAME = 'eth0';
export const BRIDGE_IFNAME = 'ecs-eth0';
const CNI_VERSION = '1.1.0';

export interface TaskLists {
  eni: string; // conflist text, kept in the task record so teardown never rebuilds it differently
  bridge: string;
}

export interface TaskAttachment {
  eni: Result;
  bridge: Result;
  bridgeAddress: string; // the task's 169.254.172.x, the source the endpoint expects
}

export const buildTaskLists = (
  eni: EniSpec,
  options: { ipamDir: string; blockInstanceMetadata: boolean },
): TaskLists => ({
  eni: JSON.stringify({
    cniVersion: CNI_VERSION,
    name: 'tasknet-eni',
    plugins: [
      {
        type: 'ecs-eni',
        eni: eni.id,
        mac: eni.mac,
        'ip-addresses': eni.addresses,
        'gateway-ip-addresses': eni.gateways,
        'block-instance-metadata': options.blockInstanceMetadata,
      },
    ],
  }),
  bridge: JSON.stringify({
    cniVersion: CNI_VERSION,
    name: 'tasknet-bridge',
    plugins: [
      {
        type: 'ecs-bridge',
        bridge: BRIDGE_NAME,
        ipam: {
          type: 'ecs-ipam',
          id: eni.mac, // as the ECS agent: one bridge address per ENI
          'ipv4-subnet': BRIDGE_SUBNET,
          'ipv4-routes': [{ dst: `${ENDPOINT_ADDRESS}/32` }],
          dataDir: options.ipamDir,
        },
      },
    ],
  }),
});

// Our three plugins, loaded only when a chain first runs in-process.
const OWN_PLUGINS: Record<string, () => Promise<PluginDefinition>> = {
  'ecs-eni': async () => (await import('../../plugins/eni/plugin.js')).plugin,
  'ecs-bridge': async () => (await import('../../plugins/bridge/plugin.js')).plugin,
  'ecs-ipam': async () => (await import('../../ipam/plugin.js')).plugin,
};

// Runs our plugins in this process with exactly the env and stdin an exec'd binary would get
// (skel.runPlugin is what the binaries run). Any other type would need a binary: refused here.
export const inProcessInvoker: PluginInvoker = async (type, env, stdin) => {
  const load = OWN_PLUGINS[type];
  if (!load) throw new CniError(100, `plugin ${type} cannot run in-process: only ecs-eni, ecs-bridge and ecs-ipam can`);
  return runPlugin(await load(), { env, stdin });
};

// The directory of the tasknet launcher, which also holds ecs-eni, ecs-bridge and ecs-ipam (run
// as `node dist/tasknet.cjs`, the launchers are in ../bin).
export const ownBinDir = (): string => {
  const dir = dirname(process.argv[1] ?? '');
  return basename(dir) === 'dist' ? join(dir, '..', 'bin') : dir;
};

// One plugin call as the agent made it (for metrics): `code` is the CNI error code of a failure.
export interface PluginCall {
  plugin: string;
  verb: string;
  seconds: number;
  code?: number;
}

export interface TaskNetworkOptions {
  cacheDir: string;
  cniPath: string[];
  env?: Record<string, string>;
  observe?: (call: PluginCall) => void;
}

// The CNI error code in a failed plugin's output, read as the runtime reads it (delegate.ts:
// readPluginOutput): the error JSON's code, else 103 for output that is not one.
const failureCode = (out: PluginOutput): number | undefined => {
  if (out.exitCode === 0) return undefined;
  try {
    const code = (JSON.parse(out.stdout) as { code?: unknown }).code;
    if (typeof code === 'number') return code;
  } catch {
    /* not a CNI error */
  }
  return ErrorCode.Delegate;
};

// An invoker that times every call it passes on and reports how it ended.
const observed =
  (invoke: PluginInvoker, observe: (call: PluginCall) => void): PluginInvoker =>
  async (type, env, stdin) => {
    const t0 = performance.now();
    const report = (code: number | undefined): void => {
      observe({
        plugin: type,
        verb: env.CNI_COMMAND ?? '',
        seconds: (performance.now() - t0) / 1000,
        ...(code === undefined ? {} : { code }),
      });
    };
    try {
      const out = await invoke(type, env, stdin);
      report(failureCode(out));
      return out;
    } catch (error) {
      report(toCniError(error).code);
      throw error;
    }
  };

// ADD and DEL of one task's chain, in-process or exec'd; the agent picks the mode per task.
export class TaskNetwork {
  private readonly runtimes: Record<ChainMode, CniRuntime>;

  constructor(options: TaskNetworkOptions) {
    const base = {
      cniPath: options.cniPath,
      cacheDir: options.cacheDir,
      rollbackOnFailure: true,
      ...(options.env ? { env: options.env } : {}),
    };
    // Observed, exec is the runtime's own default spelled out, so it can be wrapped.
    const exec: PluginInvoker = (type, env, stdin) => execPlugin(findPlugin(type, options.cniPath), env, stdin);
    const { observe } = options;
    this.runtimes = {
      'in-process': new CniRuntime({
        ...base,
        invoke: observe ? observed(inProcessInvoker, observe) : inProcessInvoker,
      }),
      exec: new CniRuntime(observe ? { ...base, invoke: observed(exec, observe) } : base),
    };
  }

  // The two lists at once: they touch different links (the ENI, a new veth) and each waits mostly
  // on its own `ip` children, so a task's network costs the slower list, not the sum. Each list
  // rolls itself back on failure (rollbackOnFailure); when one fails, the caller tears the task
  // down, which DELs both lists (DEL is idempotent), so a failed start leaves nothing.
  async add(taskId: string, netnsPath: string, lists: TaskLists, mode: ChainMode): Promise<TaskAttachment> {
    const runtime = this.runtimes[mode];
    const [eni, bridge] = await Promise.allSettled([
      runtime.add(parseConflist(lists.eni), conf(taskId, netnsPath, ENI_IFNAME)),
      runtime.add(parseConflist(lists.bridge), conf(taskId, netnsPath, BRIDGE_IFNAME)),
    ]);
    if (eni.status === 'rejected') throw eni.reason;
    if (bridge.status === 'rejected') throw bridge.reason;
    return { eni: eni.value, bridge: bridge.value, bridgeAddress: bridgeAddressOf(bridge.value) };
  }

  // DEL of both lists, each from its cached result, at once as for ADD; both are attempted
  // whatever happens to the other, and every failure is reported.
  async del(taskId: string, netnsPath: string, lists: TaskLists, mode: ChainMode): Promise<void> {
    const runtime = this.runtimes[mode];
    const steps: [NetworkConfigList, string][] = [
      [parseConflist(lists.bridge), BRIDGE_IFNAME],
      [parseConflist(lists.eni), ENI_IFNAME],
    ];
    const errors: string[] = [];
    await Promise.all(
      steps.map(([list, ifname]) =>
        runtime.del(list, conf(taskId, netnsPath, ifname)).catch((error: Error) => {
          errors.push(`${list.name}: ${error.message}`);
        }),
      ),
    );
    if (errors.length > 0) throw new Error(`CNI DEL failed: ${errors.join('; ')}`);
  }

  // After a restart: DEL what no live task owns (stale cache entries, host veths, IPAM leases).
  // Gives back what a task netns holds when the task's record is lost: the ENI, found by the alias
  // ecs-eni gives it (its MAC is also the ecs-ipam id of the task's bridge address), then the
  // veth and the address. Returns the ENI's MAC, if there was one.
  async recover(taskId: string, netnsPath: string, ipamDir: string): Promise<string | undefined> {
    const eni = (await listLinks(netnsPath)).find((l) => parseAlias(l.alias) !== undefined && l.mac);
    const mac = eni?.mac?.toLowerCase();
    // Only the MAC matters to the DELs (ecs-eni finds the link by alias, ecs-ipam releases by id).
    const lists = buildTaskLists(
      { id: 'eni-recovered', mac: mac ?? '02:00:00:00:00:00', addresses: ['192.0.2.1/32'], gateways: [], subnets: [] },
      { ipamDir, blockInstanceMetadata: false },
    );
    await this.del(taskId, netnsPath, lists, 'in-process');
    return mac;
  }

  async gc(lists: TaskLists, keepTaskIds: readonly string[]): Promise<void> {
    const runtime = this.runtimes['in-process'];
    await runtime.gc(
      parseConflist(lists.bridge),
      keepTaskIds.map((containerId) => ({ containerId, ifname: BRIDGE_IFNAME })),
    );
  }
}

const conf = (containerId: string, netns: string, ifname: string): RuntimeConf => ({ containerId, netns, ifname });

// The bridge result lists the container veth last; its IPv4 address is the task's bridge address.
const bridgeAddressOf = (result: Result): string => {
  const index = (result.interfaces ?? []).findIndex((i) => i.name === BRIDGE_IFNAME && i.sandbox !== undefined);
  const ip = (result.ips ?? []).find((i) => i.interface === index && !i.address.includes(':'));
  if (!ip) throw new Error(`ecs-bridge returned no IPv4 address for ${BRIDGE_IFNAME}`);
  return ip.address.split('/')[0]!;
};
