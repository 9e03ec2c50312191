// Spawning `ip` (and nsenter/sysctl) in a target netns, counting every process, and turning
// failures into IpError. Node cannot setns() its own thread, so a netns is always entered by the
// child: `ip -n NAME` for names, `nsenter --net=PATH` for files.
import { spawn, spawnSync, type StdioOptions } from 'node:child_process';
import type * as z from 'zod/mini';
import { commandFailed, IpError } from './errors.js';
import { validateNetnsName, validateNetnsPath } from './validate.js';

/** undefined = this process's netns; '/...' = a netns file; anything else = a name under /var/run/netns. */
export type NetnsRef = string | undefined;

/** Where iproute2 keeps named netns (NETNS_RUN_DIR). */
export const NETNS_RUN_DIR = '/var/run/netns';

export interface ExecResult {
  exitCode: number;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

export interface ExecOptions {
  input?: string;
  timeout?: number;
}

let spawned = 0;
const hooks = new Set<IpCallHook>();

/** How a child is started; every way gives the same ExecResult (test/netlink/spawn-modes.test.ts). */
export type ChildStarter = (file: string, args: string[], opts: ExecOptions) => Promise<ExecResult>;

// Asynchronous spawn() unless a process chooses otherwise: an exec'd plugin waits with spawnSync
// (useBlockingSpawn); the agent has a spawn server fork its children (spawn-server.ts's
// useSpawnServer, which this module does not import, so that no plugin bundle carries it).
let start: ChildStarter = (file, args, opts) => spawnAsync(file, args, opts);

export function useChildStarter(starter: ChildStarter): void {
  start = starter;
}

// An exec'd plugin is one CNI call in a process of its own: nothing else runs while its `ip`
// works, so it waits for its children with spawnSync, which needs none of the pipes' stream
// machinery (the first async spawn of a fresh Node costs ~4 ms more than a blocking one,
// measured). Its main.ts turns this on; the agent, which serves many things at once and runs the
// plugins in-process, keeps its loop free.
export function useBlockingSpawn(): void {
  start = (file, args, opts) => Promise.resolve(spawnBlocking(file, args, opts));
}

// What ip prints for a big host (-d link dumps of thousands of links) stays well below this.
const MAX_OUTPUT_BYTES = 256 * 1024 * 1024;

// Benchmarks and tests read this to prove batching works and refused input spawned nothing.
export function ipCalls(): number {
  return spawned;
}

// Sees a command as it starts; what it returns, if anything, is called with the result and the
// time the caller's thread was blocked starting the child.
export type IpCallHook = (
  argv: readonly string[],
  input: string | undefined,
  // biome-ignore lint/suspicious/noConfusingVoidType: a hook that needs no end callback returns nothing
) => void | ((result: ExecResult, blockedMs: number) => void);

// Lets a benchmark or a debug log see every command; returns the function that removes the hook.
export function onIpCall(hook: IpCallHook): () => void {
  hooks.add(hook);
  return () => hooks.delete(hook);
}

// A netns as ip's `netns` argument takes it: a name (in /var/run/netns) or a file; ip opens either.
export function netnsArg(ns: string): string {
  return ns.startsWith('/') ? validateNetnsPath(ns) : validateNetnsName(ns);
}

// Checks a NetnsRef up front, so a batch refuses a bad target before it collects commands.
export function validateNetnsRef(ns: NetnsRef): NetnsRef {
  return ns === undefined ? ns : netnsArg(ns);
}

// The file that stands for a netns, for `nsenter --net=` and for ip's `netns` argument.
export function netnsPath(ns: string): string {
  return ns.startsWith('/') ? validateNetnsPath(ns) : `${NETNS_RUN_DIR}/${validateNetnsName(ns)}`;
}

// This process's own netns as a file, so a link can be sent back "here" from inside another netns
// (`/proc/self` would name the child's netns, not ours).
export function currentNetns(): string {
  return `/proc/${process.pid}/ns/net`;
}

// Any command run inside ns: nsenter for names and paths alike (cheaper than `ip netns exec`,
// which also remounts /sys).
export function nsArgv(ns: NetnsRef, command: readonly string[]): string[] {
  return ns === undefined ? [...command] : ['nsenter', `--net=${netnsPath(ns)}`, ...command];
}

// An iproute2 tool inside ns: `ip -n NAME` (and `bridge -n NAME`) needs no extra process; paths
// go through nsenter.
export function iproute2Argv(tool: 'ip' | 'bridge', ns: NetnsRef, args: readonly string[]): string[] {
  if (ns === undefined) return [tool, ...args];
  if (!ns.startsWith('/')) return [tool, '-n', validateNetnsName(ns), ...args];
  return nsArgv(ns, [tool, ...args]);
}

export function ipArgv(ns: NetnsRef, args: readonly string[]): string[] {
  return iproute2Argv('ip', ns, args);
}

// The single place a process is started, so the counter and hooks see every one. Plain
// child_process rather than execa: this runs in every plugin process, where execa's bundle costs
// ~24 ms of start-up and ~1.5 ms per call (measured), for features a one-shot `ip` does not need.
export function spawnCounted(argv: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
  const [file, ...args] = argv;
  if (file === undefined) throw new IpError('invalid', 'empty command');
  spawned++;
  if (hooks.size === 0) return start(file, args, opts);
  const ends = [...hooks].flatMap((hook) => hook(argv, opts.input) ?? []);
  const t0 = performance.now();
  const result = start(file, args, opts);
  const blockedMs = performance.now() - t0;
  return result.then((r) => {
    for (const end of ends) end(r, blockedMs);
    return r;
  });
}

// Node's own spawn(), waited for asynchronously.
export const spawnAsync = (file: string, args: string[], opts: ExecOptions): Promise<ExecResult> =>
  new Promise((resolve) => {
    const child = spawn(file, args, childOptions(opts));
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    const timer =
      opts.timeout === undefined
        ? undefined
        : setTimeout(() => {
            timedOut = true;
            child.kill('SIGKILL');
          }, opts.timeout);
    child.stdout!.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr!.on('data', (chunk: Buffer) => err.push(chunk));
    const text = (chunks: Buffer[]): string => trimmed(Buffer.concat(chunks).toString());
    child.on('error', (error) => {
      clearTimeout(timer);
      resolve({ exitCode: -1, stdout: '', stderr: `${file}: ${error.message}`, timedOut });
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ exitCode: code ?? -1, stdout: text(out), stderr: text(err), timedOut });
    });
    if (opts.input !== undefined) {
      child.stdin!.on('error', () => {
        /* ip exited before reading all of a batch: its stderr says why */
      });
      child.stdin!.end(opts.input);
    }
  });

