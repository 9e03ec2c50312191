// The agent's `ip`, `bridge` and `nsenter` children, forked by a small shell instead of by Node.
//
// Node's spawn() blocks the event loop until the child has exec'd: libuv forks the whole agent and
// waits for the exec, 4-10 ms per child on a 2-core VM (bench section 9), during which the agent
// serves nobody, its credentials endpoint included. A task's network is five such children, and
// 250 tasks starting together are over a thousand. Here one bash, started once, forks them: the
// agent writes two lines and reads two back, and its loop is blocked for ~0.1 ms per child.
//
// Each child is still a fresh process, as with spawn(): nothing carries over from one to the next
// (a long-lived `ip -batch` would keep ip's cache of link names; test/netlink/long-lived-ip.test.ts).
//
// Protocol, over the shell's stdin and stdout (every argument single-quoted; a line each):
//   agent:  "ID 0|1"   (1: the child's stdin is the file ID.in)      shell: "ID pid PID"
//           "ARGV"     (the command, quoted)                          shell: "ID exit CODE"
// The child's stdout and stderr go to ID.out and ID.err in a directory of its own under
// /run/tasknet-spawn (root's alone: a file system others can fill would truncate what ip prints,
// and ip exits 0 when its writes fail), read and removed when its exit line comes. Lines from
// concurrent children interleave whole: each is one write() of less than PIPE_BUF. When the agent
// goes away the shell reads EOF, waits for the children still running, removes its directory and
// exits, starting nothing the agent asked for before it died (as spawn() would not have: the shell
// checks, before each child, that it has not been handed to another parent); a
// directory left by a killed shell is removed by the next server of the same pid
// namespace (the agent's pid is in its name). bash, not dash: bash reaps a finished subshell as
// soon as it ends, while dash leaves it a zombie until its next command.
import { spawn, type ChildProcess } from 'node:child_process';
import {
  accessSync,
  constants,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { delimiter, join } from 'node:path';
import { spawnAsync, trimmed, useChildStarter, type ExecOptions, type ExecResult } from './run.js';

const SCRIPT = `d=$1
while IFS=' ' read -r id input && IFS= read -r argv; do
  read -r _ _ _ parent _ </proc/$$/stat && [ "$parent" = "$PPID" ] || break
  stdin=/dev/null
  [ "$input" = 1 ] && stdin="$d/$id.in"
  ( eval "$argv" <"$stdin" >"$d/$id.out" 2>"$d/$id.err" & echo "$id pid $!"; wait $!; echo "$id exit $?" ) &
done
wait
rm -rf "$d"`;

const BASE = '/run/tasknet-spawn';

// A child whose pid line has not come by then never will: bash retries a failed fork for ~15 s,
// then drops the command, and a stopped shell answers nothing. The server is then killed and what
// it never started goes to spawn(), which fails at once as it would have.
const START_DEADLINE_MS = 20_000;

interface Pending {
  file: string;
  resolve: (r: ExecResult | null) => void;
  settled: boolean; // answered already (timed out); the entry stays to kill and clean up later
  pid?: number;
  startTime?: string; // the child's start time (/proc/PID/stat), so a reused pid is never killed
  timer?: NodeJS.Timeout;
  deadline: NodeJS.Timeout;
  timedOut: boolean;
}

// This pid namespace, in the directory names: a pid says whether a server is gone only here.
const pidNamespace = (): string => readlinkSync('/proc/self/ns/pid').replace(/\D/g, '');

// The base directory, made root's own (0700) if missing; anything else there (a link, another
// owner, a mode others may write) is refused, and the agent spawns its children itself.
const baseDir = (): string => {
  mkdirSync(BASE, { recursive: true, mode: 0o700 });
  const stat = lstatSync(BASE);
  if (!stat.isDirectory() || stat.uid !== process.getuid?.() || (stat.mode & 0o077) !== 0) {
    throw new Error(`${BASE} is not a private directory of this user`);
  }
  return BASE;
};

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
};

// Directories of servers of this pid namespace whose agent is gone (its shell killed before it
// could clean up).
const sweep = (base: string, prefix: string): void => {
  for (const name of readdirSync(base)) {
    if (!name.startsWith(prefix)) continue;
    const pid = Number(/^(\d+)-/.exec(name.slice(prefix.length))?.[1]);
    if (pid && pid !== process.pid && !alive(pid)) rmSync(join(base, name), { recursive: true, force: true });
  }
};

// What run.ts gives every child, without what would make bash run anything of its own or run the
// script differently: startup files, exported functions, options, an idle timeout.
const BASH_VARIABLES = [
  'ENV',
  'SHELLOPTS',
  'CDPATH',
  'GLOBIGNORE',
  'IFS',
  'PS4',
  'TMOUT',
  'POSIXLY_CORRECT',
  'EXECIGNORE',
];
const shellEnv = (): NodeJS.ProcessEnv =>
  Object.fromEntries(
    Object.entries({ ...process.env, LC_ALL: 'C' }).filter(
      ([name]) => !name.startsWith('BASH') && !BASH_VARIABLES.includes(name),
    ),
  );

