// The plugins' debug timing (docs/plugin-logs.md): at level debug, each built executable logs one
// line per phase of a call with its duration, then the total; at info, none of it. Run as a
// runtime runs them: the executables of bin/, in throwaway namespaces, logging to ECS_CNI_LOG_FILE.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { needsRoot } from '../helpers/netns.js';
import { makeBridgeLab } from './bridge/harness.js';
import { cniExec, makeLab, REPO, vpcConfig } from './eni/lab.js';

const built = ['ecs-eni', 'ecs-bridge', 'ecs-ipam'].every((n) => existsSync(`${REPO}dist/${n}.full.cjs`))
  ? false
  : 'needs `npm run build`';
const skip = needsRoot || built;

interface Phase {
  name: string;
  ms: number;
}
interface Timing {
  phases: Phase[];
  total: { ms: number; count: number; result: string; cache: string | undefined } | undefined;
}

const LINE =
  /^\S+ \[DEBUG\] (\S+) (ADD|DEL|CHECK|STATUS|GC) (?:phase=([a-z-]+) ms=(\S+)|total ms=(\S+) phases=(\d+) result=(ok|error code=\d+)(?: code-cache=([a-z]+))?)$/;

// The timing lines of one plugin and verb in a log.
const timing = (log: string, plugin: string, verb: string): Timing => {
  const out: Timing = { phases: [], total: undefined };
  for (const line of log.split('\n')) {
    const m = LINE.exec(line);
    if (!m || m[1] !== plugin || m[2] !== verb) continue;
    if (m[3] !== undefined) out.phases.push({ name: m[3], ms: Number(m[4]) });
    else out.total = { ms: Number(m[5]), count: Number(m[6]), result: m[7]!, cache: m[8] };
  }
  return out;
};

// The phases in order, each a non-negative number of ms with three decimals, and a total that is
// at least their sum (less a rounding margin) and counts them.
const assertTiming = (t: Test, log: string, plugin: string, verb: string, names: string[]): void => {
  const { phases, total } = timing(log, plugin, verb);
  t.same(
    phases.map((p) => p.name),
    names,
    `${plugin} ${verb}: one line per phase, in order`,
  );
  for (const p of phases)
    t.ok(Number.isFinite(p.ms) && p.ms >= 0, `${plugin} ${verb} ${p.name}: ${p.ms} ms is a duration`);
  t.match(log, new RegExp(`\\] ${plugin} ${verb} phase=[a-z-]+ ms=\\d+\\.\\d{3}\\n`), 'ms with three decimals');
  t.ok(total, `${plugin} ${verb}: a total line`);
  t.equal(total?.count, phases.length, 'it counts the phases');
  t.equal(total?.result, 'ok');
  t.equal(total?.cache, 'used', 'the built executable ran with its V8 code cache (src/cni/code-cache.ts)');
  const sum = phases.reduce((a, p) => a + p.ms, 0);
  t.ok(
    total !== undefined && total.ms + 0.01 * phases.length >= sum,
    `total ${total?.ms} ms covers the phases (${sum.toFixed(3)} ms)`,
  );
};

