// Links: list, find (by name or MAC), create veth pairs and bridges, change, move, delete.
// Shape of every function here and in the sibling files: the object acted on first (a name, a
// spec or a filter), then `ns?: NetnsRef` last. Link reads take one more trailing
// `{ details }`, because `ip -d` (needed for `kind`) is the one switch that costs extra.
import * as z from 'zod/mini';
import { invalidInput, IpError } from './errors.js';
import { currentNetns, netnsArg, queryIp, runIp, type NetnsRef } from './run.js';
import { validateToken, validateAlias, validateIfName, validateMac, validateMtu } from './validate.js';

export interface Link {
  ifindex: number;
  name: string;
  /** Absent for link types without a hardware address. */
  mac?: string;
  mtu: number;
  operstate: string;
  flags: string[];
  /** Administratively up (IFF_UP), whatever the carrier. */
  up: boolean;
  master?: string;
  alias?: string;
  /** linkinfo.info_kind ('veth', 'bridge', ...); only with `{ details: true }`. */
  kind?: string;
  /** IFLA_LINK: a veth's peer, a macvlan's lower device. Set when ip gives an index (peer in
   *  another netns) or, in listLinks, resolved from `peerName`. */
  peerIfindex?: number;
  /** IFLA_LINK_NETNSID: the peer's netns as seen from this netns. */
  peerNetnsId?: number;
  /** IFLA_LINK by name, when the peer is in the same netns. */
  peerName?: string;
}

export interface LinkReadOptions {
  /** Use `ip -d` to fill `kind`. */
  details?: boolean;
}

export interface VethSpec {
  name: string;
  peerName: string;
  /** Where the peer is created; undefined = the same netns as `name`. */
  peerNetns?: NetnsRef;
  /** Applied to both ends. */
  mtu?: number;
  mac?: string;
  peerMac?: string;
}

export interface BridgeSpec {
  name: string;
  mtu?: number;
  mac?: string;
}

export interface LinkChanges {
  up?: boolean;
  mtu?: number;
  mac?: string;
  /** A bridge to join; null leaves the current one (nomaster). */
  master?: string | null;
  alias?: string;
  newName?: string;
  /** Move to this netns (together with newName: moved and renamed in one netlink request). */
  netns?: NetnsRef;
  /** Options of the link as a bridge port. The kernel reads them against the port's current
   *  master, so set them on a line after the one that sets `master`. `isolated`: the port cannot
   *  exchange frames with other isolated ports, only with the bridge and non-isolated ports.
   *  `learning` off: the bridge never learns a source MAC on this port. `locked` on: frames whose
   *  source MAC has no FDB entry pointing at this port are dropped (BR_PORT_LOCKED, Linux 5.18+);
   *  with learning off, only the MACs given static entries (src/netlink/fdb.ts) get in. */
  bridgePort?: { isolated?: boolean; learning?: boolean; locked?: boolean };
  /** IPv6 link-local address generation; 'none' also means no fe80::/64 route. Set before up. */
  addrGenMode?: 'none' | 'eui64' | 'stable_secret' | 'random';
}

export const LinkJson = z.looseObject({
  ifindex: z.number(),
  ifname: z.string(),
  flags: z.array(z.string()),
  mtu: z.number(),
  operstate: z.string(),
  address: z.optional(z.string()),
  master: z.optional(z.string()),
  ifalias: z.optional(z.string()),
  link: z.optional(z.nullable(z.string())),
  link_index: z.optional(z.number()),
  link_netnsid: z.optional(z.number()),
  linkinfo: z.optional(z.looseObject({ info_kind: z.optional(z.string()) })),
});
const LinkList = z.array(LinkJson);

