// Throwaway network namespaces for tests. Tests never touch the machine's own netns: each one
// makes uniquely named namespaces (<prefix>-<pid>-<random>) and removes them in teardown, also on
// failure; deleting a netns destroys the links inside it. What teardown never reaches is caught in
// three more places: an exit hook (an uncaught error), a signal hook (tap's timeout and a killed
// run send SIGTERM, which ends Node without its exit hook), and, for SIGKILL, the next test
// process, which removes the namespaces whose creating process is gone (the pid in the name).
// Deliberately plain execa, not src/netlink, so a bug under test cannot break the clean-up.
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, statSync } from 'node:fs';
import { execa } from 'execa';
import { onProcessEnd, pidAlive } from './process-end.js';

/** `{ skip: needsRoot }` on a test that changes kernel state: false when root, else the reason. */
export const needsRoot: string | false = process.getuid?.() === 0 ? false : 'needs root (creates network namespaces)';

export interface Teardown {
  teardown(fn: () => unknown): void;
}

const liveNetns = new Set<string>();
const livePids = new Set<number>();

const delNetnsQuietly = (name: string): void => {
  try {
    execFileSync('ip', ['netns', 'del', name], { stdio: 'ignore' });
  } catch {
    // already gone
  }
};

const cleanUp = (): void => {
  for (const pid of livePids) killQuietly(pid);
  for (const name of liveNetns) delNetnsQuietly(name);
  liveNetns.clear();
};

onProcessEnd(cleanUp);

// A name made by netnsName(): the prefix, the creating process's pid, 8 hex digits.
const OWN_NAME = /^[a-z]+-(\d+)-[0-9a-f]{8}$/;

// The namespaces of test processes that are gone (killed with SIGKILL); each test process sweeps
// once, when it first loads this file.
const sweepStale = (): void => {
  let names: string[];
  try {
    names = readdirSync('/var/run/netns');
  } catch {
    return; // no namespaces at all
  }
  for (const name of names) {
    const pid = Number(OWN_NAME.exec(name)?.[1]);
    if (pid && pid !== process.pid && !pidAlive(pid)) delNetnsQuietly(name);
  }
};
if (needsRoot === false) sweepStale();

function killQuietly(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

/** A fresh unique netns name (not created). */
export function netnsName(prefix = 'tn'): string {
  return `${prefix}-${process.pid}-${randomBytes(4).toString('hex')}`;
}

/** [string, string] for 2, so destructured names are not `string | undefined`. */
type Names<N extends number, R extends string[] = []> = R['length'] extends N ? R : Names<N, [...R, string]>;

// Creates `count` namespaces, deleted when the test ends.
export async function makeNetns<N extends 1 | 2 | 3 | 4>(t: Teardown, count: N, prefix = 'tn'): Promise<Names<N>> {
  const names: string[] = [];
  t.teardown(async () => {
    for (const name of names) {
      await execa('ip', ['netns', 'del', name], { reject: false });
      liveNetns.delete(name);
    }
  });
  for (let i = 0; i < count; i++) {
    const name = netnsName(prefix);
    await execa('ip', ['netns', 'add', name]);
    names.push(name);
    liveNetns.add(name);
  }
  return names as Names<N>;
}

// One netns, for the common case.
export async function withNetns(t: Teardown, prefix = 'tn'): Promise<string> {
  const [name] = await makeNetns(t, 1, prefix);
  return name;
}

// A process living in netns `name`, so the netns can be addressed as /proc/PID/ns/net the way a
// container runtime hands it to a plugin. The process is killed in teardown.
export async function netnsHolder(t: Teardown, name: string): Promise<string> {
  // Lives exactly as long as this test process (tail --pid exits within a second of it), never a
  // fixed time: a holder that exited under a long test (it was `sleep 600`; CRASH_KILLS=300 runs
  // longer) frees its pid, and /proc/PID/ns/net may then name a recycled pid's netns, even the
  // machine's own, into which the test would move links.
  const child = spawn('nsenter', [`--net=/var/run/netns/${name}`, 'tail', `--pid=${process.pid}`, '-f', '/dev/null'], {
    stdio: 'ignore',
  });
  const pid = child.pid;
  if (pid === undefined) throw new Error('could not start a netns holder');
  livePids.add(pid);
  t.teardown(() => {
    killQuietly(pid);
    livePids.delete(pid);
  });
  // nsenter execs sleep in place; wait until the pid shows the target netns, not ours.
  const want = statSync(`/var/run/netns/${name}`).ino;
  for (let i = 0; i < 100; i++) {
    try {
      if (statSync(`/proc/${pid}/ns/net`).ino === want) return `/proc/${pid}/ns/net`;
    } catch {
      // not there yet
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`netns holder ${pid} never entered ${name}`);
}
