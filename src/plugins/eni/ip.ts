// The little address arithmetic ecs-eni needs: is a gateway inside one of the ENI's subnets (if
// not, its default route needs `onlink`), and one spelling per address so that a config, a
// prevResult and `ip -j` output compare equal ("2001:DB8:0::1" is "2001:db8::1").
import { isIP } from 'node:net';

export type Family = 4 | 6;

interface Parsed {
  family: Family;
  value: bigint;
}

const parseV4 = (ip: string): bigint =>
  ip.split('.').reduce((acc, octet) => (acc << 8n) | BigInt(Number(octet)), 0n);

// Expands "::" and an embedded IPv4 tail ("::ffff:1.2.3.4") into 8 groups.
const parseV6 = (ip: string): bigint => {
  let text = ip.toLowerCase();
  const v4Tail = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4Tail) {
    const v4 = parseV4(v4Tail[1]!);
    text = `${text.slice(0, v4Tail.index)}${(v4 >> 16n).toString(16)}:${(v4 & 0xffffn).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const headGroups = head === '' ? [] : head.split(':');
  const tailGroups = tail === undefined || tail === '' ? [] : tail.split(':');
  const zeros = tail === undefined ? 0 : 8 - headGroups.length - tailGroups.length;
  const groups = [...headGroups, ...Array<string>(zeros).fill('0'), ...tailGroups];
  return groups.reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g, 16)), 0n);
};

// undefined for anything that is not a plain IPv4 or IPv6 address (no zone, no prefix).
export const parseIpAddress = (ip: string): Parsed | undefined => {
  const family = isIP(ip);
  if (family === 4) return { family, value: parseV4(ip) };
  if (family === 6 && !ip.includes('%')) return { family, value: parseV6(ip) };
  return undefined;
};

const bitsOf = (family: Family): bigint => (family === 4 ? 32n : 128n);

// RFC 5952 text: lower case, the longest run (2+) of zero groups as "::", first one on a tie.
const formatV6 = (value: bigint): string => {
  const groups = Array.from({ length: 8 }, (_, i) => Number((value >> BigInt((7 - i) * 16)) & 0xffffn));
  let best = { start: -1, length: 0 };
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > best.length) best = { start: i, length: j - i };
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best.length < 2) return hex.join(':');
  return `${hex.slice(0, best.start).join(':')}::${hex.slice(best.start + best.length).join(':')}`;
};

export const canonicalIp = (ip: string): string => {
  const parsed = parseIpAddress(ip);
  if (!parsed) return ip;
  return parsed.family === 4 ? ip.split('.').map(Number).join('.') : formatV6(parsed.value);
};

export const canonicalCidr = (cidr: string): string => {
  const [ip = '', prefix = ''] = cidr.split('/');
  return `${canonicalIp(ip)}/${Number(prefix)}`;
};

export interface ParsedCidr {
  family: Family;
  address: bigint;
  prefix: number;
}

// ADDRESS/PREFIX with a decimal prefix in range for the family; undefined otherwise.
export const parseCidrText = (cidr: string): ParsedCidr | undefined => {
  const parts = cidr.split('/');
  if (parts.length !== 2 || !/^\d{1,3}$/.test(parts[1]!)) return undefined;
  const ip = parseIpAddress(parts[0]!);
  const prefix = Number(parts[1]);
  if (!ip || prefix > Number(bitsOf(ip.family))) return undefined;
  return { family: ip.family, address: ip.value, prefix };
};

const maskOf = (family: Family, prefix: number): bigint => {
  const bits = bitsOf(family);
  return ((1n << bits) - 1n) ^ ((1n << (bits - BigInt(prefix))) - 1n);
};

// True when `ip` lies in the subnet of `cidr` (an interface address such as 10.0.1.5/24).
export const inSubnet = (ip: string, cidr: string): boolean => {
  const a = parseIpAddress(ip);
  const c = parseCidrText(cidr);
  if (!a || !c || a.family !== c.family) return false;
  const mask = maskOf(c.family, c.prefix);
  return (a.value & mask) === (c.address & mask);
};

const isSpecial = (family: Family, value: bigint): string | undefined => {
  if (value === 0n) return 'is the unspecified address';
  if (family === 4) {
    if (value >> 24n === 127n) return 'is a loopback address';
    if (value >> 28n === 0xen) return 'is a multicast address';
    if (value === 0xffffffffn) return 'is the broadcast address';
  } else {
    if (value === 1n) return 'is the loopback address';
    if (value >> 120n === 0xffn) return 'is a multicast address';
  }
  return undefined;
};

// Why an address cannot be a unicast host address of an interface; undefined when it can.
// IPv4 subnets larger than /31 also reserve their network and broadcast addresses.
export const hostAddressProblem = (cidr: string): string | undefined => {
  const c = parseCidrText(cidr);
  if (!c) return 'must be an IPv4 or IPv6 address with a prefix length (CIDR)';
  const special = isSpecial(c.family, c.address);
  if (special) return special;
  if (c.family === 4 && c.prefix <= 30) {
    const host = c.address & ~maskOf(4, c.prefix) & 0xffffffffn;
    if (host === 0n) return 'is the network address of its subnet';
    if (host === (1n << BigInt(32 - c.prefix)) - 1n) return 'is the broadcast address of its subnet';
  }
  return undefined;
};

// Why an address cannot be a gateway; undefined when it can.
export const gatewayProblem = (ip: string): string | undefined => {
  const a = parseIpAddress(ip);
  if (!a) return 'must be an IPv4 or IPv6 address';
  return isSpecial(a.family, a.value);
};

// IPv6 link-local gateways (fe80::/10, AWS's own is fe80::1) are reached through the interface
// named in the route; the kernel accepts them without `onlink`.
export const isLinkLocal = (ip: string): boolean => {
  const a = parseIpAddress(ip);
  return a?.family === 6 && a.value >> 118n === 0x3fan;
};