const logDir = (t: Test): string => {
  const dir = mkdtempSync(join(tmpdir(), 'tasknet-phase-log-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
};
const read = (file: string): string => (existsSync(file) ? readFileSync(file, 'utf8') : '');

// The env of a call at a level, logging to `file` (the lab helpers copy process.env for ecs-eni).
const withLevel = async <T>(level: string, file: string, fn: () => Promise<T>): Promise<T> => {
  const saved = { ...process.env };
  delete process.env.TASKNET_LOG_LEVEL;
  process.env.ECS_CNI_LOGLEVEL = level;
  process.env.ECS_CNI_LOG_FILE = file;
  try {
    return await fn();
  } finally {
    for (const key of ['TASKNET_LOG_LEVEL', 'ECS_CNI_LOGLEVEL', 'ECS_CNI_LOG_FILE']) {
      if (saved[key] === undefined) delete process.env[key];
      else process.env[key] = saved[key];
    }
  }
};

const SKEL = ['env', 'config-decode', 'load'];

t.test('ecs-eni at debug: the phases of ADD and DEL, and the total', { skip }, async (t) => {
  const lab = await makeLab(t);
  const file = join(logDir(t), 'eni.log');
  const config = vpcConfig(lab, { blockInstanceMetadata: true });
  await withLevel('debug', file, async () => {
    t.equal((await cniExec('ADD', lab, config)).exitCode, 0, 'ADD');
    t.equal((await cniExec('DEL', lab, config)).exitCode, 0, 'DEL');
  });
  const log = read(file);
  assertTiming(t, log, 'ecs-eni', 'ADD', [
    ...SKEL,
    'config',
    'netns-check',
    'eni-find',
    'routes-read',
    'eni-move',
    'address-route-set',
    'result',
  ]);
  assertTiming(t, log, 'ecs-eni', 'DEL', [...SKEL, 'config', 'netns-check', 'eni-find', 'eni-give-back']);
});

t.test("ecs-bridge at debug: its phases, and ecs-ipam's inside its IPAM delegation", { skip }, async (t) => {
  const lab = await makeBridgeLab(t, { cniVersion: '1.0.0' });
  const file = join(logDir(t), 'bridge.log');
  const env = { ECS_CNI_LOGLEVEL: 'debug', ECS_CNI_LOG_FILE: file };
  t.equal((await lab.exec('ADD', lab.config(), env)).exitCode, 0, 'ADD');
  t.equal((await lab.exec('DEL', lab.config(), env)).exitCode, 0, 'DEL');
  const log = read(file);
  assertTiming(t, log, 'ecs-bridge', 'ADD', [
    ...SKEL,
    'config',
    'netns-check',
    'veth-create',
    'ipam-delegate',
    'bridge-ensure',
    'address-route-set',
    'result',
  ]);
  assertTiming(t, log, 'ecs-bridge', 'DEL', [...SKEL, 'config', 'netns-check', 'ipam-delegate', 'veth-delete']);
  // ecs-ipam ran in-process (CNI_PATH has our launcher): its own lines, before ecs-bridge's ipam-delegate.
  assertTiming(t, log, 'ecs-ipam', 'ADD', [...SKEL, 'config', 'store-open', 'store-lock', 'store-write', 'result']);
  assertTiming(t, log, 'ecs-ipam', 'DEL', [...SKEL, 'config', 'store-open', 'store-lock', 'store-write']);
  t.ok(
    log.indexOf('ecs-ipam ADD total') < log.indexOf('ecs-bridge ADD phase=ipam-delegate'),
    "the delegate's total comes before the delegation phase ends",
  );
});

// ecs-ipam alone, as its own executable: it needs no netns.
const ipamExec = (command: string, dataDir: string, env: Record<string, string>): Promise<number> =>
  new Promise((done) => {
    const child = spawn(`${REPO}bin/ecs-ipam`, [], {
      env: {
        PATH: process.env.PATH,
        CNI_COMMAND: command,
        CNI_CONTAINERID: 'phase-1',
        CNI_NETNS: '/var/run/netns/none',
        CNI_IFNAME: 'eth0',
        ...env,
      },
      stdio: ['pipe', 'ignore', 'inherit'],
    });
    child.on('close', (code) => done(code ?? 1));
    child.stdin.end(
      JSON.stringify({
        cniVersion: '1.0.0',
        name: 'phase-log',
        type: 'ecs-ipam',
        ipam: { type: 'ecs-ipam', 'ipv4-subnet': '169.254.172.0/22', dataDir },
      }),
    );
  });

t.test("ecs-ipam at debug: the phases of ADD and DEL, and a failed call's total", { skip: built }, async (t) => {
  const dir = logDir(t);
  const file = join(dir, 'ipam.log');
  const env = { ECS_CNI_LOGLEVEL: 'debug', ECS_CNI_LOG_FILE: file };
  t.equal(await ipamExec('ADD', join(dir, 'store'), env), 0, 'ADD');
  t.equal(await ipamExec('DEL', join(dir, 'store'), env), 0, 'DEL');
  const log = read(file);
  assertTiming(t, log, 'ecs-ipam', 'ADD', [...SKEL, 'config', 'store-open', 'store-lock', 'store-write', 'result']);
  assertTiming(t, log, 'ecs-ipam', 'DEL', [...SKEL, 'config', 'store-open', 'store-lock', 'store-write']);

  const failed = join(dir, 'failed.log');
  t.equal(await ipamExec('ADD', 'relative/dir', { ...env, ECS_CNI_LOG_FILE: failed }), 1, 'a bad dataDir fails');
  const bad = timing(read(failed), 'ecs-ipam', 'ADD');
  t.same(
    bad.phases.map((p) => p.name),
    SKEL,
    'the phases up to the failure',
  );
  t.match(bad.total, { count: 3, result: 'error code=7' }, 'the total says the call failed, and its code');
});

t.test('at info (and the default, warn): no phase lines, no total', { skip }, async (t) => {
  const dir = logDir(t);
  for (const level of ['info', 'warn']) {
    const file = join(dir, `${level}.log`);
    const lab = await makeLab(t);
    await withLevel(level, file, async () => {
      t.equal((await cniExec('ADD', lab, vpcConfig(lab))).exitCode, 0);
      t.equal((await cniExec('DEL', lab, vpcConfig(lab))).exitCode, 0);
    });
    const bridge = await makeBridgeLab(t, { cniVersion: '1.0.0' });
    const env = { ECS_CNI_LOGLEVEL: level, ECS_CNI_LOG_FILE: file };
    t.equal((await bridge.exec('ADD', bridge.config(), env)).exitCode, 0);
    t.equal((await bridge.exec('DEL', bridge.config(), env)).exitCode, 0);
    t.equal(await ipamExec('ADD', join(dir, `store-${level}`), env), 0);
    t.equal(await ipamExec('DEL', join(dir, `store-${level}`), env), 0);
    t.notMatch(read(file), /phase=|total ms=/, `${level}: no timing lines`);
  }
});
