// Interface addresses (v4 and v6): list, add, delete, flush.
import * as z from 'zod/mini';
import { IpError } from './errors.js';
import { LinkJson, toLink, type Link } from './link.js';
import { queryIp, runIp, type NetnsRef } from './run.js';
import { parseCidr, validateIfName, type IpFamily } from './validate.js';

export interface Address {
  dev: string;
  ifindex: number;
  family: IpFamily;
  address: string;
  prefixLen: number;
  /** `address/prefixLen`. */
  cidr: string;
  scope: string;
  label?: string;
  /** ip's boolean address flags that are set: 'tentative', 'dadfailed', 'nodad', 'dynamic', ... */
  flags: string[];
}

export interface AddressFilter {
  dev?: string;
  family?: IpFamily;
}

export interface AddAddressOptions {
  /** IPv6 only: skip duplicate address detection, so the address is usable at once. */
  noDad?: boolean;
  /** Do not create the connected-subnet route (IFA_F_NOPREFIXROUTE; v4 and v6). */
  noPrefixRoute?: boolean;
}

// `local` is optional: `ip -j addr` can print an empty {} in addr_info for a filtered family.
const AddrInfo = z.looseObject({
  family: z.string(),
  local: z.optional(z.string()),
  prefixlen: z.optional(z.number()),
  scope: z.optional(z.string()),
  label: z.optional(z.string()),
});
const AddrLinkList = z.array(
  z.looseObject({ ifindex: z.number(), ifname: z.string(), addr_info: z.optional(z.array(AddrInfo)) }),
);

// One addr_info entry to our Address (null for the empty ones); exported for parser tests.
export function toAddress(dev: string, ifindex: number, a: z.infer<typeof AddrInfo>): Address | null {
  if (a.local === undefined || a.prefixlen === undefined) return null;
  const flags: string[] = [];
  for (const [k, v] of Object.entries(a)) if (v === true) flags.push(k);
  const out: Address = {
    dev,
    ifindex,
    family: a.family === 'inet6' ? 6 : 4,
    address: a.local,
    prefixLen: a.prefixlen,
    cidr: `${a.local}/${a.prefixlen}`,
    scope: a.scope ?? 'global',
    flags,
  };
  if (a.label !== undefined) out.label = a.label;
  return out;
}

const familyFlag = (f: IpFamily | undefined): string[] => (f === undefined ? [] : [f === 4 ? '-4' : '-6']);

// The addresses a CHECK compares with the CNI result, or a DEL must hand back.
export async function listAddresses(filter: AddressFilter = {}, ns?: NetnsRef): Promise<Address[]> {
  const dev = filter.dev === undefined ? [] : ['dev', validateIfName(filter.dev)];
  const links = await queryIp(['-j', ...familyFlag(filter.family), 'addr', 'show', ...dev], ns, AddrLinkList);
  const out: Address[] = [];
  for (const l of links) {
    for (const a of l.addr_info ?? []) {
      const addr = toAddress(l.ifname, l.ifindex, a);
      if (addr !== null && (filter.family === undefined || addr.family === filter.family)) out.push(addr);
    }
  }
  return out;
}

// Tokens of `addr add|del CIDR dev DEV`; shared by the functions below and batches.
export function addrArgs(verb: 'add' | 'del', dev: string, cidr: string, opts: AddAddressOptions = {}): string[] {
  const c = parseCidr(cidr);
  const flags =
    verb === 'del'
      ? []
      : [...(opts.noDad && c.family === 6 ? ['nodad'] : []), ...(opts.noPrefixRoute ? ['noprefixroute'] : [])];
  return ['addr', verb, c.cidr, 'dev', validateIfName(dev), ...flags];
}

// Tokens of `addr flush dev DEV`.
export function addrFlushArgs(dev: string): string[] {
  return ['addr', 'flush', 'dev', validateIfName(dev)];
}

// Gives a task interface its address; 'exists' when it already has it.
export async function addAddress(
  dev: string,
  cidr: string,
  ns?: NetnsRef,
  opts: AddAddressOptions = {},
): Promise<void> {
  await runIp(addrArgs('add', dev, cidr, opts), ns);
}

// Removes one address; 'not-found' when it is not there.
export async function deleteAddress(dev: string, cidr: string, ns?: NetnsRef): Promise<void> {
  await runIp(addrArgs('del', dev, cidr), ns);
}

// Strips every address (v4 and v6, link-local too) before an ENI goes back to the host.
export async function flushAddresses(dev: string, ns?: NetnsRef): Promise<void> {
  await runIp(addrFlushArgs(dev), ns);
}

const LinkWithAddrList = z.array(z.extend(LinkJson, { addr_info: z.optional(z.array(AddrInfo)) }));

// A link with its details and its addresses from one `ip -d addr show dev NAME` (ip prints the
// link there too): one process where getLink + listAddresses start two. null if there is no link.
export async function getLinkWithAddresses(
  name: string,
  ns?: NetnsRef,
): Promise<{ link: Link; addresses: Address[] } | null> {
  try {
    const [j] = await queryIp(['-j', '-d', 'addr', 'show', 'dev', validateIfName(name)], ns, LinkWithAddrList);
    return j === undefined ? null : linkWithAddresses(j);
  } catch (e) {
    if (e instanceof IpError && e.kind === 'not-found') return null;
    throw e;
  }
}

const linkWithAddresses = (j: z.infer<typeof LinkWithAddrList>[number]): { link: Link; addresses: Address[] } => ({
  link: toLink(j),
  addresses: (j.addr_info ?? []).map((a) => toAddress(j.ifname, j.ifindex, a)).filter((a): a is Address => a !== null),
});

// What IpBatch.showLinkWithAddresses read (one of run()'s outputs), through the same schema.
export function parseLinkWithAddresses(output: unknown): { link: Link; addresses: Address[] } | null {
  const parsed = LinkWithAddrList.safeParse(output);
  if (!parsed.success) throw new IpError('unknown', `ip -j -d addr show: unexpected JSON: ${parsed.error.message}`);
  const [j] = parsed.data;
  return j === undefined ? null : linkWithAddresses(j);
}
