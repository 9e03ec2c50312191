// How task traffic reaches the endpoint at 169.254.170.2:80, and nothing else on the host: the
// agent's part of task isolation, installed in the agent's netns.
//
// Once per agent start, idempotently:
//   - 169.254.170.2/32 on `lo`, where the agent listens directly. Tasks route 169.254.170.2/32 via
//     the bridge gateway (ecs-bridge + ecs-ipam); the packet arrives on ecs-bridge and is delivered
//     locally, so the server sees the task's own bridge address.
//   - filter rules in two chains of ours, each rewritten whole by one iptables-restore (so a new
//     agent replaces an old agent's rules atomically) and jumped to from the top of INPUT/FORWARD:
//       TASKNET-INPUT: the endpoint port from anywhere but ecs-bridge is dropped (an ENI's VPC
//       side, any other interface); from ecs-bridge, only the endpoint, replies, and ping of the
//       gateway are accepted: the host's other addresses and services are not a task's business.
//       TASKNET-FORWARD: nothing is routed from or to ecs-bridge, so a task that adds routes via
//       the gateway cannot use the host as a router (into the host's networks or another task).
//     IPv6 (the bridge carries none for tasks): everything from or to ecs-bridge is dropped.
// Per task, after its bridge ADD and before any container starts (guardPort):
//   - a static sticky FDB entry for the task's MAC on its port, the port locked with learning off:
//     the port sends from that MAC only, and no other port can claim it;
//   - a permanent neighbour entry pinning the task's bridge address to that MAC: ARP cannot redirect
//     the host's replies, so a task that takes another task's address gets no answer.
// Together with the isolated bridge ports (ecs-bridge) and the endpoint's own check of the source
// address, a task cannot read another task's credentials or metadata, even by spoofing.
//
// ECS instead DNATs to 127.0.0.1:51679 and sets route_localnet=1, which opens 127.0.0.0/8 to every
// interface host-wide; none of that is needed here.
// Why `lo` and not the bridge: ecs-bridge refuses a bridge that holds another IPv4 address before
// its gateway address (a config mismatch check), and the bridge only exists after the first ADD;
// on `lo` the endpoint is up before any task and independent of the bridge's life.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { Result } from '../../cni/result.js';
import {
  addAddress,
  batch,
  deleteNeighbour,
  isExists,
  isNotFound,
  listAddresses,
  listNeighbours,
  replaceStaticFdb,
} from '../../netlink/index.js';
import { BRIDGE_GATEWAY, BRIDGE_IFNAME, BRIDGE_NAME, ENDPOINT_ADDRESS } from '../task/network.js';

const ENDPOINT_PORT = '80';
export const INPUT_CHAIN = 'TASKNET-INPUT';
export const FORWARD_CHAIN = 'TASKNET-FORWARD';

type Family = 4 | 6;

const comment = (text: string): string[] => ['-m', 'comment', '--comment', `"tasknet: ${text}"`];

// The chains' whole content per family, in iptables-restore syntax (--noflush keeps every other
// rule of the table, and flushes and refills the chains declared here).
export const chainRules = (family: Family): string => {
  const lines = ['*filter', `:${INPUT_CHAIN} - [0:0]`, `:${FORWARD_CHAIN} - [0:0]`];
  const input = (...rule: string[]): void => {
    lines.push(['-A', INPUT_CHAIN, ...rule].join(' '));
  };
  const forward = (...rule: string[]): void => {
    lines.push(['-A', FORWARD_CHAIN, ...rule].join(' '));
  };
  if (family === 4) {
    input(
      '-d',
      `${ENDPOINT_ADDRESS}/32`,
      '!',
      '-i',
      BRIDGE_NAME,
      '-p',
      'tcp',
      '--dport',
      ENDPOINT_PORT,
      ...comment('endpoint only from ecs-bridge'),
      '-j',
      'DROP',
    );
    input('!', '-i', BRIDGE_NAME, '-j', 'RETURN');
    input('-m', 'conntrack', '--ctstate', 'ESTABLISHED,RELATED', '-j', 'ACCEPT');
    input(
      '-d',
      `${ENDPOINT_ADDRESS}/32`,
      '-p',
      'tcp',
      '--dport',
      ENDPOINT_PORT,
      ...comment('the endpoint'),
      '-j',
      'ACCEPT',
    );
    input(
      '-d',
      `${BRIDGE_GATEWAY}/32`,
      '-p',
      'icmp',
      '--icmp-type',
      'echo-request',
      ...comment('ping the gateway'),
      '-j',
      'ACCEPT',
    );
    input(...comment('nothing else from tasks'), '-j', 'DROP');
  } else {
    input('-i', BRIDGE_NAME, ...comment('no IPv6 from tasks'), '-j', 'DROP');
  }
  forward('-i', BRIDGE_NAME, ...comment('no routing from tasks'), '-j', 'DROP');
  forward('-o', BRIDGE_NAME, ...comment('no routing to tasks'), '-j', 'DROP');
  lines.push('COMMIT', '');
  return lines.join('\n');
};

interface Run {
  code: number;
  stderr: string;
}