const quote = (arg: string): string => `'${arg.replaceAll("'", `'\\''`)}'`;

// Field 22 of /proc/PID/stat: with the pid, it names one process for good.
const startTimeOf = (pid: number): string | undefined => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
};

// The file spawn() would run, or the error code spawn() would fail with: a name is looked up on
// PATH as execvp does (the first executable file). Hits are kept: an agent's PATH does not change
// while it runs.
const found = new Map<string, string>();
const which = (file: string): { path: string } | { code: string } => {
  if (file.includes('/')) {
    try {
      accessSync(file, constants.X_OK);
      return statSync(file).isFile() ? { path: file } : { code: 'EACCES' };
    } catch (error) {
      return { code: (error as NodeJS.ErrnoException).code ?? 'ENOENT' };
    }
  }
  const key = `${process.env.PATH ?? ''}\0${file}`;
  const hit = found.get(key);
  if (hit) return { path: hit };
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const path = join(dir || '.', file);
    try {
      accessSync(path, constants.X_OK);
      if (!statSync(path).isFile()) continue;
    } catch {
      continue;
    }
    found.set(key, path);
    return { path };
  }
  return { code: 'ENOENT' };
};

export class SpawnServer {
  readonly #dir: string;
  readonly #shell: ChildProcess;
  readonly #pending = new Map<string, Pending>();
  #next = 0;
  #closed = false;
  /** The shell could not be started at all (no bash): no server will do better. */
  failedToStart = false;

  readonly #startDeadlineMs: number;

  constructor({ startDeadlineMs = START_DEADLINE_MS }: { startDeadlineMs?: number } = {}) {
    this.#startDeadlineMs = startDeadlineMs;
    const base = baseDir();
    const prefix = `${pidNamespace()}-`;
    sweep(base, prefix);
    this.#dir = mkdtempSync(join(base, `${prefix}${process.pid}-`));
    this.#shell = spawn('/bin/bash', ['--noprofile', '--norc', '-c', SCRIPT, 'tasknet-spawner', this.#dir], {
      env: shellEnv(),
      stdio: ['pipe', 'pipe', 'ignore'],
    });
    this.#shell.stdin!.on('error', () => {
      /* the shell is gone: its close event settles what is pending */
    });
    // Lines by hand rather than node:readline, which every exec'd plugin would then load.
    let partial = '';
    this.#shell.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      const lines = (partial + chunk).split('\n');
      partial = lines.pop()!;
      for (const line of lines) this.#onLine(line);
    });
    // No new child once the shell has exited; what is pending is settled when its stdout closes,
    // that is when no subshell of it is left to report (see #onClose).
    this.#shell.once('exit', () => {
      this.#closed = true;
    });
    this.#shell.once('close', () => this.#onClose());
    this.#shell.once('error', () => {
      // bash could not be started: nothing was; run.ts runs the children itself from now on
      this.#closed = true;
      this.failedToStart = true;
    });
  }

  /** Whether run() can be called: false once the shell has exited (a new server is needed). */
  get usable(): boolean {
    return !this.#closed;
  }

  /**
   * Runs file with args as spawn() would, resolving to the same ExecResult (output untrimmed), or
   * to null when the server did not start it (its shell died first, or could not write the
   * child's files); undefined when the command cannot go through the shell's line protocol (an
   * argument holding a newline or a NUL byte).
   */
  run(file: string, args: readonly string[], opts: ExecOptions = {}): Promise<ExecResult | null> | undefined {
    if ([file, ...args].some((a) => a.includes('\n') || a.includes('\0'))) return undefined;
    if (this.#closed) return Promise.resolve(null);
    const resolved = which(file);
    if ('code' in resolved) {
      return Promise.resolve({
        exitCode: -1,
        stdout: '',
        stderr: `${file}: spawn ${file} ${resolved.code}`,
        timedOut: false,
      });
    }
    const id = String(++this.#next);
    const input = opts.input !== undefined;
    if (input) writeFileSync(this.#file(id, 'in'), opts.input!);
    return new Promise((resolve) => {
      const pending: Pending = {
        file,
        resolve,
        settled: false,
        timedOut: false,
        deadline: setTimeout(() => this.#kill(this.#shell.pid), this.#startDeadlineMs),
      };
      if (opts.timeout !== undefined) pending.timer = setTimeout(() => this.#timeOut(pending), opts.timeout);
      this.#pending.set(id, pending);
      // argv[0] as given, as spawn() passes it; `--`: a path may start with a dash.
      const argv = ['exec', '-a', quote(file), '--', ...[resolved.path, ...args].map(quote)].join(' ');
      this.#shell.stdin!.write(`${id} ${input ? 1 : 0}\n${argv}\n`);
    });
  }

  /** Ends the shell after the children still running; resolves when it has exited. */
  async close(): Promise<void> {
    if (this.#shell.exitCode !== null || this.#shell.signalCode !== null) return;
    const closed = new Promise((resolve) => this.#shell.once('close', resolve));
    this.#shell.stdin!.end();
    await closed;
  }

  #file(id: string, ext: 'in' | 'out' | 'err'): string {
    return join(this.#dir, `${id}.${ext}`);
  }

  #kill(pid: number | undefined): void {
    if (pid === undefined) return;
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }

  // Answered at once, as spawn() does; the child is killed now if it has started, or when its
  // pid comes, and only if that pid is still the same process.
  #timeOut(pending: Pending): void {
    pending.timedOut = true;
    if (pending.pid !== undefined && startTimeOf(pending.pid) === pending.startTime) this.#kill(pending.pid);
    this.#settle(pending, { exitCode: -1, stdout: '', stderr: '', timedOut: true });
  }

  #settle(pending: Pending, result: ExecResult | null): void {
    if (pending.settled) return;
    pending.settled = true;
    clearTimeout(pending.timer);
    clearTimeout(pending.deadline);
    pending.resolve(result);
  }

  #onLine(line: string): void {
    const [id = '', what, value] = line.split(' ');
    const pending = this.#pending.get(id);
    if (!pending) return;
    if (what === 'pid') {
      pending.pid = Number(value);
      pending.startTime = startTimeOf(pending.pid);
      clearTimeout(pending.deadline);
      if (pending.timedOut) this.#kill(pending.pid);
      return;
    }
    this.#pending.delete(id);
    const err = this.#file(id, 'err');
    // No ID.err: the shell could not redirect, so the child never ran (the directory is gone).
    // This server cannot start anything more; run.ts spawns this child itself and the next
    // child starts another server.
    const ran = existsSync(err);
    const stdout = ran ? readFileSync(this.#file(id, 'out'), 'utf8') : '';
    const stderr = ran ? readFileSync(err, 'utf8') : '';
    for (const ext of ['in', 'out', 'err'] as const) rmSync(this.#file(id, ext), { force: true });
    if (!ran) {
      this.#closed = true;
      this.#shell.stdin!.end();
      this.#settle(pending, null);
      return;
    }
    // A child killed by a signal has no exit code with spawn(): -1. The shell reports 128 + the
    // signal's number, which a child exiting by itself with such a code would also give; none of
    // the commands run here (ip, bridge, nsenter) does.
    const code = Number(value);
    const exitCode = pending.timedOut || (code > 128 && code <= 128 + 64) ? -1 : code;
    this.#settle(pending, { exitCode, stdout, stderr, timedOut: pending.timedOut });
  }

  // The shell has exited and no subshell of it holds its stdout any more. A child whose pid came
  // was started, and its subshell died before reporting its end: a failure. A child whose pid never
  // came was never started (every subshell reports the pid first): null, so that run.ts starts it
  // another way.
  #onClose(): void {
    this.#closed = true;
    for (const [id, pending] of this.#pending) {
      this.#settle(
        pending,
        pending.pid === undefined
          ? null
          : {
              exitCode: -1,
              stdout: '',
              stderr: `${pending.file}: the spawn server exited before the command did`,
              timedOut: pending.timedOut,
            },
      );
      this.#pending.delete(id);
    }
    rmSync(this.#dir, { recursive: true, force: true });
  }
}

let server: SpawnServer | undefined;

// The agent's children through a server from now on; a new one is started when the last one died.
// A child the server cannot take (a newline or NUL in an argument, no private directory) or did
// not start (its shell died first) is spawned by Node, as without a server; without bash, every
// child is.
export function useSpawnServer(): void {
  useChildStarter((file, args, opts) => {
    const served = serve(file, args, opts);
    if (!served) return spawnAsync(file, args, opts);
    return served.then((r) =>
      r === null ? spawnAsync(file, args, opts) : { ...r, stdout: trimmed(r.stdout), stderr: trimmed(r.stderr) },
    );
  });
}

const serve = (file: string, args: string[], opts: ExecOptions): Promise<ExecResult | null> | undefined => {
  if (server?.failedToStart) return undefined;
  try {
    if (!server?.usable) server = new SpawnServer();
    return server.run(file, args, opts);
  } catch {
    return undefined;
  }
};

// Ends the shell (when there is one) after the children it is running; the next child starts another.
export async function stopSpawnServer(): Promise<void> {
  const s = server;
  server = undefined;
  await s?.close();
}