// What both ways of starting a child share: C messages (the error classifier reads them), and
// stdin only when there is input.
const childOptions = (opts: ExecOptions): { env: NodeJS.ProcessEnv; stdio: StdioOptions } => ({
  env: { ...process.env, LC_ALL: 'C' },
  stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
});

// ip's output has one trailing newline; callers compare values, so drop it (as execa did).
export const trimmed = (text: string): string => text.replace(/\r?\n$/, '');

function spawnBlocking(file: string, args: string[], opts: ExecOptions): ExecResult {
  const r = spawnSync(file, args, {
    ...childOptions(opts),
    input: opts.input,
    timeout: opts.timeout,
    killSignal: 'SIGKILL',
    maxBuffer: MAX_OUTPUT_BYTES,
    encoding: 'utf8',
  });
  const timedOut = (r.error as NodeJS.ErrnoException | undefined)?.code === 'ETIMEDOUT';
  if (r.error && !timedOut) return { exitCode: -1, stdout: '', stderr: `${file}: ${r.error.message}`, timedOut };
  return { exitCode: r.status ?? -1, stdout: trimmed(r.stdout ?? ''), stderr: trimmed(r.stderr ?? ''), timedOut };
}

// Runs one iproute2 command in ns and returns its stdout, or throws the classified IpError.
export async function runIproute2(
  tool: 'ip' | 'bridge',
  args: readonly string[],
  ns: NetnsRef,
  opts: ExecOptions = {},
): Promise<string> {
  const argv = iproute2Argv(tool, ns, args);
  const r = await spawnCounted(argv, opts);
  if (r.exitCode !== 0) throw commandFailed(argv, r.stderr, r.exitCode);
  return r.stdout;
}

export function runIp(args: readonly string[], ns: NetnsRef, opts: ExecOptions = {}): Promise<string> {
  return runIproute2('ip', args, ns, opts);
}

// `ip -j` output through a zod schema; an empty dump may print nothing at all instead of [].
export async function queryIp<T>(args: readonly string[], ns: NetnsRef, schema: z.ZodMiniType<T[]>): Promise<T[]> {
  const stdout = await runIp(args, ns);
  if (stdout.trim() === '') return [];
  let json: unknown;
  try {
    json = JSON.parse(stdout);
  } catch (cause) {
    throw new IpError('unknown', `ip ${args.join(' ')}: output is not JSON`, { argv: ipArgv(ns, args), cause });
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    throw new IpError('unknown', `ip ${args.join(' ')}: unexpected JSON: ${parsed.error.message}`, {
      argv: ipArgv(ns, args),
      cause: parsed.error,
    });
  }
  return parsed.data;
}
