// Throwaway namespaces and bench agents, always cleaned up. Every netns is named
// tnbench<driver pid>-<tag>; the driver deletes its own at the end of each section, on exit, on
// SIGINT/SIGTERM and on a crash, and sweeps those of dead drivers when it starts. Nothing here
// runs a command in the machine's own netns except `ip netns add/del` (which only create and
// remove namespaces) and the nsenter that starts an agent inside a throwaway one: every other
// `ip` call names its netns with `-n`.
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { Request } from './protocol.js';

export const REPO = fileURLToPath(new URL('../..', import.meta.url)).replace(/\/$/, '');
const NETNS_DIR = '/var/run/netns';
export const PREFIX = `tnbench${process.pid}-`;

const liveNetns = new Set<string>();
const liveAgents = new Set<ChildProcess>();
const liveDirs = new Set<string>();

export const pidAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
};

const listNetns = (): string[] => {
  try {
    return readdirSync(NETNS_DIR);
  } catch {
    return [];
  }
};

const delNetnsSync = (name: string): void => {
  spawnSync('ip', ['netns', 'del', name], { stdio: 'ignore' });
  liveNetns.delete(name);
};

// Namespaces left by a bench driver that is no longer running (killed with -9, machine crash).
export const sweepStale = (): string[] => {
  const swept: string[] = [];
  for (const name of listNetns()) {
    const m = /^tnbench(\d+)-/.exec(name);
    if (m && Number(m[1]) !== process.pid && !pidAlive(Number(m[1]))) {
      delNetnsSync(name);
      swept.push(name);
    }
  }
  return swept;
};

// Everything of this driver: agents first (a netns lives on while a process is in it), then the
// namespaces (their links, bridges and veths die with them), then the temp dirs.
export const cleanupAll = (): void => {
  for (const a of liveAgents) {
    try {
      if (a.pid !== undefined) process.kill(a.pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  liveAgents.clear();
  for (const name of [...liveNetns, ...listNetns().filter((n) => n.startsWith(PREFIX))]) delNetnsSync(name);
  for (const d of liveDirs) rmSync(d, { recursive: true, force: true });
  liveDirs.clear();
};

let hooked = false;
export const installCleanupHooks = (): void => {
  if (hooked) return;
  hooked = true;
  process.on('exit', cleanupAll);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(sig, () => {
      process.stderr.write(`\nbench: ${sig}, cleaning up ${liveNetns.size} namespaces\n`);
      cleanupAll();
      process.exit(130);
    });
  }
  process.on('uncaughtException', (e) => {
    process.stderr.write(`bench: crashed: ${e.stack ?? e}\n`);
    cleanupAll();
    process.exit(1);
  });
  process.on('unhandledRejection', (e) => {
    process.stderr.write(`bench: crashed: ${(e as Error)?.stack ?? e}\n`);
    cleanupAll();
    process.exit(1);
  });
};

export const tempDir = (tag: string): string => {
  const d = mkdtempSync(join(tmpdir(), `tnbench-${tag}-`));
  liveDirs.add(d);
  return d;
};

export const removeDir = (d: string): void => {
  rmSync(d, { recursive: true, force: true });
  liveDirs.delete(d);
};

export const netnsPath = (name: string): string => `${NETNS_DIR}/${name}`;

let counter = 0;
export const addNetns = (tag: string): string => {
  const name = `${PREFIX}${tag}${counter++}`;
  liveNetns.add(name);
  execFileSync('ip', ['netns', 'add', name], { stdio: ['ignore', 'ignore', 'pipe'] });
  return name;
};

export const addNetnsMany = async (tag: string, n: number, parallel = 8): Promise<string[]> => {
  const names = Array.from({ length: n }, () => `${PREFIX}${tag}${counter++}`);
  for (const name of names) liveNetns.add(name);
  for (let i = 0; i < names.length; i += parallel) {
    await Promise.all(names.slice(i, i + parallel).map((name) => run('ip', ['netns', 'add', name])));
  }
  return names;
};

export const delNetns = (name: string): void => delNetnsSync(name);

// A section's `finally`: its agents and runners first (a netns lives on while a process is in
// it), then its namespaces and temp dirs.
export const releaseSection = async (
  processes: readonly { close(): Promise<void> }[],
  namespaces: readonly string[],
  dirs: readonly string[] = [],
): Promise<void> => {
  for (const p of processes) await p.close();
  for (const ns of namespaces) delNetnsSync(ns);
  for (const d of dirs) removeDir(d);
};

export const delNetnsMany = async (names: readonly string[], parallel = 8): Promise<void> => {
  for (let i = 0; i < names.length; i += parallel) {
    await Promise.all(
      names.slice(i, i + parallel).map(async (name) => {
        await run('ip', ['netns', 'del', name], { check: false });
        liveNetns.delete(name);
      }),
    );
  }
};

export const run = (
  file: string,
  args: string[],
  opts: { input?: string; check?: boolean; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<{ code: number; stdout: string; stderr: string }> =>
  new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: ['pipe', 'pipe', 'pipe'], ...(opts.env ? { env: opts.env } : {}) });
    const timer = opts.timeoutMs === undefined ? undefined : setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d;
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d;
    });
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      if ((code ?? 1) !== 0 && opts.check !== false)
        reject(new Error(`${file} ${args.join(' ')}: exit ${code}: ${stderr.trim()}`));
      else resolve({ code: code ?? 1, stdout, stderr });
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(opts.input ?? '');
  });

