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
// The child's stdout and stderr go to ID.out and ID.err in a private directory on tmpfs, read and
// removed when its exit line comes. Lines from concurrent children interleave whole: each is one
// write() of less than PIPE_BUF. When the agent goes away the shell reads EOF, waits for the
// children still running, removes its directory and exits; a directory left by a killed shell is
// removed by the next server (the agent's pid is in its name). bash, not dash: bash reaps a
// finished subshell as soon as it ends, while dash leaves it a zombie until its next command.
import { spawn, type ChildProcess } from 'node:child_process';
import {
  accessSync,
  constants,
  lstatSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { delimiter, join } from 'node:path';
import type { ExecOptions, ExecResult } from './run.js';

const SCRIPT = `cd "$1" || exit 1
while IFS=' ' read -r id input && IFS= read -r argv; do
  stdin=/dev/null
  [ "$input" = 1 ] && stdin="$id.in"
  ( eval "exec $argv" <"$stdin" >"$id.out" 2>"$id.err" & echo "$id pid $!"; wait $!; echo "$id exit $?" ) &
done
wait
cd / && rm -rf "$1"`;

const PREFIX = 'tasknet-spawn-';

interface Pending {
  file: string;
  resolve: (r: ExecResult | null) => void;
  pid?: number;
  timer?: NodeJS.Timeout;
  timedOut: boolean;
}

// tmpfs when there is one: the three files of a child never reach a disk.
const baseDir = (): string => {
  try {
    if (statSync('/dev/shm').isDirectory()) {
      accessSync('/dev/shm', constants.W_OK);
      return '/dev/shm';
    }
  } catch {
    // no /dev/shm
  }
  return process.env.TMPDIR || '/tmp';
};

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
};

// Directories of servers whose agent is gone (the shell was killed before it could clean up):
// only directories of this user, in a directory anyone may write to.
const sweep = (base: string): void => {
  for (const name of readdirSync(base)) {
    const pid = Number(new RegExp(`^${PREFIX}(\\d+)-`).exec(name)?.[1]);
    if (!pid || pid === process.pid || alive(pid)) continue;
    const path = join(base, name);
    try {
      const stat = lstatSync(path);
      if (stat.isDirectory() && stat.uid === process.getuid?.()) rmSync(path, { recursive: true, force: true });
    } catch {
      // gone meanwhile: another agent swept it
    }
  }
};

// What run.ts gives every child, without the variables that would make bash read a file or
// change how it runs the script.
const shellEnv = (): NodeJS.ProcessEnv => {
  const env: NodeJS.ProcessEnv = { ...process.env, LC_ALL: 'C' };
  for (const name of ['BASH_ENV', 'ENV', 'SHELLOPTS', 'BASHOPTS', 'CDPATH', 'GLOBIGNORE', 'IFS', 'PS4'])
    delete env[name];
  return env;
};

const quote = (arg: string): string => `'${arg.replaceAll("'", `'\\''`)}'`;

// The file spawn() would run, or the error code spawn() would fail with: a name is looked up on
// PATH as execvp does (the first executable file). Hits are kept: an agent's PATH does not change
// while it runs.
const found = new Map<string, string>();
const which = (file: string): { path: string } | { code: string } => {
  if (file.includes('/')) {
    try {
      accessSync(file, constants.X_OK);
      return { path: file };
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

  constructor() {
    const base = baseDir();
    sweep(base);
    this.#dir = mkdtempSync(join(base, `${PREFIX}${process.pid}-`));
    this.#shell = spawn('/bin/bash', ['--noprofile', '--norc', '-c', SCRIPT, 'tasknet-spawner', this.#dir], {
      env: shellEnv(),
      stdio: ['pipe', 'pipe', 'ignore'],
    });
    this.#shell.stdin!.on('error', () => {
      /* the shell is gone: its close event fails what is pending */
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
   * to null when the shell died before starting it; undefined when the command cannot go through
   * the shell's line protocol (an argument holding a newline).
   */
  run(file: string, args: readonly string[], opts: ExecOptions = {}): Promise<ExecResult | null> | undefined {
    if (args.some((a) => a.includes('\n')) || file.includes('\n')) return undefined;
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
      const pending: Pending = { file, resolve, timedOut: false };
      if (opts.timeout !== undefined) {
        pending.timer = setTimeout(() => {
          pending.timedOut = true;
          if (pending.pid !== undefined) this.#kill(pending.pid);
        }, opts.timeout);
      }
      this.#pending.set(id, pending);
      this.#shell.stdin!.write(`${id} ${input ? 1 : 0}\n${[resolved.path, ...args].map(quote).join(' ')}\n`);
    });
  }

  /** Ends the shell after the children still running; resolves when it has exited. */
  async close(): Promise<void> {
    if (this.#closed) return;
    const closed = new Promise((resolve) => this.#shell.once('close', resolve));
    this.#shell.stdin!.end();
    await closed;
  }

  #file(id: string, ext: 'in' | 'out' | 'err'): string {
    return join(this.#dir, `${id}.${ext}`);
  }

  #kill(pid: number): void {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }

  #onLine(line: string): void {
    const [id = '', what, value] = line.split(' ');
    const pending = this.#pending.get(id);
    if (!pending) return;
    if (what === 'pid') {
      pending.pid = Number(value);
      if (pending.timedOut) this.#kill(pending.pid);
      return;
    }
    this.#pending.delete(id);
    clearTimeout(pending.timer);
    const read = (ext: 'out' | 'err'): string => {
      try {
        return readFileSync(this.#file(id, ext), 'utf8');
      } catch {
        return '';
      }
    };
    const stdout = read('out');
    const stderr = read('err');
    for (const ext of ['in', 'out', 'err'] as const) rmSync(this.#file(id, ext), { force: true });
    // A child killed by a signal has no exit code with spawn(): -1. The shell reports 128 + the
    // signal's number, which a child exiting by itself with such a code would also give; none of
    // the commands run here (ip, bridge, nsenter) does.
    const code = Number(value);
    const exitCode = pending.timedOut || (code > 128 && code <= 128 + 64) ? -1 : code;
    pending.resolve({ exitCode, stdout, stderr, timedOut: pending.timedOut });
  }

  // The shell has exited and no subshell of it holds its stdout any more. A child whose pid came
  // was started, and its subshell died before reporting its end: a failure. A child whose pid never
  // came was never started (every subshell reports the pid first): null, so that run.ts starts it
  // another way.
  #onClose(): void {
    this.#closed = true;
    for (const [id, pending] of this.#pending) {
      clearTimeout(pending.timer);
      pending.resolve(
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
