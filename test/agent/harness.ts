// A tasknet lab per test: its own lab name (so test files run in parallel), its own state dir,
// the agent running inside the lab's host netns, exactly as `tasknet lab up` makes it. Everything
// goes in teardown, also when the test fails: `tasknet lab down`, then a brute-force sweep with
// plain `ip` and kill (never src/ code, so a bug under test cannot break the clean-up).
import type { Test } from 'tap';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { childPids } from '../../src/agent/runtime/process/process-ref.js';
import { onProcessEnd, pidAlive } from '../helpers/process-end.js';

export const ROOT = resolve(import.meta.dirname, '../..');
export const TASKNET = join(ROOT, 'bin/tasknet');
export const DEMO = join(ROOT, 'examples/demo');

export const needsRoot: string | false = process.getuid?.() === 0 ? false : 'needs root (creates network namespaces)';

export interface Teardown {
  teardown(fn: () => unknown): void;
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
  json: any;
}

export interface Lab {
  prefix: string;
  stateDir: string;
  hostNs: string;
  vpcNs: string;
  // tasknet with --state-dir; rejects nothing: the test asserts on code and output.
  tn(args: string[], opts?: { timeoutMs?: number }): Promise<CliResult>;
  run(taskdef: string | object, extra?: string[]): Promise<any>; // run --json, asserting success
  killAgent(signal?: NodeJS.Signals): Promise<void>;
  startAgent(extra?: string[], opts?: { nofile?: number }): Promise<number>;
  agentPid(): number | undefined;
  agentLog(): string;
  taskFile(id: string): any;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export const tasknet = (
  args: string[],
  { timeoutMs = 120_000, env }: { timeoutMs?: number; env?: NodeJS.ProcessEnv } = {},
): Promise<CliResult> =>
  new Promise((done) => {
    // The launcher itself, as a user runs it (its shebang drops NODE_EXTRA_CA_CERTS, ~45 ms).
    const child = spawn(TASKNET, args, { cwd: ROOT, env: env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d;
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      let json: any;
      try {
        json = stdout.trim() ? JSON.parse(stdout) : undefined;
      } catch {
        /* not JSON */
      }
      done({ code: code ?? -1, stdout, stderr, json });
    });
  });

const isAlive = (pid: number | undefined): boolean => {
  if (!pid) return false;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/\) [ZX] /.test(stat);
  } catch {
    return false;
  }
};

// Every pid whose netns is the given netns file.
export const pidsIn = (netnsPath: string): number[] => {
  let ino: number;
  try {
    ino = statSync(netnsPath).ino;
  } catch {
    return [];
  }
  return readdirSync('/proc')
    .filter((n) => /^\d+$/.test(n))
    .map(Number)
    .filter((pid) => {
      try {
        return statSync(`/proc/${pid}/ns/net`).ino === ino && pid !== process.pid;
      } catch {
        return false;
      }
    });
};

// The agent's own processes: itself and the shell that forks its `ip` children
// (src/netlink/spawn-server.ts), with that shell's children while they run.
export const agentProcesses = (agentPid: number): number[] => {
  const shells = childPids(agentPid).filter((pid) => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('tasknet-spawner');
    } catch {
      return false;
    }
  });
  return [agentPid, ...shells];
};

// Running (not gone, not a zombie waiting to be reaped).
const running = (pid: number): boolean => {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
};

// SIGKILL, then wait (synchronously: exit hooks cannot await) until the processes are dead, so
// their mounts and netns references are released before what they held is removed.
const killAndWait = (pids: number[]): void => {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  const pause = new Int32Array(new SharedArrayBuffer(4));
  for (let i = 0; i < 500 && pids.some(running); i++) Atomics.wait(pause, 0, 0, 20);
};

const sweep = (prefix: string, stateDir: string): void => {
  const taskIds = (() => {
    try {
      return readdirSync(join(stateDir, 'tasks'));
    } catch {
      return [];
    }
  })();
  for (const ns of [...taskIds.map((id) => `tasknet-${id}`), `${prefix}-vpc`, `${prefix}-lab`]) {
    killAndWait(pidsIn(`/var/run/netns/${ns}`));
    spawnSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
  }
  // A lab engine's processes (containerd, shims) and mounts (image layers, netns files).
  killAndWait(
    readdirSync('/proc')
      .filter((n) => /^\d+$/.test(n) && Number(n) !== process.pid)
      .map(Number)
      .filter((pid) => {
        try {
          return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(stateDir);
        } catch {
          return false;
        }
      }),
  );
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4] ?? '')
    .filter((m) => m.startsWith(`${stateDir}/`))
    .sort((a, b) => b.length - a.length);
  for (const m of mounts) spawnSync('umount', ['-l', m], { stdio: 'ignore' });
  rmSync(stateDir, { recursive: true, force: true });
};

// The task definitions of the demo for the process runtime (image "local", host commands).
export const PROCESS_DEMO = join(DEMO, 'process');

