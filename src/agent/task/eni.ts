// The ENI a task gets: where it comes from (`--eni MAC,ip=CIDR,gw=IP` or the lab's pool) and
// what the task sees of it (addresses, gateway, DNS name).
import { isIP } from 'node:net';

export interface EniSpec {
  id: string; // eni-..., for the plugin's `eni` field and the metadata
  mac: string; // lower case, colon separated
  addresses: string[]; // CIDRs, v4 first
  gateways: string[]; // one per family at most
  subnets: string[]; // the subnet of each address, for TMDS IPv4SubnetCIDRBlock
  privateDnsName?: string;
}

export class EniSpecError extends Error {
  override readonly name = 'EniSpecError';
}

const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

export const parseMac = (text: string): string => {
  const mac = text.trim().toLowerCase().replaceAll('-', ':');
  if (!MAC.test(mac))
    throw new EniSpecError(
      `invalid MAC address ${JSON.stringify(text)}: expected six hex bytes like 0e:12:34:56:78:9a`,
    );
  if ((parseInt(mac.slice(0, 2), 16) & 1) === 1)
    throw new EniSpecError(`invalid MAC address ${JSON.stringify(text)}: a multicast address cannot be an ENI`);
  return mac;
};

const ipv4ToInt = (ip: string): number => ip.split('.').reduce((n, o) => n * 256 + Number(o), 0);
const intToIpv4 = (n: number): string => [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join('.');

// The network of a CIDR: 10.0.0.10/24 -> 10.0.0.0/24 (IPv6 is kept as given, prefix and all).
export const subnetOf = (cidr: string): string => {
  const [ip, prefix] = cidr.split('/') as [string, string];
  if (isIP(ip) !== 4) return cidr;
  const bits = Number(prefix);
  const size = 2 ** (32 - bits);
  return `${intToIpv4(Math.floor(ipv4ToInt(ip) / size) * size)}/${bits}`;
};

const parseCidr = (text: string): string => {
  const [ip, prefix, extra] = text.split('/');
  const family = isIP(ip ?? '');
  const bits = Number(prefix);
  if (extra !== undefined || family === 0 || !/^\d+$/.test(prefix ?? '') || bits > (family === 4 ? 32 : 128)) {
    throw new EniSpecError(
      `invalid ip=${JSON.stringify(text)}: expected an address with a prefix length, like 10.0.0.10/24`,
    );
  }
  return `${ip}/${bits}`;
};

const familyOf = (address: string): number => isIP(address.split('/')[0]!);

// `MAC,ip=CIDR[,ip=CIDR],gw=IP[,gw=IP][,id=eni-...][,dns=NAME]` (what `tasknet run --eni` takes).
export const parseEniSpec = (text: string): EniSpec => {
  const [macText, ...pairs] = text.split(',');
  const mac = parseMac(macText ?? '');
  const addresses: string[] = [];
  const gateways: string[] = [];
  let id: string | undefined;
  let dns: string | undefined;
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    const key = pair.slice(0, eq);
    const value = pair.slice(eq + 1);
    if (eq < 0)
      throw new EniSpecError(
        `invalid --eni part ${JSON.stringify(pair)}: expected ip=CIDR, gw=IP, id=ENI-ID or dns=NAME`,
      );
    if (key === 'ip') addresses.push(parseCidr(value));
    else if (key === 'gw') {
      if (isIP(value) === 0) throw new EniSpecError(`invalid gw=${JSON.stringify(value)}: expected an IP address`);
      gateways.push(value);
    } else if (key === 'id') {
      if (!/^eni-[0-9a-zA-Z]{1,32}$/.test(value))
        throw new EniSpecError(`invalid id=${JSON.stringify(value)}: expected eni- and up to 32 letters or digits`);
      id = value;
    } else if (key === 'dns') {
      if (!/^[a-zA-Z0-9.-]{1,253}$/.test(value))
        throw new EniSpecError(`invalid dns=${JSON.stringify(value)}: expected a DNS name`);
      dns = value;
    } else throw new EniSpecError(`invalid --eni key ${JSON.stringify(key)}: expected ip, gw, id or dns`);
  }
  return makeEniSpec({ mac, addresses, gateways, ...(id ? { id } : {}), ...(dns ? { privateDnsName: dns } : {}) });
};

// Checks the parts fit together (an address, at most one gateway per family, each gateway inside
// an address's subnet family) and fills in the derived fields.
export const makeEniSpec = (parts: {
  mac: string;
  addresses: string[];
  gateways: string[];
  id?: string;
  privateDnsName?: string;
}): EniSpec => {
  const mac = parseMac(parts.mac);
  if (parts.addresses.length === 0) throw new EniSpecError(`ENI ${mac} needs at least one ip=CIDR`);
  const addresses = [...parts.addresses].sort((a, b) => familyOf(a) - familyOf(b));
  for (const family of [4, 6]) {
    const gws = parts.gateways.filter((g) => isIP(g) === family);
    if (gws.length > 1)
      throw new EniSpecError(`ENI ${mac} has ${gws.length} IPv${family} gateways: give at most one per family`);
    if (gws.length === 1 && !addresses.some((a) => familyOf(a) === family)) {
      throw new EniSpecError(`ENI ${mac}: gateway ${gws[0]} is IPv${family} but the ENI has no IPv${family} address`);
    }
  }
  return {
    id: parts.id ?? `eni-${mac.replaceAll(':', '')}`,
    mac,
    addresses,
    gateways: [...parts.gateways].sort((a, b) => isIP(a) - isIP(b)),
    subnets: addresses.map(subnetOf),
    ...(parts.privateDnsName ? { privateDnsName: parts.privateDnsName } : {}),
  };
};

// The task hostname awsvpc derives from the primary address: 10.0.0.10 -> ip-10-0-0-10.
export const hostnameFor = (eni: EniSpec): string => {
  if (eni.privateDnsName) return eni.privateDnsName.split('.')[0]!;
  const ip = eni.addresses[0]!.split('/')[0]!;
  return `ip-${ip.replaceAll(/[.:]/g, '-')}`.slice(0, 63);
};
