import { CniError, ErrorCode } from './errors.js';
import { compareVersions } from './version.js';

// The one internal result model: spec 1.1.0. Older shapes exist only at the edges
// (formatResult on the way out, parseResult on the way in).
export interface Interface {
  name: string;
  mac?: string;
  mtu?: number;
  sandbox?: string;
  socketPath?: string;
  pciID?: string;
}

export interface IpConfig {
  address: string; // CIDR: the address with the subnet's prefix length
  gateway?: string;
  interface?: number; // index into interfaces
}

export interface Route {
  dst: string;
  gw?: string;
  mtu?: number;
  advmss?: number;
  priority?: number;
  table?: number;
  scope?: number;
}

export interface Dns {
  nameservers?: string[];
  domain?: string;
  search?: string[];
  options?: string[];
}

export interface Result {
  cniVersion: string;
  interfaces?: Interface[];
  ips?: IpConfig[];
  routes?: Route[];
  dns?: Dns;
}

const ipOf = (cidr: string): string => cidr.split('/')[0] ?? '';
// Addresses here were validated on the way in; a colon is what tells IPv6 apart. (node:net's isIP
// would load the net module, ~5 ms of every plugin's start-up, VERSION included.)
export const familyOf = (addressOrCidr: string): 4 | 6 => (ipOf(addressOrCidr).includes(':') ? 6 : 4);

const isEmptyDns = (dns: Dns | undefined): boolean =>
  !dns || (!dns.nameservers?.length && !dns.domain && !dns.search?.length && !dns.options?.length);

const pick = <T extends object>(value: T, keys: readonly (keyof T)[]): Partial<T> => {
  const out: Partial<T> = {};
  for (const key of keys) if (value[key] !== undefined && value[key] !== '') out[key] = value[key];
  return out;
};

const INTERFACE_V1_1 = ['name', 'mac', 'mtu', 'sandbox', 'socketPath', 'pciID'] as const;
const INTERFACE_V0_3 = ['name', 'mac', 'sandbox'] as const;
const ROUTE_V1_1 = ['dst', 'gw', 'mtu', 'advmss', 'priority', 'table', 'scope'] as const;
const ROUTE_V0_3 = ['dst', 'gw'] as const;

// Renders a result in the shape of the requested spec version (SPEC.md "Result", and the Go
// library's convertTo020/040/100). Fields a version does not know are dropped, never guessed.
export const formatResult = (result: Result, version: string): Record<string, unknown> => {
  if (compareVersions(version, '0.3.0') < 0) return formatLegacy(result, version);
  const modern = compareVersions(version, '1.0.0') >= 0;
  const v11 = compareVersions(version, '1.1.0') >= 0;
  const out: Record<string, unknown> = { cniVersion: version };
  if (result.interfaces?.length) {
    out.interfaces = result.interfaces.map((i) => pick(i, v11 ? INTERFACE_V1_1 : INTERFACE_V0_3));
  }
  if (result.ips?.length) {
    out.ips = result.ips.map((ip) => ({
      ...(modern ? {} : { version: String(familyOf(ip.address)) }),
      ...(ip.interface === undefined ? {} : { interface: ip.interface }),
      address: ip.address,
      ...(ip.gateway ? { gateway: ip.gateway } : {}),
    }));
  }
  if (result.routes?.length) out.routes = result.routes.map((r) => pick(r, v11 ? ROUTE_V1_1 : ROUTE_V0_3));
  if (!isEmptyDns(result.dns)) out.dns = result.dns;
  return out;
};

// 0.1.0/0.2.0 know one address per family (ip4/ip6); like libcni we keep the first of each and
// sort routes by destination family, and refuse a result with no address at all.
const formatLegacy = (result: Result, version: string): Record<string, unknown> => {
  const out: Record<string, unknown> = { cniVersion: version };
  for (const family of [4, 6] as const) {
    const ip = result.ips?.find((i) => familyOf(i.address) === family);
    if (!ip) continue;
    const routes = (result.routes ?? []).filter((r) => familyOf(r.dst) === family).map((r) => pick(r, ROUTE_V0_3));
    out[`ip${family}`] = {
      ip: ip.address,
      ...(ip.gateway ? { gateway: ip.gateway } : {}),
      ...(routes.length ? { routes } : {}),
    };
  }
  if (!out.ip4 && !out.ip6) {
    throw new CniError(ErrorCode.IncompatibleVersion, `cannot convert result to version ${version}: no IP addresses`);
  }
  if (!isEmptyDns(result.dns)) out.dns = result.dns;
  return out;
};
