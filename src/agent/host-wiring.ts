// How task traffic reaches the endpoint at 169.254.170.2:80, installed once per agent netns and
// idempotently (every step checks before it changes):
//   - 169.254.170.2/32 on `lo` of the agent's netns, where the agent listens directly. Tasks route
//     169.254.170.2/32 via the bridge gateway (ecs-bridge + ecs-ipam), the packet arrives on
//     ecs-bridge and is delivered locally; the server sees the task's own bridge address.
//   - one filter rule: TCP to 169.254.170.2:80 that did not arrive on ecs-bridge is dropped, so
//     nothing outside the host (an ENI's VPC side, another interface) reaches the endpoint.
// ECS instead DNATs to 127.0.0.1:51679 and sets route_localnet=1, which opens 127.0.0.0/8 to every
// interface host-wide (docs/upstream-ecs-plugins.md (f) 9); none of that is needed here.
// Why `lo` and not the bridge: ecs-bridge refuses a bridge that holds another IPv4 address before
// its gateway address (a config mismatch check), and the bridge only exists after the first ADD;
// on `lo` the endpoint is up before any task and independent of the bridge's life.
import { execFile } from 'node:child_process';
import { addAddress, isExists, listAddresses } from '../netlink/index.js';
import { BRIDGE_NAME, ENDPOINT_ADDRESS } from './task-network.js';

const ENDPOINT_PORT = '80';

// The rule, as arguments after -C/-I/-D INPUT.
export const endpointRule = (): string[] => [
  '-p', 'tcp', '-d', `${ENDPOINT_ADDRESS}/32`, '--dport', ENDPOINT_PORT, '!', '-i', BRIDGE_NAME,
  '-m', 'comment', '--comment', 'tasknet: endpoint only from ecs-bridge', '-j', 'DROP',
];

const iptables = (args: string[]): Promise<{ code: number; stderr: string }> => new Promise((resolve) => {
  execFile('iptables', ['-w', '5', ...args], { env: { ...process.env, LC_ALL: 'C' } }, (error, _stdout, stderr) => {
    const code = error ? (typeof error.code === 'number' ? error.code : 127) : 0;
    resolve({ code, stderr: String(stderr).trim() || (error?.message ?? '') });
  });
});

export const ensureEndpointAddress = async (): Promise<void> => {
  const present = await listAddresses({ dev: 'lo', family: 4 });
  if (present.some((a) => a.address === ENDPOINT_ADDRESS)) return;
  try {
    await addAddress('lo', `${ENDPOINT_ADDRESS}/32`);
  } catch (error) {
    if (!isExists(error)) throw error;
  }
};

// iptables -C exits 1 when the rule is absent; anything else is a real failure.
export const ensureEndpointRule = async (): Promise<void> => {
  const check = await iptables(['-C', 'INPUT', ...endpointRule()]);
  if (check.code === 0) return;
  if (check.code !== 1) throw new Error(`iptables -C failed: ${check.stderr}`);
  const insert = await iptables(['-I', 'INPUT', '1', ...endpointRule()]);
  if (insert.code !== 0) throw new Error(`iptables -I failed: ${insert.stderr}`);
};

export const endpointRulePresent = async (): Promise<boolean> => (await iptables(['-C', 'INPUT', ...endpointRule()])).code === 0;

export const ensureHostWiring = async (): Promise<void> => {
  await ensureEndpointAddress();
  await ensureEndpointRule();
};