const run = (file: string, args: string[], input?: string): Promise<Run> =>
  new Promise((resolve) => {
    const child = execFile(file, args, { env: { ...process.env, LC_ALL: 'C' } }, (error, _stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : 127) : 0;
      resolve({ code, stderr: String(stderr).trim() || (error?.message ?? '') });
    });
    if (input !== undefined) child.stdin!.end(input);
  });

const tool = (family: Family): string => (family === 4 ? 'iptables' : 'ip6tables');

// One jump at the top of a built-in chain; -C exits 1 when the rule is absent, anything else is a
// real failure.
const ensureJump = async (family: Family, from: 'INPUT' | 'FORWARD', to: string): Promise<void> => {
  const check = await run(tool(family), ['-w', '5', '-C', from, '-j', to]);
  if (check.code === 0) return;
  if (check.code !== 1) throw new Error(`${tool(family)} -C ${from} failed: ${check.stderr}`);
  const insert = await run(tool(family), ['-w', '5', '-I', from, '1', '-j', to]);
  if (insert.code !== 0) throw new Error(`${tool(family)} -I ${from} failed: ${insert.stderr}`);
};

// IPv6 rules only where the kernel has IPv6 (booted with ipv6.disable=1, there is nothing to
// filter and ip6tables cannot run).
const families = (): Family[] => (existsSync('/proc/sys/net/ipv6') ? [4, 6] : [4]);

export const ensureFilterRules = async (): Promise<void> => {
  await Promise.all(
    families().map(async (family) => {
      const restore = await run(`${tool(family)}-restore`, ['-w', '5', '--noflush'], chainRules(family));
      if (restore.code !== 0) throw new Error(`${tool(family)}-restore failed: ${restore.stderr}`);
      await ensureJump(family, 'INPUT', INPUT_CHAIN);
      await ensureJump(family, 'FORWARD', FORWARD_CHAIN);
    }),
  );
};

export const ensureEndpointAddress = async (): Promise<void> => {
  const present = await listAddresses({ dev: 'lo', family: 4 });
  if (present.some((a) => a.address === ENDPOINT_ADDRESS)) return;
  try {
    await addAddress('lo', `${ENDPOINT_ADDRESS}/32`);
  } catch (error) {
    if (!isExists(error)) throw error;
  }
};

export const ensureHostWiring = async (): Promise<void> => {
  await ensureEndpointAddress();
  await ensureFilterRules();
};

// --- per task ---

export interface PortGuard {
  /** The host end of the task's veth, a port of ecs-bridge. */
  hostVeth: string;
  /** The task end's MAC. */
  mac: string;
  /** The task's bridge address. */
  address: string;
}

// From a task's attachment: ecs-bridge's result lists the bridge, the host veth (no sandbox) and
// the task veth (sandbox).
export const portGuardOf = ({
  bridge,
  bridgeAddress: address,
}: {
  bridge: Result;
  bridgeAddress: string;
}): PortGuard => {
  const interfaces = bridge.interfaces ?? [];
  const task = interfaces.find((i) => i.name === BRIDGE_IFNAME && i.sandbox !== undefined);
  const host = interfaces.find((i) => i.sandbox === undefined && i.name !== BRIDGE_NAME);
  if (!task?.mac || !host) throw new Error(`ecs-bridge's result names no host veth or no ${BRIDGE_IFNAME} MAC`);
  return { hostVeth: host.name, mac: task.mac, address };
};

// The FDB entry goes first: once the port is locked, only MACs with an entry get through.
export const guardPort = async (guard: PortGuard): Promise<void> => {
  await replaceStaticFdb({ mac: guard.mac, dev: guard.hostVeth });
  await batch()
    .linkSet(guard.hostVeth, { bridgePort: { learning: false, locked: true } })
    .neighReplace({ dst: guard.address, lladdr: guard.mac, dev: BRIDGE_NAME })
    .run();
};

const unpin = async (address: string): Promise<void> => {
  await deleteNeighbour(address, BRIDGE_NAME).catch((error: unknown) => {
    if (!isNotFound(error)) throw error;
  });
};

// Before the bridge DEL, while the task still holds its address: once ecs-ipam has released it, a
// new task may get the same address and pin it to its own MAC. The FDB entry and the port flags go
// with the veth.
export const unguardPort = (guard: PortGuard): Promise<void> => unpin(guard.address);

// After a restart: permanent entries on the bridge that no live task holds (a crash between the
// guard and the record, or before an unguard) are deleted; returns their addresses.
export const prunePinnedAddresses = async (keep: ReadonlySet<string>): Promise<string[]> => {
  let pinned: Awaited<ReturnType<typeof listNeighbours>>;
  try {
    pinned = await listNeighbours({ dev: BRIDGE_NAME, family: 4 });
  } catch (error) {
    if (isNotFound(error)) return []; // no bridge yet
    throw error;
  }
  const stale = pinned.filter((n) => n.state.includes('PERMANENT') && !keep.has(n.dst)).map((n) => n.dst);
  for (const address of stale) await unpin(address);
  return stale;
};