// ip's JSON to our Link; exported for unit tests of the parser.
export function toLink(j: z.infer<typeof LinkJson>): Link {
  const link: Link = {
    ifindex: j.ifindex,
    name: j.ifname,
    mtu: j.mtu,
    operstate: j.operstate,
    flags: j.flags,
    up: j.flags.includes('UP'),
  };
  if (j.address !== undefined) link.mac = j.address;
  if (j.master !== undefined) link.master = j.master;
  if (j.ifalias !== undefined) link.alias = j.ifalias;
  if (j.linkinfo?.info_kind !== undefined) link.kind = j.linkinfo.info_kind;
  if (j.link_index !== undefined) link.peerIfindex = j.link_index;
  if (j.link_netnsid !== undefined) link.peerNetnsId = j.link_netnsid;
  if (typeof j.link === 'string') link.peerName = j.link;
  return link;
}

function showArgs(opts: LinkReadOptions, ...filter: string[]): string[] {
  return opts.details ? ['-j', '-d', 'link', 'show', ...filter] : ['-j', 'link', 'show', ...filter];
}

// Every link of a netns, e.g. to find a free name or report state.
export async function listLinks(ns?: NetnsRef, opts: LinkReadOptions = {}): Promise<Link[]> {
  const links = (await queryIp(showArgs(opts), ns, LinkList)).map(toLink);
  const byName = new Map(links.map((l) => [l.name, l.ifindex]));
  for (const l of links) {
    if (l.peerIfindex === undefined && l.peerName !== undefined) {
      const peer = byName.get(l.peerName);
      if (peer !== undefined) l.peerIfindex = peer;
    }
  }
  return links;
}

// One link by name, or null when there is none: CHECK and DEL ask "is it there?" without a throw.
export async function getLink(name: string, ns?: NetnsRef, opts: LinkReadOptions = {}): Promise<Link | null> {
  try {
    const [j] = await queryIp(showArgs(opts, 'dev', validateIfName(name)), ns, LinkList);
    return j === undefined ? null : toLink(j);
  } catch (e) {
    if (e instanceof IpError && e.kind === 'not-found') return null;
    throw e;
  }
}

// ENIs are identified by MAC, not name (the name depends on udev and attach order).
export async function findLinkByMac(mac: string, ns?: NetnsRef, opts: LinkReadOptions = {}): Promise<Link | null> {
  const want = validateMac(mac);
  const links = await queryIp(showArgs(opts), ns, LinkList);
  const j = links.find((l) => l.address?.toLowerCase() === want);
  return j === undefined ? null : toLink(j);
}

function mtuMac(mtu: number | undefined, mac: string | undefined): string[] {
  return [
    ...(mtu === undefined ? [] : ['mtu', validateMtu(mtu)]),
    ...(mac === undefined ? [] : ['address', validateMac(mac)]),
  ];
}

// Tokens of `link add ... type veth`; shared by createVeth and batches.
export function vethAddArgs(spec: VethSpec): string[] {
  return [
    'link',
    'add',
    'name',
    validateIfName(spec.name),
    ...mtuMac(spec.mtu, spec.mac),
    'type',
    'veth',
    'peer',
    'name',
    validateIfName(spec.peerName),
    ...mtuMac(spec.mtu, spec.peerMac),
    ...(spec.peerNetns === undefined ? [] : ['netns', netnsArg(spec.peerNetns)]),
  ];
}

// Tokens of `link add ... type bridge`; shared by createBridge and batches.
export function bridgeAddArgs(spec: BridgeSpec): string[] {
  return ['link', 'add', 'name', validateIfName(spec.name), ...mtuMac(spec.mtu, spec.mac), 'type', 'bridge'];
}

// Tokens of `link del`; shared by deleteLink and batches.
export function linkDelArgs(name: string): string[] {
  return ['link', 'del', 'dev', validateIfName(name)];
}

