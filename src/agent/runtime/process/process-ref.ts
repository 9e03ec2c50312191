// A process as the agent remembers it across its own restarts: pid plus the kernel's start time
// (field 22 of /proc/PID/stat, clock ticks since boot). A pid alone may have been reused by an
// unrelated process after a crash; the pair never is (until reboot, when the state is moot).
import { readFileSync, readdirSync, readlinkSync, statSync } from 'node:fs';

export interface ProcessRef {
  pid: number;
  startTime: string;
}

interface ProcStat {
  state: string;
  ppid: number;
  startTime: string;
}

// The comm field may hold spaces and parentheses; everything after the last ')' is fixed-format.
// Only "no such process" means the process is gone: any other failure (EMFILE when a flood has
// taken the agent's descriptors, say) is thrown, never read as an exit.
const readStat = (pid: number): ProcStat | undefined => {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ESRCH') return undefined;
    throw error;
  }
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state), so field N is fields[N - 3].
  return { state: fields[0]!, ppid: Number(fields[1]), startTime: fields[19]! };
};

// Captures a running process's identity right after the agent started it or found it.
export const processRef = (pid: number): ProcessRef | undefined => {
  const stat = readStat(pid);
  return stat && stat.state !== 'Z' && stat.state !== 'X' ? { pid, startTime: stat.startTime } : undefined;
};

// True while this exact process exists and has not exited (a zombie counts as exited).
export const isAlive = (ref: ProcessRef | undefined): boolean => {
  if (!ref) return false;
  const stat = readStat(ref.pid);
  return stat !== undefined && stat.startTime === ref.startTime && stat.state !== 'Z' && stat.state !== 'X';
};

// True while a process with this pid exists (a zombie too): kill(pid, 0), one system call and no
// /proc read, so it cannot fail for want of descriptors. It does not tell a recycled pid from the
// process (isAlive does): watchExit uses it between its full isAlive checks.
const pidExists = (ref: ProcessRef | undefined): boolean => {
  if (!ref) return false;
  try {
    process.kill(ref.pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
};

// Signals the process only if it is still the one we started: never a recycled pid.
export const signalProcess = (ref: ProcessRef | undefined, signal: NodeJS.Signals): boolean => {
  if (!isAlive(ref)) return false;
  try {
    process.kill(ref!.pid, signal);
    return true;
  } catch {
    return false;
  }
};

// The direct children of a process (Linux 3.5+ /proc/PID/task/TID/children, all threads).
export const childPids = (pid: number): number[] => {
  const out: number[] = [];
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const tid of tids) {
    try {
      for (const word of readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').split(' ')) {
        if (word.trim() !== '') out.push(Number(word));
      }
    } catch {
      /* thread gone */
    }
  }
  return out;
};

// Every process whose network namespace is the given one (same device and inode), e.g. to make
// sure nothing keeps a task netns (and the ENI inside it) alive after the task is gone.
export const pidsInNetns = (netnsPath: string): number[] => {
  let want: { dev: number; ino: number };
  try {
    const st = statSync(netnsPath);
    want = { dev: st.dev, ino: st.ino };
  } catch {
    return [];
  }
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const st = statSync(`/proc/${name}/ns/net`);
      if (st.ino === want.ino && st.dev === want.dev) pids.push(Number(name));
    } catch {
      /* exited, or a kernel thread */
    }
  }
  return pids.filter((pid) => pid !== process.pid);
};

// Every process (but this one) whose command line, split into its arguments, passes the test:
// how the agent finds the engine processes it knows only by a path they were started with.
export const pidsByCommandLine = (test: (args: string[]) => boolean): number[] => {
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    try {
      if (test(readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0'))) pids.push(Number(name));
    } catch {
      /* exited */
    }
  }
  return pids;
};

// The netns inode a process is in, as `ls -l /proc/PID/ns/net` shows it ("net:[4026532...]").
export const netnsOf = (pid: number): string | undefined => {
  try {
    return readlinkSync(`/proc/${pid}/ns/net`);
  } catch {
    return undefined;
  }
};

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

// Resolves once the process is gone (or `timeoutMs` passed: resolves false). Polling, because a
// process adopted after an agent restart is not our child and sends us no exit event. A check
// that fails (EMFILE while a flood holds the agent's descriptors) is not an exit: it looks again
// at the next interval, never throws (an adopted container's watch would otherwise reject
// unhandled and take the agent down).
const aliveOrUnknown = (ref: ProcessRef | undefined): boolean => {
  try {
    return isAlive(ref);
  } catch {
    return true;
  }
};

// Resolves once a process that is not our child (adopted after an agent restart) is gone. All such
// watches share one timer: per tick one kill(pid, 0) each (no /proc read, no descriptor), every
// FULL_CHECK_EVERY-th tick the identity check of isAlive, which also sees a recycled pid or a dead
// process its new parent has not reaped. What a watch costs does not grow with time per process.
const WATCH_TICK_MS = 500;
const FULL_CHECK_EVERY = 10;
interface Watch {
  gone: () => void;
  onCheckError?: (error: Error) => void;
}
const watched = new Map<ProcessRef, Watch[]>();
let watchTimer: NodeJS.Timeout | undefined;
let watchTicks = 0;

// A check that fails (EMFILE while a flood holds the descriptors) is not an exit: reported to the
// watchers that want to know, and looked at again on the next tick.
const stillThere = (ref: ProcessRef, full: boolean, watches: Watch[]): boolean => {
  if (!full) return pidExists(ref);
  try {
    return isAlive(ref);
  } catch (error) {
    for (const w of watches) w.onCheckError?.(error as Error);
    return true;
  }
};

const watchTick = (): void => {
  const full = ++watchTicks % FULL_CHECK_EVERY === 0;
  for (const [ref, watches] of watched) {
    if (stillThere(ref, full, watches)) continue;
    watched.delete(ref);
    for (const w of watches) w.gone();
  }
  if (watched.size === 0) {
    clearInterval(watchTimer);
    watchTimer = undefined;
  }
};

export const watchExit = (ref: ProcessRef, onCheckError?: (error: Error) => void): Promise<void> =>
  new Promise((resolve) => {
    if (!aliveOrUnknown(ref)) {
      resolve();
      return;
    }
    watched.set(ref, [...(watched.get(ref) ?? []), { gone: resolve, onCheckError }]);
    // Not unref'd: like the polling loop before it, a pending watch keeps the process alive.
    watchTimer ??= setInterval(watchTick, WATCH_TICK_MS);
  });

export const waitForExit = async (
  ref: ProcessRef | undefined,
  timeoutMs = Infinity,
  intervalMs = 50,
): Promise<boolean> => {
  const deadline = Date.now() + timeoutMs;
  while (aliveOrUnknown(ref)) {
    if (Date.now() >= deadline) return false;
    await sleep(intervalMs);
  }
  return true;
};