// `ip` inside a throwaway netns (never the machine's own).
export const ipIn = (
  ns: string,
  args: string[],
  input?: string,
): Promise<{ code: number; stdout: string; stderr: string }> => {
  if (!ns.startsWith(PREFIX)) throw new Error(`refusing to run ip outside a bench netns: ${ns}`);
  return run('ip', ['-n', ns, ...args], input === undefined ? {} : { input });
};

// sysctl inside a throwaway netns (net.* sysctls are per netns).
export const sysctlIn = (ns: string, settings: string[]): Promise<unknown> => {
  if (!ns.startsWith(PREFIX)) throw new Error(`refusing to run sysctl outside a bench netns: ${ns}`);
  return run('nsenter', [`--net=${netnsPath(ns)}`, 'sysctl', '-qw', ...settings]);
};

// Many `ip` commands in one process inside ns (building 1000 tasks' worth of veths).
export const ipBatchIn = (ns: string, lines: string[]): Promise<unknown> =>
  ipIn(ns, ['-batch', '-'], `${lines.join('\n')}\n`);

export const randomMac = (): string =>
  [
    '0e',
    ...Array.from({ length: 5 }, () =>
      Math.floor(Math.random() * 256)
        .toString(16)
        .padStart(2, '0'),
    ),
  ].join(':');

// A fake ENI (docs/architecture.md "Lab stand-ins"): one end of a veth with an ENI-like MAC in `host`, the
// other end in `vpc`, which holds the subnet gateway.
export const makeFakeEni = async (
  host: string,
  vpc: string,
  name: string,
  mac: string,
  gw = '10.0.1.1/24',
): Promise<void> => {
  await ipIn(host, ['link', 'add', name, 'address', mac, 'type', 'veth', 'peer', 'name', 'vpc0', 'netns', vpc]);
  await ipIn(vpc, ['addr', 'add', gw, 'dev', 'vpc0']);
  await ipIn(vpc, ['link', 'set', 'vpc0', 'up']);
};

// A bench agent inside netns `ns`: bench/lib/agent.ts (Node: in-process plugins, CniRuntime) or
// bench/lib/runner.py (the timed execs; see there why not Node). Same protocol.
export class Agent {
  private readonly child: ChildProcess;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  readonly ready: Promise<void>;

