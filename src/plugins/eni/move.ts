// Moving an ENI between the host netns and a task netns without name collisions.
//
// Kernel facts this relies on (net/core/rtnetlink.c do_setlink, net/core/dev.c
// __dev_change_net_namespace and dev_change_name):
// 1. `link set dev A netns T name B` moves first and renames after. B is used *during* the move
//    only when A is taken in T; otherwise the link lands in T as A and is renamed to B, so a
//    taken B fails with EEXIST after the move, with the link in T still named A.
// 2. When the link's current name is taken in T and the name given with the move is too (or
//    none is given), the move fails with EEXIST *before* anything moves. When the current name is
//    free in T, the move itself always succeeds under that name.
// 3. A move closes the link (down) and drops its addresses and routes.
// 4. Kernels before 6.2 refuse to rename a link that is up (EBUSY), and within one `link set`
//    the rename is applied before the up/down flags, so "down" must be a line of its own.
//
// Into the task (ADD), one `ip -batch` in the host netns: set the link down and put ADD's record
// (record.ts: host name, MTU, previous alias, ...) in its alias, then move + rename in one request. The link needs no name that
// another host process could hold: it keeps its own name until it leaves, and in the task netns
// (private to this container, never touched concurrently by the runtime) it only ever holds its
// host name for the instant between move and rename (fact 1). The one name that must be free
// is CNI_IFNAME in the task netns, which the spec requires anyway; if it is taken, the kernel
// refuses before moving (fact 2, when the host name is taken there too) or the link is in the task
// netns under its host name, where the rollback finds it by MAC and brings it home.
//
// Back to the host (DEL, rollback), one `ip -batch` in the task netns: down, rename inside the
// task netns to the ENI's fallback name (`eni` + its 12 MAC hex digits: unique to this ENI, so
// free in both namespaces), then move + rename to the host name. The move itself cannot collide
// (the fallback name is free in the host, fact 2), so the ENI always reaches the host; if its host name
// was taken meanwhile, only the rename after the move fails and the ENI stays in the host under
// its fallback name, which is said in a log line. Upstream vpc-eni renamed to `ecs` + 3 MAC bytes,
// shared by every ENI of one vendor prefix, and its move then failed, stranding the ENI. Once
// home under its host name, one more `ip` puts back the alias the ENI had before ADD.
import { logger } from '../../cni/log.js';
import {
  batch,
  currentNetns,
  getLink,
  IpError,
  isExists,
  isNotFound,
  listLinks,
  setLinkAlias,
  type IpBatch,
  type Link,
  type NetnsRef,
} from '../../netlink/index.js';
import { encodeAlias, parseAlias, type EniRecord } from './record.js';

// 3 + 12 = 15 bytes, the longest name the kernel takes (IFNAMSIZ - 1).
export const fallbackName = (mac: string): string => `eni${mac.replaceAll(':', '').toLowerCase()}`;

// The host netns as an `ip link set ... netns` target, from inside another netns.
const hostTarget = (host: NetnsRef): string => host ?? currentNetns();

// ADD: host -> task netns as `ifname`, down, with the record DEL needs in its alias (written
// before the move, so no crash can leave the ENI in the task netns without it). Throws the
// IpError of the failing line; batchIndex 1 with kind 'exists' means `ifname` is taken there.
export const moveIntoTask = async (
  eni: Link,
  record: EniRecord,
  host: NetnsRef,
  task: string,
  ifname: string,
): Promise<void> => {
  await batch(host)
    .linkSet(eni.name, { up: false, alias: encodeAlias(record) })
    .linkSet(eni.name, { netns: task, newName: ifname })
    .run();
};

export const MOVE_LINE = 1;

interface Line {
  add(b: IpBatch): void;
  /** A removal that may find nothing to remove (e.g. a route someone already deleted). */
  optional?: boolean;
}

// Runs lines in one batch; an optional line that finds nothing is skipped and the rest re-run.
const runLines = async (ns: NetnsRef, lines: Line[]): Promise<void> => {
  let rest = lines;
  for (;;) {
    const b = batch(ns);
    for (const line of rest) line.add(b);
    try {
      await b.run();
      return;
    } catch (error) {
      const index = error instanceof IpError ? error.batchIndex : undefined;
      if (index === undefined || !rest[index]?.optional || !isNotFound(error)) throw error;
      rest = rest.slice(index + 1);
    }
  }
};

