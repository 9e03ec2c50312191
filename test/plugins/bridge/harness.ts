// A "host" netns (bridge side), a "task" netns held by a process (as a runtime would pass it) and
// an IPAM store dir, plus helpers to call ecs-bridge in-process or exec'd inside the host netns.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { runPlugin } from '../../../src/cni/skel.js';
import { plugin as ipamPlugin } from '../../../src/ipam/plugin.js';
import { bridgePlugin } from '../../../src/plugins/bridge/plugin.js';
import { makeNetns, netnsHolder, type Teardown } from '../../helpers/netns.js';

export const BIN = resolve(import.meta.dirname, '../../../bin');
export const FIXTURES = resolve(import.meta.dirname, '../../fixtures/ipam');

export interface CallResult {
  exitCode: number;
  json: Record<string, any> | undefined;
  stdout: string;
}

export interface BridgeLab {
  host: string; // netns name
  task: string; // netns name
  taskPath: string; // /proc/PID/ns/net of a process in `task`
  dataDir: string;
  config(overrides?: Record<string, unknown>, ipam?: Record<string, unknown>): Record<string, unknown>;
  call(command: string, config: Record<string, unknown>, env?: Record<string, string>): Promise<CallResult>;
  exec(command: string, config: Record<string, unknown>, env?: Record<string, string>): Promise<CallResult>;
}

const parse = (exitCode: number, stdout: string): CallResult => {
  let json: Record<string, any> | undefined;
  try {
    json = stdout.trim() ? JSON.parse(stdout) : undefined;
  } catch {
    /* the test asserts on stdout */
  }
  return { exitCode, json, stdout };
};

// `share`: a second attachment on the same host netns, bridge and IPAM store as another lab.
export const makeBridgeLab = async (
  t: Teardown,
  {
    cniVersion = '1.1.0',
    containerId = 'task-a',
    share,
  }: { cniVersion?: string; containerId?: string; share?: BridgeLab } = {},
): Promise<BridgeLab> => {
  const [host, task] = share ? [share.host, ...(await makeNetns(t, 1, 'tnb'))] : await makeNetns(t, 2, 'tnb');
  const taskPath = await netnsHolder(t, task);
  const dataDir = share?.dataDir ?? mkdtempSync(join(tmpdir(), 'tasknet-bridge-'));
  if (!share) t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  const baseEnv = (command: string, extra: Record<string, string>) => ({
    PATH: process.env.PATH,
    CNI_COMMAND: command,
    CNI_CONTAINERID: containerId,
    CNI_NETNS: taskPath,
    CNI_IFNAME: 'ecs-eth0',
    CNI_PATH: `${BIN}:${FIXTURES}`,
    ...extra,
  });
  const plugin = bridgePlugin({ hostNs: host });
  return {
    host,
    task,
    taskPath,
    dataDir,
    config: (overrides = {}, ipam = {}) => ({
      cniVersion,
      name: 'ecs-bridge-test',
      type: 'ecs-bridge',
      bridge: 'ecs-br-test',
      ipam: {
        type: 'ecs-ipam',
        id: containerId,
        'ipv4-subnet': '169.254.172.0/22',
        'ipv4-routes': [{ dst: '169.254.170.2/32' }],
        dataDir,
        ...ipam,
      },
      ...overrides,
    }),
    async call(command, config, env = {}) {
      const out = await runPlugin(plugin, { env: baseEnv(command, env), stdin: JSON.stringify(config) });
      return parse(out.exitCode, out.stdout);
    },
    exec: (command, config, env = {}) =>
      new Promise((done) => {
        const child = spawn('nsenter', [`--net=/var/run/netns/${host}`, join(BIN, 'ecs-bridge')], {
          env: baseEnv(command, env) as NodeJS.ProcessEnv,
          stdio: ['pipe', 'pipe', 'inherit'],
        });
        let stdout = '';
        child.stdout.on('data', (d: Buffer) => {
          stdout += d;
        });
        child.on('close', (code) => done(parse(code ?? 1, stdout)));
        child.stdin.end(JSON.stringify(config));
      }),
  };
};

// The links of a netns by name, sorted.
export const links = (ns: string): string[] =>
  (JSON.parse(execFileSync('ip', ['-j', '-n', ns, 'link'], { encoding: 'utf8' }) || '[]') as { ifname: string }[])
    .map((l) => l.ifname)
    .sort();

// An address is free in the store iff another key can take it explicitly.
export const addressFree = async (lab: BridgeLab, address: string): Promise<boolean> => {
  const cidr = `${address}/22`;
  const conf = lab.config({}, { id: 'probe', 'ipv4-address': cidr });
  const env = { CNI_CONTAINERID: 'probe', CNI_IFNAME: 'probe0', CNI_NETNS: lab.taskPath };
  const add = await runPlugin(ipamPlugin, { env: { ...env, CNI_COMMAND: 'ADD' }, stdin: JSON.stringify(conf) });
  if (add.exitCode !== 0) return false;
  await runPlugin(ipamPlugin, { env: { ...env, CNI_COMMAND: 'DEL' }, stdin: JSON.stringify(conf) });
  return true;
};
