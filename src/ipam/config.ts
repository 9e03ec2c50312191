import { isAbsolute } from 'node:path';
import * as z from 'zod/mini';
import { CniError, ErrorCode, invalidConfig } from '../cni/errors.js';
import type { Route } from '../cni/result.js';
import { described, PATTERNS } from '../cni/json-schema.js';
import { parseConfig } from '../cni/schema.js';
import {
  bitsOf,
  contains,
  formatIp,
  formatSubnet,
  hostBitsSet,
  isReservedByDefault,
  parseCidr,
  parseIp,
  subnetOf,
  type Family,
  type Subnet,
} from './ip.js';

// Where the store lives when neither ipam.dataDir nor IPAM_DB_PATH says otherwise.
export const DEFAULT_DATA_DIR = '/var/lib/tasknet/ipam';

// One address family of the ipam section, validated and defaulted.
export interface PoolConfig {
  family: Family;
  subnet: Subnet;
  gateway: bigint;
  address?: bigint; // ipv4-address / ipv6-address: this exact address instead of the next free one
  routes: Route[];
}

export interface IpamConfig {
  network: string;
  id?: string;
  dataDir: string;
  pools: PoolConfig[]; // IPv4 first, as upstream orders its result
}

const uint = z.number().check(z.int(), z.nonnegative());
// The shapes in described(...) are for JSON Schema (schemas/) only: loadIpamConfig checks every
// value itself, with messages that name the problem.
const routeSchema = (family: 4 | 6) =>
  z.looseObject({
    dst: described(z.string(), { pattern: PATTERNS[`ipv${family}Cidr`] }),
    gw: z.optional(described(z.string(), { pattern: family === 4 ? PATTERNS.ipv4 : PATTERNS.ipv6 })),
    mtu: z.optional(uint),
    advmss: z.optional(uint),
    priority: z.optional(uint),
    table: z.optional(uint),
    scope: z.optional(uint),
  });

// The upstream ecs-ipam section (plugins/ipam/config/config.go) plus dataDir. Unknown keys are
// kept out of the way, not refused: upstream ignores them too (ipam.cniVersion, for one).
export const ipamConfigSchema = z.looseObject({
  ipam: z.looseObject({
    type: z.optional(z.string()),
    id: z.optional(z.string().check(z.maxLength(1024))),
    dataDir: z.optional(described(z.string(), { pattern: PATTERNS.absolutePath })),
    'ipv4-subnet': z.optional(described(z.string(), { pattern: PATTERNS.ipv4Pool })),
    'ipv4-address': z.optional(described(z.string(), { pattern: PATTERNS.ipv4MaybeCidr })),
    'ipv4-gateway': z.optional(described(z.string(), { pattern: PATTERNS.ipv4 })),
    'ipv4-routes': z.optional(z.array(routeSchema(4))),
    'ipv6-subnet': z.optional(described(z.string(), { pattern: PATTERNS.ipv6Pool })),
    'ipv6-address': z.optional(described(z.string(), { pattern: PATTERNS.ipv6MaybeCidr })),
    'ipv6-gateway': z.optional(described(z.string(), { pattern: PATTERNS.ipv6 })),
    'ipv6-routes': z.optional(z.array(routeSchema(6))),
  }),
});

type IpamSection = z.infer<typeof ipamConfigSchema>['ipam'];

// Upstream refuses prefixes longer than these: nothing would be left to allocate (a /31 has no
// address besides network and broadcast; a /127 only one besides the network).
const MAX_PREFIX: Record<Family, number> = { 4: 30, 6: 126 };

// Ranges a task subnet must not touch and a route must not go via: upstream checks neither, and
// what follows is a task network that does not work, or an `ip` failure deep in ecs-bridge. On a
// link the kernel takes 0.0.0.0/8 and multicast addresses without a connected route and 127/8 as
// a martian; it refuses ::1 and multicast ones. As a gateway it refuses unspecified, multicast and
// broadcast ("Nexthop has invalid gateway") and takes loopback, which leads nowhere; an IPv6
// packet from an IPv4-mapped address is dropped on receipt (RFC 4291 2.5.5.2).
const SPECIAL: Record<Family, [range: string, what: string][]> = {
  4: [
    ['0.0.0.0/8', 'unspecified'],
    ['127.0.0.0/8', 'loopback'],
    ['224.0.0.0/4', 'multicast'],
    ['255.255.255.255/32', 'broadcast'],
  ],
  6: [
    ['::/128', 'unspecified'],
    ['::1/128', 'loopback'],
    ['::ffff:0:0/96', 'IPv4-mapped'],
    ['ff00::/8', 'multicast'],
  ],
};