// Labs not torn down yet, swept when the test process ends without its teardown. A SIGKILLed
// process's labs are swept by the next test process that loads this file: their state
// dirs carry the owner's pid (tasknet-test-<prefix>-<pid>-XXXXXX).
const liveLabs = new Map<string, string>();
const sweepLiveLabs = (): void => {
  for (const [prefix, stateDir] of liveLabs) sweep(prefix, stateDir);
  liveLabs.clear();
};
onProcessEnd(sweepLiveLabs);

const STATE_DIR_NAME = /^tasknet-test-(tn[0-9a-f]{6})-(\d+)-/;
for (const name of readdirSync(tmpdir())) {
  const m = STATE_DIR_NAME.exec(name);
  if (m && !pidAlive(Number(m[2]))) sweep(m[1]!, join(tmpdir(), name));
}

export const makeLab = async (
  t: Teardown,
  {
    enis = 2,
    chain,
    blockImds = false,
    runtime = 'process',
  }: { enis?: number; chain?: string; blockImds?: boolean; runtime?: 'engine' | 'process' } = {},
): Promise<Lab> => {
  const prefix = `tn${randomBytes(3).toString('hex')}`;
  const stateDir = mkdtempSync(join(tmpdir(), `tasknet-test-${prefix}-${process.pid}-`));
  liveLabs.set(prefix, stateDir);
  const hostNs = `${prefix}-lab`;
  const vpcNs = `${prefix}-vpc`;
  const tn = (args: string[], opts: { timeoutMs?: number } = {}) =>
    tasknet([args[0]!, '--state-dir', stateDir, ...args.slice(1)], opts);
  t.teardown(async () => {
    await tn(['lab', 'down'], { timeoutMs: 60_000 });
    sweep(prefix, stateDir);
    liveLabs.delete(prefix);
  });
  const up = await tn(
    [
      'lab',
      'up',
      '--lab',
      prefix,
      '--enis',
      String(enis),
      '--json',
      '--runtime',
      runtime,
      ...(chain ? ['--chain', chain] : []),
      ...(blockImds ? ['--block-instance-metadata'] : []),
    ],
    { timeoutMs: 180_000 },
  );
  if (up.code !== 0) throw new Error(`lab up failed: ${up.stderr}`);
  const pidFile = join(stateDir, 'agent.pid');
  const agentPid = (): number | undefined => {
    try {
      return (JSON.parse(readFileSync(pidFile, 'utf8')) as { pid: number }).pid;
    } catch {
      return undefined;
    }
  };
  const lab: Lab = {
    prefix,
    stateDir,
    hostNs,
    vpcNs,
    tn,
    async run(taskdef, extra = []) {
      const file = typeof taskdef === 'string' ? taskdef : writeTaskdef(stateDir, taskdef);
      const r = await tn(['run', file, '--eni', 'auto', '--json', ...extra]);
      if (r.code !== 0) throw new Error(`tasknet run failed (${r.code}): ${r.stderr}`);
      return r.json;
    },
    async killAgent(signal = 'SIGKILL') {
      const pid = agentPid();
      if (!pid) return;
      process.kill(pid, signal);
      for (let i = 0; i < 500 && isAlive(pid); i++) await sleep(10);
    },
    async startAgent(extra = [], { nofile }: { nofile?: number } = {}) {
      const log = join(stateDir, 'agent.log');
      const limit = nofile ? `prlimit --nofile=${nofile}:${nofile} ` : '';
      const child = spawn(
        'sh',
        [
          '-c',
          `exec ${limit}nsenter --net=/var/run/netns/${hostNs} "$@" >>${log} 2>&1`,
          'sh',
          TASKNET,
          'agent',
          '--state-dir',
          stateDir,
          '--lab-credentials',
          '--runtime',
          runtime,
          ...(runtime === 'engine' ? ['--engine-socket', join(stateDir, 'engine', 'docker.sock')] : []),
          ...(chain ? ['--chain', chain] : []),
          ...extra,
        ],
        {
          detached: true,
          stdio: 'ignore',
        },
      );
      child.unref();
      for (let i = 0; i < 300; i++) {
        const health = await tn(['ls', '--json'], { timeoutMs: 5000 });
        if (health.code === 0) return agentPid()!;
        await sleep(50);
      }
      throw new Error(`agent did not start: ${lab.agentLog()}`);
    },
    agentPid,
    agentLog: () => (existsSync(join(stateDir, 'agent.log')) ? readFileSync(join(stateDir, 'agent.log'), 'utf8') : ''),
    taskFile: (id) => JSON.parse(readFileSync(join(stateDir, 'tasks', id, 'task.json'), 'utf8')),
  };
  return lab;
};

let taskdefs = 0;
// Task definitions made by a test go to files in the state dir (the lab removes them).
export const writeTaskdef = (dir: string, def: object): string => {
  const file = join(dir, `taskdef-${process.pid}-${++taskdefs}.json`);
  writeFileSync(file, JSON.stringify(def), { mode: 0o600 });
  return file;
};