  constructor(
    readonly ns: string,
    argv: string[],
    env: NodeJS.ProcessEnv = process.env,
  ) {
    if (!ns.startsWith(PREFIX) || !existsSync(netnsPath(ns))) throw new Error(`no bench netns ${ns}`);
    this.child = spawn('nsenter', [`--net=${netnsPath(ns)}`, ...argv], {
      cwd: REPO,
      env,
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    liveAgents.add(this.child);
    let readyResolve!: () => void;
    let readyReject!: (e: Error) => void;
    this.ready = new Promise((res, rej) => {
      readyResolve = res;
      readyReject = rej;
    });
    this.pending.set(0, { resolve: () => readyResolve(), reject: readyReject });
    createInterface({ input: this.child.stdout! }).on('line', (line) => {
      let msg: { id: number; ok: boolean; result?: unknown; error?: string };
      try {
        msg = JSON.parse(line);
      } catch {
        process.stderr.write(`agent ${ns}: ${line}\n`);
        return;
      }
      const p = this.pending.get(msg.id);
      if (!p) return;
      this.pending.delete(msg.id);
      if (msg.ok) p.resolve(msg.result);
      else p.reject(new Error(`agent ${ns}: ${msg.error}`));
    });
    this.child.on('exit', (code) => {
      liveAgents.delete(this.child);
      for (const p of this.pending.values()) p.reject(new Error(`agent in ${ns} exited (${code})`));
      this.pending.clear();
    });
  }

  request<T>(req: Request): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.child.stdin!.write(`${JSON.stringify({ id, req })}\n`);
    });
  }

  async close(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise((r) => this.child.once('exit', r));
    this.child.stdin!.end();
    await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))]);
    if (this.child.exitCode === null && this.child.pid !== undefined) this.child.kill('SIGKILL');
    liveAgents.delete(this.child);
  }
}

export const startAgent = async (ns: string, env: NodeJS.ProcessEnv = process.env): Promise<Agent> => {
  const a = new Agent(ns, [process.execPath, '--import=tsx', join(REPO, 'bench/lib/agent.ts')], env);
  await a.ready;
  return a;
};

// The interpreter for bench/lib/runner.py: the system python3 (its subprocess uses vfork);
// undefined when there is none, and the Node agent times the execs instead.
export const PYTHON = ['/usr/bin/python3', '/usr/local/bin/python3'].find((p) => existsSync(p));

export const runnerKind = PYTHON
  ? `python3 runner (${PYTHON}, subprocess with vfork)`
  : 'Node agent (python3 not found: fork() cost of a Node parent included)';

export const startRunner = async (ns: string): Promise<Agent> => {
  if (!PYTHON) return startAgent(ns);
  const a = new Agent(ns, [PYTHON, '-u', join(REPO, 'bench/lib/runner.py')]);
  await a.ready;
  return a;
};

export interface EniPair {
  ourHost: string;
  goHost: string;
  ourMac: string;
  goMac: string;
  /** Every netns made, for the section's clean-up. */
  namespaces: string[];
}

// The set-up of every section that moves an ENI: per side a test host netns holding a fake ENI
// (`eth1`, an ENI-like MAC) whose peer sits in a VPC netns of its own.
export async function makeEniPair(prefix: string): Promise<EniPair> {
  const ourHost = addNetns(`${prefix}-ours`);
  const goHost = addNetns(`${prefix}-go`);
  const ourVpc = addNetns(`${prefix}-vpc`);
  const goVpc = addNetns(`${prefix}-vpc`);
  const ourMac = randomMac();
  const goMac = randomMac();
  await makeFakeEni(ourHost, ourVpc, 'eth1', ourMac);
  await makeFakeEni(goHost, goVpc, 'eth1', goMac);
  return { ourHost, goHost, ourMac, goMac, namespaces: [ourHost, goHost, ourVpc, goVpc] };
}
