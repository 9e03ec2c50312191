// The CNI configs and env of both sides, built to the same shape:
//   bridge: ecs-bridge + ecs-ipam vs bridge + host-local, subnet 169.254.172.0/22, gateway
//           169.254.172.1 on the bridge, a veth into the task, a /32 route to 169.254.170.2;
//   ENI:    ecs-eni vs host-device + static, the fake ENI found by its MAC, 10.0.1.5/24 and a
//           default route via 10.0.1.1.
// cniVersion 1.0.0 on both sides: the highest that Debian's plugins (1.1.1) speak.
import type { Cmd } from './protocol.js';

export const CNI_VERSION = '1.0.0';
export const SUBNET = '169.254.172.0/22';
export const ENDPOINT = '169.254.170.2/32';
export const GO_CNI = '/usr/lib/cni';
export const ENI_ADDR = '10.0.1.5/24';
export const ENI_GW = '10.0.1.1';

// What a runtime passes down: its own environment (as containerd does) plus the CNI_* variables.
// NODE_EXTRA_CA_CERTS stays as the machine sets it; our launchers drop it themselves.
export const baseEnv = (): Record<string, string> => {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v === undefined || k.startsWith('npm_') || k.startsWith('CNI_') || k === 'NODE_OPTIONS' || k === 'INIT_CWD')
      continue;
    env[k] = v;
  }
  env.PATH = (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin')
    .split(':')
    .filter((p) => !p.includes('node_modules'))
    .join(':');
  return env;
};

export interface CniCall {
  command: 'ADD' | 'DEL' | 'CHECK' | 'VERSION';
  containerId: string;
  netns: string;
  ifname: string;
  cniPath: string;
}

export const cniEnv = (c: CniCall, extra: Record<string, string> = {}): Record<string, string> => ({
  ...baseEnv(),
  CNI_COMMAND: c.command,
  CNI_CONTAINERID: c.containerId,
  CNI_NETNS: c.netns,
  CNI_IFNAME: c.ifname,
  CNI_PATH: c.cniPath,
  ...extra,
});

export const ourBridgeConf = (dataDir: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  cniVersion: CNI_VERSION,
  name: 'ecs-bench',
  type: 'ecs-bridge',
  bridge: 'ecs-br0',
  ipam: { type: 'ecs-ipam', 'ipv4-subnet': SUBNET, 'ipv4-routes': [{ dst: ENDPOINT }], dataDir },
  ...extra,
});

export const goBridgeConf = (dataDir: string): Record<string, unknown> => ({
  cniVersion: CNI_VERSION,
  name: 'go-bench',
  type: 'bridge',
  bridge: 'go-br0',
  isGateway: true, // the gateway address on the bridge, as ecs-bridge puts it there
  ipMasq: false,
  ipam: { type: 'host-local', ranges: [[{ subnet: SUBNET }]], routes: [{ dst: ENDPOINT }], dataDir },
});

export const ourIpamConf = (dataDir: string): Record<string, unknown> => ({
  cniVersion: CNI_VERSION,
  name: 'ecs-bench',
  type: 'ecs-ipam',
  ipam: { type: 'ecs-ipam', 'ipv4-subnet': SUBNET, 'ipv4-routes': [{ dst: ENDPOINT }], dataDir },
});

export const goIpamConf = (dataDir: string): Record<string, unknown> => ({
  cniVersion: CNI_VERSION,
  name: 'go-bench',
  type: 'host-local',
  ipam: { type: 'host-local', ranges: [[{ subnet: SUBNET }]], routes: [{ dst: ENDPOINT }], dataDir },
});

export const ourEniConf = (mac: string): Record<string, unknown> => ({
  cniVersion: CNI_VERSION,
  name: 'task-eni',
  type: 'ecs-eni',
  eni: 'eni-0123456789abcdef0',
  mac,
  'ip-addresses': [ENI_ADDR],
  'gateway-ip-addresses': [ENI_GW],
});

export const goEniConf = (mac: string): Record<string, unknown> => ({
  cniVersion: CNI_VERSION,
  name: 'task-eni',
  type: 'host-device',
  hwaddr: mac,
  ipam: {
    type: 'static',
    addresses: [{ address: ENI_ADDR, gateway: ENI_GW }],
    routes: [{ dst: '0.0.0.0/0', gw: ENI_GW }],
  },
});

// Conflists for a whole task, in the agent's shape (src/agent/task-network.ts): one list for the
// ENI on eth0, one for the bridge on ecs-eth0.
const list = (name: string, plugin: Record<string, unknown>): string => {
  const { cniVersion: _v, name: _n, ...rest } = plugin;
  return JSON.stringify({ cniVersion: CNI_VERSION, name, plugins: [rest] });
};
export const ourTaskLists = (mac: string, dataDir: string) => ({
  eniList: list('tasknet-eni', ourEniConf(mac)),
  bridgeList: list('tasknet-bridge', ourBridgeConf(dataDir)),
});
export const goTaskLists = (mac: string, dataDir: string) => ({
  eniList: list('go-eni', goEniConf(mac)),
  bridgeList: list('go-bridge', goBridgeConf(dataDir)),
});

export const cmd = (file: string, env: Record<string, string>, config?: unknown, args: string[] = []): Cmd => ({
  file,
  args,
  env,
  ...(config === undefined ? {} : { input: JSON.stringify(config) }),
});

// A plugin's exit code and stdout as success or a short reason.
export const failureOf = (r: {
  code: number | null;
  stdout: string;
  stderr: string;
  signal?: string | null;
}): string | undefined =>
  r.code === 0
    ? undefined
    : `exit ${r.code}${r.signal ? ` (${r.signal})` : ''}: ${(r.stdout || r.stderr).trim().slice(0, 300)}`;