// A minimal valid task definition around some containers.
export const taskdef = (family: string, containers: object[], extra: object = {}): object => ({
  family,
  networkMode: 'awsvpc',
  taskRoleArn: `arn:aws:iam::123456789012:role/${family}`,
  containerDefinitions: containers,
  ...extra,
});

// A container for the process runtime (image "local": a host command).
export const container = (name: string, command: string[], extra: object = {}): object => ({
  name,
  image: 'local',
  command,
  ...extra,
});

export const ip = (...args: string[]): string => execFileSync('ip', args, { encoding: 'utf8' });
export const ipJson = (...args: string[]): any[] => JSON.parse(ip('-j', ...args) || '[]');
export const netnsList = (): string[] => (existsSync('/var/run/netns') ? readdirSync('/var/run/netns') : []);
export const linkNames = (ns: string): string[] =>
  ipJson('-n', ns, 'link')
    .map((l) => l.ifname)
    .sort();

// Runs a program in a netns; returns its exit code and output (never throws).
export const inNetns = (ns: string, argv: string[], timeoutMs = 10_000): { code: number; out: string } => {
  const r = spawnSync('nsenter', [`--net=/var/run/netns/${ns}`, ...argv], { encoding: 'utf8', timeout: timeoutMs });
  return { code: r.status ?? -1, out: `${r.stdout ?? ''}${r.stderr ?? ''}` };
};

// An HTTP GET from inside a task (tasknet exec), printing "STATUS BODY"; node is on every lab host.
// argv: URL [TIMEOUT_MS]. 2 s by default, for the checks that expect no answer; one that expects
// an answer gives a long bound, so a loaded machine does not turn a slow 200 into a failure.
export const FETCH =
  'const u=process.argv[1];fetch(u,{signal:AbortSignal.timeout(Number(process.argv[2]??2000))}).then(async r=>{console.log(r.status+" "+await r.text());process.exit(0)},e=>{console.log("ERR "+(e.cause?.code??e.message));process.exit(1)})';

export const fetchInTask = async (
  lab: Lab,
  taskId: string,
  url: string,
  container?: string,
  timeoutMs = 2000,
): Promise<{ status: number; body: string }> => {
  const r = await lab.tn([
    'exec',
    taskId,
    ...(container ? ['--container', container] : []),
    '--',
    'node',
    '-e',
    FETCH,
    url,
    String(timeoutMs),
  ]);
  const line = r.stdout.trim();
  const [status, ...rest] = line.split(' ');
  return { status: status === 'ERR' ? 0 : Number(status), body: rest.join(' ') || r.stderr.trim() };
};

export const waitFor = async (
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs = 10_000,
): Promise<void> => {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
};

// The lab is back to how `lab up` made it: no task netns, every ENI back in the host netns, no
// port on ecs-bridge, no pinned bridge address, no task record, no cached CNI result.
export const assertClean = (
  t: Pick<Test, 'same' | 'equal' | 'ok'>,
  lab: Lab,
  taskIds: string[],
  enis: number,
): void => {
  const netns = netnsList();
  t.same(
    taskIds.filter((id) => netns.includes(`tasknet-${id}`)),
    [],
    'no task netns left',
  );
  const links = linkNames(lab.hostNs);
  const expected = Array.from({ length: enis }, (_, i) => `eni${i}`);
  t.same(
    expected.filter((e) => !links.includes(e)),
    [],
    'every ENI is back in the host netns',
  );
  const ports = ipJson('-n', lab.hostNs, 'link')
    .filter((l) => l.master === 'ecs-bridge')
    .map((l) => l.ifname);
  t.same(ports, [], 'no veth left on ecs-bridge');
  const pins = links.includes('ecs-bridge')
    ? ipJson('-n', lab.hostNs, 'neigh', 'show', 'dev', 'ecs-bridge')
        .filter((n) => (n.state ?? []).includes('PERMANENT'))
        .map((n) => n.dst)
    : [];
  t.same(pins, [], 'no bridge address pinned to a MAC');
  t.same(readdirSync(join(lab.stateDir, 'tasks')), [], 'no task record left');
  const results = join(lab.stateDir, 'cni', 'results');
  t.same(existsSync(results) ? readdirSync(results) : [], [], 'no cached CNI result left');
  for (const id of taskIds)
    t.same(pidsIn(`/var/run/netns/tasknet-${id}`), [], `no process left in task ${id.slice(0, 8)}`);
  t.same(ipamLeases(lab), [], 'no bridge address leased');
};

// Addresses ecs-ipam holds in the lab's store (docs/ipam-store.md: one file per leased address).
export const ipamLeases = (lab: Lab): string[] => {
  const pool = join(lab.stateDir, 'ipam', 'tasknet-bridge', '169.254.172.0_22');
  return existsSync(pool) ? readdirSync(pool).filter((n) => /^\d+\.\d+\.\d+\.\d+$/.test(n)) : [];
};
