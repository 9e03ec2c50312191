// The little address arithmetic ecs-eni needs: is a gateway inside one of the ENI's subnets (if
// not, its default route needs `onlink`), and one spelling per address so that a config, a
// prevResult and `ip -j` output compare equal ("2001:DB8:0::1" is "2001:db8::1").
import { formatIp, hostMask, parseCidr, parseIp, type Family } from '../../cni/ip.js';

// One spelling per address: dotted quad, or RFC 5952; anything unparsable is returned as given.
export const canonicalIp = (ip: string): string => {
  const parsed = parseIp(ip);
  return parsed ? formatIp(parsed.family, parsed.value) : ip;
};

export const canonicalCidr = (cidr: string): string => {
  const [ip = '', prefix = ''] = cidr.split('/');
  return `${canonicalIp(ip)}/${Number(prefix)}`;
};

// True when `ip` lies in the subnet of `cidr` (an interface address such as 10.0.1.5/24).
export const inSubnet = (ip: string, cidr: string): boolean => {
  const a = parseIp(ip);
  const c = parseCidr(cidr);
  if (!a || !c || a.family !== c.family) return false;
  const host = hostMask(c.family, c.prefix);
  return (a.value & ~host) === (c.value & ~host);
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
  const c = parseCidr(cidr);
  if (!c) return 'must be an IPv4 or IPv6 address with a prefix length (CIDR)';
  const special = isSpecial(c.family, c.value);
  if (special) return special;
  if (c.family === 4 && c.prefix <= 30) {
    const host = c.value & hostMask(4, c.prefix);
    if (host === 0n) return 'is the network address of its subnet';
    if (host === hostMask(4, c.prefix)) return 'is the broadcast address of its subnet';
  }
  return undefined;
};

// Why an address cannot be a gateway; undefined when it can.
export const gatewayProblem = (ip: string): string | undefined => {
  const a = parseIp(ip);
  if (!a) return 'must be an IPv4 or IPv6 address';
  return isSpecial(a.family, a.value);
};

// IPv6 link-local gateways (fe80::/10, AWS's own is fe80::1) are reached through the interface
// named in the route; the kernel accepts them without `onlink`.
export const isLinkLocal = (ip: string): boolean => {
  const a = parseIp(ip);
  return a?.family === 6 && a.value >> 118n === 0x3fan;
};