// Tokens of one `link set` carrying every change (one RTM_NEWLINK); null when nothing changes.
export function linkSetArgs(name: string, c: LinkChanges): string[] | null {
  const args = ['link', 'set', 'dev', validateIfName(name)];
  if (c.netns !== undefined) args.push('netns', netnsArg(c.netns));
  if (c.newName !== undefined) args.push('name', validateIfName(c.newName));
  args.push(...mtuMac(c.mtu, c.mac));
  if (c.master === null) args.push('nomaster');
  else if (c.master !== undefined) args.push('master', validateIfName(c.master));
  if (c.alias !== undefined) args.push('alias', validateAlias(c.alias));
  if (c.addrGenMode !== undefined) args.push('addrgenmode', validateToken('addrgenmode', c.addrGenMode));
  if (c.up !== undefined) args.push(c.up ? 'up' : 'down');
  if (c.bridgePort !== undefined) {
    const port: string[] = [];
    for (const flag of ['isolated', 'learning', 'locked'] as const) {
      const on = c.bridgePort[flag];
      if (on !== undefined) port.push(flag, on ? 'on' : 'off');
    }
    if (port.length > 0) args.push('type', 'bridge_slave', ...port);
  }
  return args.length === 4 ? null : args;
}

// The task side and host side of ecs-bridge; the peer can be born directly in the task netns.
export async function createVeth(spec: VethSpec, ns?: NetnsRef): Promise<void> {
  await runIp(vethAddArgs(spec), ns);
}

// The host bridge of ecs-bridge.
export async function createBridge(spec: BridgeSpec, ns?: NetnsRef): Promise<void> {
  await runIp(bridgeAddArgs(spec), ns);
}

// Removes a link (a veth takes its peer with it); 'not-found' when it is already gone.
export async function deleteLink(name: string, ns?: NetnsRef): Promise<void> {
  await runIp(linkDelArgs(name), ns);
}

// All changes to one link in one request, including move + rename (ENI -> task netns as eth0).
export async function setLink(name: string, changes: LinkChanges, ns?: NetnsRef): Promise<void> {
  const args = linkSetArgs(name, changes);
  if (args === null) return;
  try {
    await runIp(args, ns);
  } catch (e) {
    if (e instanceof IpError && e.kind === 'exists' && changes.netns !== undefined && changes.newName !== undefined) {
      await undoHalfMove(name, ns, changes.netns, e);
    }
    throw e;
  }
}

// Kernel quirk (net/core/rtnetlink.c do_setlink, __dev_change_net_namespace): the new name is
// used during the move only when the link's *current* name is taken in the target. Otherwise the
// link moves under its current name and the rename runs after, so a taken new name fails with
// EEXIST *after* the move: the link sits in the target under its old name. Send it back, so a
// failed setLink leaves the link where it was. (The move itself already set it down and dropped
// its addresses; the kernel does that on every netns change.)
async function undoHalfMove(name: string, ns: NetnsRef, target: string, err: IpError): Promise<void> {
  if ((await getLink(name, ns)) !== null) return; // never left
  try {
    await runIp(['link', 'set', 'dev', name, 'netns', netnsArg(ns ?? currentNetns())], target);
  } catch (undo) {
    throw new IpError(
      err.kind,
      `${err.message}; the link was left in netns ${target} as ${name}: moving it back failed: ${(undo as Error).message}`,
      { argv: err.argv, stderr: err.stderr, exitCode: err.exitCode, cause: undo },
    );
  }
}

// Sets a link's alias to any text the kernel keeps (IFALIASZ: at most 255 bytes), or clears it
// (null). It goes to ip as one argv element, never as a batch line, so unlike `alias` in
// LinkChanges it may hold spaces and quotes: a plugin can put back the alias a link had before.
export async function setLinkAlias(name: string, alias: string | null, ns?: NetnsRef): Promise<void> {
  const text = alias ?? '';
  if (text.includes('\0') || Buffer.byteLength(text) > 255)
    throw invalidInput('alias', alias, 'must be at most 255 bytes, without NUL');
  await runIp(['link', 'set', 'dev', validateIfName(name), 'alias', text], ns);
}