const specialRanges = (family: Family): { range: Subnet; what: string }[] =>
  SPECIAL[family].map(([text, what]) => {
    const cidr = parseCidr(text)!;
    return { range: subnetOf(family, cidr.value, cidr.prefix), what };
  });

// "in 224.0.0.0/4 (multicast)" for the first special range that shares an address with `subnet`
// (one holds the other's first address), or undefined.
const specialOverlap = (subnet: Subnet): string | undefined => {
  const found = specialRanges(subnet.family).find(
    ({ range }) => contains(range, subnet.network) || contains(subnet, range.network),
  );
  return found && `${formatSubnet(found.range)} (${found.what})`;
};

// Reads the ipam section of a request. Every violation is code 7 naming the field and its value.
export const loadIpamConfig = (
  config: Record<string, unknown> & { name: string },
  env: Readonly<Record<string, string | undefined>>,
): IpamConfig => {
  const { ipam } = parseConfig(ipamConfigSchema, config);
  const pools = ([4, 6] as const).flatMap((family) => {
    const pool = loadPool(ipam, family);
    return pool ? [pool] : [];
  });
  if (pools.length === 0) {
    throw new CniError(
      ErrorCode.InvalidNetworkConfig,
      'invalid ipam: at least one subnet is required (ipam.ipv4-subnet or ipam.ipv6-subnet)',
    );
  }
  return {
    network: config.name,
    ...(ipam.id ? { id: ipam.id } : {}),
    dataDir: dataDirOf(ipam, env),
    pools,
  };
};

const dataDirOf = (ipam: IpamSection, env: Readonly<Record<string, string | undefined>>): string => {
  if (ipam.dataDir !== undefined) {
    if (!isAbsolute(ipam.dataDir)) throw invalidConfig('ipam.dataDir', ipam.dataDir, 'must be an absolute path');
    if (ipam.dataDir.split('/').includes('..'))
      throw invalidConfig('ipam.dataDir', ipam.dataDir, 'must not contain ".."');
    return ipam.dataDir;
  }
  const fromEnv = env.IPAM_DB_PATH;
  if (fromEnv) {
    if (!isAbsolute(fromEnv) || fromEnv.split('/').includes('..')) {
      throw new CniError(
        ErrorCode.InvalidEnvironment,
        `invalid IPAM_DB_PATH ${JSON.stringify(fromEnv)}: must be an absolute path without ".."`,
      );
    }
    return fromEnv;
  }
  return DEFAULT_DATA_DIR;
};

const familyFields = (ipam: IpamSection, family: Family) =>
  family === 4
    ? {
        subnet: ipam['ipv4-subnet'],
        address: ipam['ipv4-address'],
        gateway: ipam['ipv4-gateway'],
        routes: ipam['ipv4-routes'],
      }
    : {
        subnet: ipam['ipv6-subnet'],
        address: ipam['ipv6-address'],
        gateway: ipam['ipv6-gateway'],
        routes: ipam['ipv6-routes'],
      };

const loadPool = (ipam: IpamSection, family: Family): PoolConfig | undefined => {
  const given = familyFields(ipam, family);
  const field = (name: string) => `ipam.ipv${family}-${name}`;
  if (given.subnet === undefined) {
    for (const name of ['address', 'gateway', 'routes'] as const) {
      if (given[name] !== undefined) throw invalidConfig(field(name), given[name], `needs ${field('subnet')}`);
    }
    return undefined;
  }
  const subnet = parseSubnet(field('subnet'), given.subnet, family);
  const gateway =
    given.gateway === undefined
      ? subnet.network + 1n
      : parseAddressIn(field('gateway'), given.gateway, subnet, 'plain');
  const address =
    given.address === undefined ? undefined : parseAddressIn(field('address'), given.address, subnet, 'cidr');
  if (address !== undefined && address === gateway) {
    throw invalidConfig(field('address'), given.address, `is the gateway of ${formatSubnet(subnet)}`);
  }
  const routes = (given.routes ?? []).map((route, i) => parseRoute(`${field('routes')}.${i}`, route, family));
  return { family, subnet, gateway, ...(address === undefined ? {} : { address }), routes };
};

