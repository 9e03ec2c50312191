// The ecs-eni test lab (design.md "Lab stand-ins"): three throwaway namespaces per test.
//   host: holds the fake ENI, one end of a veth pair with an ENI-like MAC, named like an ENI
//   vpc:  holds the other end, with the subnet gateways (10.0.1.1/24, 2001:db8:1::1/64)
//   task: the task netns, handed to the plugin as /proc/PID/ns/net like a runtime does
// The plugin runs in-process (runPlugin, the same code path as the executable) with the "host"
// namespace as its host, or exec'd inside the host namespace through nsenter.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { runPlugin } from '../../../src/cni/skel.js';
import { eniPlugin } from '../../../src/plugins/eni/plugin.js';
import type { Test } from 'tap';
import { makeNetns, needsRoot, netnsHolder, type Teardown } from '../../helpers/netns.js';

export const GW4 = '10.0.1.1';
export const GW6 = '2001:db8:1::1';
export const ADDR4 = '10.0.1.5/24';
export const ADDR6 = '2001:db8:1::5/64';
export const REPO = fileURLToPath(new URL('../../..', import.meta.url));

export interface Lab {
  host: string;
  vpc: string;
  task: string;
  /** CNI_NETNS: the task netns as a runtime gives it. */
  taskPath: string;
  /** The fake ENI's name in the host netns. */
  eni: string;
  mac: string;
}

export const randomMac = (): string =>
  ['0e', ...[...randomBytes(5)].map((b) => b.toString(16).padStart(2, '0'))].join(':');

const ip = async (...args: string[]): Promise<string> => (await execa('ip', args)).stdout;

// A fresh lab; everything is in the three namespaces, so the teardown that deletes them
// removes all of it (a veth dies with either of its namespaces).
export async function makeLab(
  t: Teardown,
  { eni = 'eth1', mac = randomMac() }: { eni?: string; mac?: string } = {},
): Promise<Lab> {
  const [host, vpc, task] = await makeNetns(t, 3, 'teni');
  made.push(host, vpc, task);
  const taskPath = await netnsHolder(t, task);
  await ip('-n', host, 'link', 'add', eni, 'address', mac, 'type', 'veth', 'peer', 'name', 'vpc0', 'netns', vpc);
  await ip('-n', vpc, 'addr', 'add', `${GW4}/24`, 'dev', 'vpc0');
  await ip('-n', vpc, 'addr', 'add', `${GW6}/64`, 'dev', 'vpc0', 'nodad');
  await ip('-n', vpc, 'link', 'set', 'vpc0', 'up');
  return { host, vpc, task, taskPath, eni, mac };
}

export interface CallOptions {
  ifname?: string;
  netns?: string;
  args?: string;
  containerId?: string;
  failpoint?: string;
}

export interface CallResult {
  exitCode: number;
  /** The parsed stdout (result or error), or undefined when stdout is empty. */
  out: any;
}

export const envFor = (command: string, lab: Lab, o: CallOptions = {}): Record<string, string> => ({
  CNI_COMMAND: command,
  CNI_CONTAINERID: o.containerId ?? 'task-1',
  CNI_NETNS: o.netns ?? lab.taskPath,
  CNI_IFNAME: o.ifname ?? 'eth0',
  CNI_PATH: '/opt/cni/bin',
  ...(o.args === undefined ? {} : { CNI_ARGS: o.args }),
  ...(o.failpoint === undefined ? {} : { TASKNET_FAILPOINT: o.failpoint }),
});

// One CNI call in-process, with the lab's host netns as the plugin's host.
export async function cni(command: string, lab: Lab, config: object, o: CallOptions = {}): Promise<CallResult> {
  const r = await runPlugin(eniPlugin({ hostNs: lab.host }), {
    env: envFor(command, lab, o),
    stdin: JSON.stringify(config),
  });
  return { exitCode: r.exitCode, out: r.stdout.trim() === '' ? undefined : JSON.parse(r.stdout) };
}

// The same call through the built executable, run inside the host netns as a runtime would run it.
export async function cniExec(
  command: string,
  lab: Lab,
  config: object,
  o: CallOptions = {},
): Promise<CallResult & { stderr: string }> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (
      v !== undefined &&
      k !== 'NODE_OPTIONS' &&
      !k.startsWith('_TAPJS_') &&
      !k.startsWith('TAP') &&
      !k.startsWith('CNI_')
    )
      env[k] = v;
  }
  const r = await execa('nsenter', [`--net=/var/run/netns/${lab.host}`, `${REPO}bin/ecs-eni`], {
    env: { ...env, ...envFor(command, lab, o) },
    extendEnv: false,
    input: JSON.stringify(config),
    reject: false,
  });
  return {
    exitCode: r.exitCode ?? -1,
    out: r.stdout.trim() === '' ? undefined : JSON.parse(r.stdout),
    stderr: r.stderr,
  };
}

export const vpcConfig = (lab: Lab, extra: object = {}, cniVersion = '1.0.0'): Record<string, unknown> => ({
  cniVersion,
  name: 'task-eni',
  type: 'ecs-eni',
  eniMACAddress: lab.mac,
  eniIPAddresses: [ADDR4],
  gatewayIPAddresses: [GW4],
  ...extra,
});

export const ecsConfig = (lab: Lab, extra: object = {}, cniVersion = '1.0.0'): Record<string, unknown> => ({
  cniVersion,
  name: 'task-eni',
  type: 'ecs-eni',
  eni: 'eni-0123456789abcdef0',
  mac: lab.mac,
  'ip-addresses': [ADDR4],
  'gateway-ip-addresses': [GW4],
  ...extra,
});

// ping from inside the task netns; true when the gateway answered.
export async function ping(lab: Lab, address: string): Promise<boolean> {
  const r = await execa('nsenter', [`--net=/var/run/netns/${lab.task}`, 'ping', '-c', '1', '-W', '2', address], {
    reject: false,
  });
  return r.exitCode === 0;
}

// Every test file ends with this: the namespaces it made are gone and the machine's own netns has
// the links it had when the file started.
const made: string[] = [];
const rootLinks = (): string[] =>
  execFileSync('ip', ['-o', 'link', 'show'])
    .toString()
    .split('\n')
    .filter(Boolean)
    .map((l) => l.split(':')[1]!.trim())
    .sort();
const rootLinksAtStart = needsRoot ? [] : rootLinks();

export function leavesNothingBehind(tap: Test): void {
  tap.test('leaves nothing behind', { skip: needsRoot }, async (t) => {
    const live = execFileSync('ip', ['netns', 'list']).toString();
    t.same(
      made.filter((name) => live.includes(name)),
      [],
      'every lab namespace is gone',
    );
    t.same(rootLinks(), rootLinksAtStart, 'the root netns links are unchanged');
  });
}
