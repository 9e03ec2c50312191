// Network namespaces: named ones under /var/run/netns, netns files given by a runtime, and
// running a command inside either.
import { readdirSync, readlinkSync, statfsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { commandFailed } from './errors.js';
import {
  NETNS_RUN_DIR,
  nsArgv,
  runIp,
  spawnCounted,
  validateNetnsRef,
  type ExecOptions,
  type ExecResult,
  type NetnsRef,
} from './run.js';
import { validateNetnsName } from './validate.js';

/** statfs f_type of nsfs (include/uapi/linux/magic.h NSFS_MAGIC). */
const NSFS_MAGIC = 0x6e736673;

// Tests and the agent make named namespaces; a runtime's own netns arrive as paths instead.
export async function createNetns(name: string): Promise<void> {
  await runIp(['netns', 'add', validateNetnsName(name)], undefined);
}

// Names a process's netns (`ip netns attach`): the bind mount keeps the netns, and whatever is in
// it, alive after the process is gone, until deleteNetns.
export async function attachNetns(name: string, pid: number): Promise<void> {
  if (!Number.isInteger(pid) || pid <= 0) throw new RangeError(`invalid pid ${pid}`);
  await runIp(['netns', 'attach', validateNetnsName(name), String(pid)], undefined);
}

// Unmounts and removes a named netns; its links go with it (veth peers elsewhere too).
export async function deleteNetns(name: string): Promise<void> {
  await runIp(['netns', 'del', validateNetnsName(name)], undefined);
}

// True iff the path is a live netns (an nsfs file), not a missing path or a leftover plain file.
// CNI DEL gets the netns path from the runtime and must tell "already gone" from "still there".
// Every namespace type is an nsfs file: /proc/PID/ns/mnt passed the statfs test and then failed in
// nsenter (EINVAL). A /proc/PID/ns link names its type ("mnt:[4026531841]"), also at the end of a
// chain of ordinary symlinks; a bind-mounted netns file (ip netns add) is not a link at all.
// Synchronous calls on purpose: nsfs, procfs and /var/run/netns (tmpfs) answer without I/O, and
// node:fs/promises would cost every plugin process ~2 ms of module loading (its only user here).
export async function isNetnsFile(path: string): Promise<boolean> {
  try {
    if (statfsSync(path).type !== NSFS_MAGIC) return false;
  } catch {
    return false;
  }
  let link = path;
  for (let hops = 0; hops < 40; hops++) {
    let target: string;
    try {
      target = readlinkSync(link);
    } catch {
      return true; // not a symlink: a bind mount of an nsfs file
    }
    const nsType = /^([a-z_]+):\[\d+\]$/.exec(target)?.[1];
    if (nsType !== undefined) return nsType === 'net';
    link = resolve(dirname(link), target);
  }
  return false;
}

// A named netns exists iff its file under /var/run/netns is still an nsfs mount (no process spawned).
export async function netnsExists(name: string): Promise<boolean> {
  return isNetnsFile(`${NETNS_RUN_DIR}/${validateNetnsName(name)}`);
}

// The named namespaces, sorted; stale files left by a failed `ip netns add` are skipped.
export async function listNetns(): Promise<string[]> {
  let names: string[];
  try {
    names = readdirSync(NETNS_RUN_DIR);
  } catch {
    return [];
  }
  const live = await Promise.all(names.map(async (n) => ((await isNetnsFile(`${NETNS_RUN_DIR}/${n}`)) ? n : null)));
  return live.filter((n): n is string => n !== null).sort();
}

// Runs any program inside a netns (containers join the pause netns this way, tests probe from
// inside). Uses nsenter for names and paths: `ip netns exec` is slower and remounts /sys.
// The program's own failure (or timeout) is returned in the result; failing to enter the netns throws.
export async function execInNetns(
  ns: NetnsRef,
  file: string,
  args: readonly string[] = [],
  opts: ExecOptions = {},
): Promise<ExecResult> {
  validateNetnsRef(ns);
  const argv = nsArgv(ns, [file, ...args]);
  const r = await spawnCounted(argv, opts);
  if (ns !== undefined && r.exitCode !== 0 && /^nsenter: (cannot open|reassociate)/.test(r.stderr)) {
    throw commandFailed(argv, r.stderr, r.exitCode);
  }
  return r;
}