const parseSubnet = (field: string, text: string, family: Family): Subnet => {
  const cidr = parseCidr(text);
  if (!cidr) throw invalidConfig(field, text, 'must be an address with a prefix length (CIDR)');
  if (cidr.family !== family) throw invalidConfig(field, text, `must be an IPv${family} subnet`);
  if (cidr.prefix > MAX_PREFIX[family]) {
    throw invalidConfig(
      field,
      text,
      `leaves no address to allocate: the longest usable prefix is /${MAX_PREFIX[family]}`,
    );
  }
  const subnet = subnetOf(family, cidr.value, cidr.prefix);
  // Upstream keeps the host bits and derives a shifted gateway from them; a subnet is its network.
  if (hostBitsSet(family, cidr.value, cidr.prefix)) {
    throw invalidConfig(field, text, `has host bits set: the subnet is ${formatSubnet(subnet)}`);
  }
  // Not a subnet but every address, the host's own included (and all of the ranges below).
  if (cidr.prefix === 0) throw invalidConfig(field, text, 'is every address (a default route), not a subnet');
  const special = specialOverlap(subnet);
  if (special) throw invalidConfig(field, text, `overlaps ${special}: a task subnet must be unicast`);
  return subnet;
};

// A gateway is a plain address; ipvN-address is a CIDR upstream, and a plain address is accepted
// too. Either must lie inside the subnet and not be its network (or IPv4 broadcast) address.
const parseAddressIn = (field: string, text: string, subnet: Subnet, form: 'plain' | 'cidr'): bigint => {
  const cidr = form === 'cidr' && text.includes('/') ? parseCidr(text) : undefined;
  const ip = cidr ?? parseIp(text);
  if (!ip)
    throw invalidConfig(
      field,
      text,
      form === 'cidr' ? 'must be an IP address, with or without a prefix length' : 'must be an IP address',
    );
  if (ip.family !== subnet.family) throw invalidConfig(field, text, `must be an IPv${subnet.family} address`);
  if (cidr && cidr.prefix !== subnet.prefix) {
    throw invalidConfig(
      field,
      text,
      `has prefix /${cidr.prefix} but the subnet ${formatSubnet(subnet)} has /${subnet.prefix}`,
    );
  }
  if (!contains(subnet, ip.value)) throw invalidConfig(field, text, `is not within the subnet ${formatSubnet(subnet)}`);
  if (isReservedByDefault(subnet, ip.value)) {
    const what = ip.value === subnet.network ? 'network' : 'broadcast';
    throw invalidConfig(field, text, `is the ${what} address of ${formatSubnet(subnet)}`);
  }
  return ip.value;
};

const parseRoute = (field: string, route: z.infer<ReturnType<typeof routeSchema>>, family: Family): Route => {
  const dst = parseCidr(route.dst);
  if (!dst) throw invalidConfig(`${field}.dst`, route.dst, 'must be an address with a prefix length (CIDR)');
  if (dst.family !== family) throw invalidConfig(`${field}.dst`, route.dst, `must be an IPv${family} destination`);
  if (hostBitsSet(family, dst.value, dst.prefix)) {
    const net = subnetOf(family, dst.value, dst.prefix);
    throw invalidConfig(`${field}.dst`, route.dst, `has host bits set: did you mean ${formatSubnet(net)}?`);
  }
  const out: Route = { dst: `${formatIp(family, dst.value)}/${dst.prefix}` };
  if (route.gw !== undefined) {
    const gw = parseIp(route.gw);
    if (!gw || gw.family !== family) throw invalidConfig(`${field}.gw`, route.gw, `must be an IPv${family} address`);
    const special = specialOverlap(subnetOf(family, gw.value, bitsOf(family)));
    if (special) throw invalidConfig(`${field}.gw`, route.gw, `is in ${special}: a gateway must be unicast`);
    out.gw = formatIp(family, gw.value);
  }
  for (const k of ['mtu', 'advmss', 'priority', 'table', 'scope'] as const) {
    if (route[k] !== undefined) out[k] = route[k];
  }
  return out;
};