export interface GiveBack {
  /** The link's name in the task netns now. */
  current: string;
  mac: string;
  /** ADD's record (see record.ts); undefined when there is none (not moved by us): the link goes
   *  back under its fallback name, no blackhole is removed and its alias is left alone. */
  record: EniRecord | undefined;
}

// Home under its host name: the alias it had before ADD goes back on (or none). A separate `ip`
// after the move, as the alias may hold what a batch line cannot (spaces, quotes) and clearing
// it takes an empty argument. Until then the record stays on, so a DEL after a crash here (or
// after a give-back under the fallback name) still knows what to finish.
const putBackAlias = async (host: NetnsRef, name: string, record: EniRecord): Promise<void> => {
  await setLinkAlias(name, record.alias ?? null, host);
};

// DEL and rollback: task netns -> host netns under the host name (or the fallback), down, no
// addresses, the host MTU and alias back, and the blackholes ADD added gone. Returns the name
// it has in the host.
export const giveBack = async (task: string, host: NetnsRef, g: GiveBack): Promise<string> => {
  const fallback = fallbackName(g.mac);
  const target = g.record?.name ?? fallback;
  const lines: Line[] = [
    // Only the ones ADD added: a blackhole that was there before belongs to whoever put it there.
    ...(g.record?.blackholes ?? []).map(
      (dst): Line => ({ add: (b) => b.routeDel({ dst, type: 'blackhole' }), optional: true }),
    ),
    { add: (b) => b.linkSet(g.current, { up: false }) },
  ];
  // Each line must yield a command (an empty linkSet yields none), or batch indexes would shift.
  if (g.current !== fallback || g.record) {
    lines.push({
      add: (b) => b.linkSet(g.current, { newName: g.current === fallback ? undefined : fallback, mtu: g.record?.mtu }),
    });
  }
  lines.push({
    add: (b) => b.linkSet(fallback, { netns: hostTarget(host), newName: target === fallback ? undefined : target }),
  });
  try {
    await runLines(task, lines);
    if (g.record) await putBackAlias(host, target, g.record);
    return target;
  } catch (error) {
    // The move went through and only the rename to the host name failed: that name was taken.
    if (isExists(error) && target !== fallback && (await getLink(fallback, host))?.mac?.toLowerCase() === g.mac) {
      logger.warn(
        `ecs-eni: host name ${target} of ENI ${g.mac} is taken in the host netns; gave the ENI back as ${fallback}`,
      );
      return fallback;
    }
    throw error;
  }
};

// After the task netns is gone (the kernel hands physical links back to the initial netns under
// whatever name is free there, e.g. "eth0" or "dev7"), after a give-back under the fallback
// name, or after one cut short before its alias went back: finish it, if the link is ours
// (it still has the record) and down. The host name and MTU go back if the name is free now, and
// then the alias; under the fallback name the record stays on for a later DEL.
export const restoreHostName = async (host: NetnsRef, match: (link: Link) => boolean): Promise<void> => {
  const link = (await listLinks(host)).find(match);
  const record = parseAlias(link?.alias);
  if (!link || !record || link.up) return;
  if (link.name !== record.name || link.mtu !== record.mtu) {
    const fallback = link.mac ? fallbackName(link.mac) : undefined;
    try {
      await batch(host)
        .linkSet(link.name, { newName: link.name === record.name ? undefined : record.name, mtu: record.mtu })
        .run();
      if (link.name !== record.name)
        logger.info(
          `ecs-eni: ENI ${link.mac} was in the host netns as ${link.name}; renamed it back to ${record.name}`,
        );
    } catch (error) {
      if (!isExists(error)) throw error;
      if (fallback === undefined || link.name === fallback) return;
      await batch(host).linkSet(link.name, { newName: fallback, mtu: record.mtu }).run();
      logger.warn(
        `ecs-eni: host name ${record.name} of ENI ${link.mac} is taken in the host netns; renamed it from ${link.name} to ${fallback}`,
      );
      return;
    }
  }
  await putBackAlias(host, record.name, record);
};
