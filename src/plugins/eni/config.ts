// ecs-eni's config: the two upstream dialects (ecs-eni kebab-case, vpc-eni camelCase) read into
// one model, plus per-container overrides from CNI_ARGS so a static conflist can serve every task.
// ecs-eni's pre-2020 keys (ipv4-address, ipv6-address, subnetgateway-ipv4-address) are read as
// today's ip-addresses and gateway-ip-addresses. See docs/ecs-eni.md for the reference.
import * as z from 'zod/mini';
import type { CniArgs } from '../../cni/args.js';
import type { NetConfObject } from '../../cni/config.js';
import { interfaceNameProblem } from '../../cni/env.js';
import { CniError, ErrorCode } from '../../cni/errors.js';
import { formatIp, hostMask, parseCidr } from '../../cni/ip.js';
import { familyOf } from '../../cni/result.js';
import { described, PATTERNS } from '../../cni/json-schema.js';
import { parseConfig } from '../../cni/schema.js';
import { ENI_ARGS } from './args.js';
import { canonicalIp, gatewayProblem, hostAddressProblem } from './ip.js';

export type Dialect = 'ecs-eni' | 'vpc-eni';

export interface EniConfig {
  dialect: Dialect | undefined;
  /** ecs-eni `eni`: the ENI id, for log lines only (upstream never uses it either). */
  eniId: string | undefined;
  /** The ENI's link name in the host netns; when set, the ENI is found by name. */
  name: string | undefined;
  /** Lower case, colon separated. */
  mac: string | undefined;
  /** CIDRs, in config order. */
  addresses: string[];
  /** At most one per family, each with an address of its family. */
  gateways: string[];
  blockInstanceMetadata: boolean;
  stayDown: boolean;
  /** 0 = leave the ENI's MTU as it is. */
  mtu: number;
  /** Present when the config uses ecs-eni's pre-2020 keys: which, and what they were read as. */
  legacy?: LegacyFormat;
}

export interface LegacyFormat {
  keys: string[];
  addresses: string[];
  gateways: string[];
}

type Field = 'eniId' | 'name' | 'mac' | 'addresses' | 'gateways' | 'block' | 'stayDown';

// Exported for scripts/gen-schemas.ts: JSON Schema refuses a config that mixes the dialects too.
export const FIELDS: Record<Dialect, Partial<Record<Field, string>>> = {
  'ecs-eni': {
    eniId: 'eni',
    mac: 'mac',
    addresses: 'ip-addresses',
    gateways: 'gateway-ip-addresses',
    block: 'block-instance-metadata',
    stayDown: 'stay-down',
  },
  'vpc-eni': {
    name: 'eniName',
    mac: 'eniMACAddress',
    addresses: 'eniIPAddresses',
    gateways: 'gatewayIPAddresses',
    block: 'blockInstanceMetadata',
    stayDown: 'opStateDown',
  },
};

// Types only; what a value means (a MAC, a CIDR) is checked below, the same way for config
// values and CNI_ARGS values. `mtu` belongs to both dialects (vpc-eni lost it; we keep it).
// described(...) and the checks after mtu's refinement say the shapes for JSON Schema
// (schemas/); parsing ignores the former and the refinement fails first where the latter fail.
const mac = () => z.optional(described(z.string(), { pattern: PATTERNS.mac }));
const linkName = () => z.optional(described(z.string(), { maxLength: 15, pattern: PATTERNS.ifName }));
const addresses = () =>
  z.optional(described(z.array(described(z.string(), { pattern: PATTERNS.cidr })), { uniqueItems: true }));
const gateways = () =>
  z.optional(described(z.array(described(z.string(), { pattern: PATTERNS.ip })), { maxItems: 2, uniqueItems: true }));
export const eniConfigSchema = z.looseObject({
  eni: z.optional(described(z.string(), { minLength: 1 })),
  mac: mac(),
  'ip-addresses': addresses(),
  'gateway-ip-addresses': gateways(),
  'block-instance-metadata': z.optional(z.boolean()),
  'stay-down': z.optional(z.boolean()),
  eniName: linkName(),
  eniMACAddress: mac(),
  eniIPAddresses: addresses(),
  gatewayIPAddresses: gateways(),
  blockInstanceMetadata: z.optional(z.boolean()),
  opStateDown: z.optional(z.boolean()),
  // ecs-eni before 2020 (legacyFormat below): one address per family and the subnet's gateway.
  'ipv4-address': z.optional(described(z.string(), { pattern: PATTERNS.ipv4MaybeCidr })),
  'ipv6-address': z.optional(described(z.string(), { pattern: PATTERNS.ipv6MaybeCidr })),
  'subnetgateway-ipv4-address': z.optional(described(z.string(), { pattern: PATTERNS.ipv4SubnetGateway })),
  mtu: z.optional(
    described(
      z.number().check(
        z.refine(
          (n) => Number.isInteger(n) && (n === 0 || (n >= 68 && n <= 65535)),
          'must be an integer, 0 (leave unchanged) or between 68 and 65535',
        ),
        z.int(),
        z.minimum(0),
        z.maximum(65535),
      ),
      { not: { type: 'integer', minimum: 1, maximum: 67 } },
    ),
  ),
});
type Raw = z.infer<typeof eniConfigSchema>;

// Where a value came from, so its error names the place the user has to fix: a config field
// (code 7, invalid network config) or a CNI_ARGS key (code 4, invalid environment variable).
interface Source {
  label: string;
  code: number;
}

const fromConfig = (label: string): Source => ({ label, code: ErrorCode.InvalidNetworkConfig });
const fromArgs = (key: string): Source => ({ label: `CNI_ARGS ${key}`, code: ErrorCode.InvalidEnvironment });

const invalid = (source: Source, value: unknown, why: string): CniError =>
  new CniError(source.code, `invalid ${source.label} ${JSON.stringify(value)}: ${why}`);

// net.ParseMAC's 6-byte forms (colons or hyphens), and only unicast: a multicast or all-zero
// address can never be an ENI's.
const macProblem = (mac: string): string | undefined => {
  if (!/^[0-9a-f]{2}([:-])[0-9a-f]{2}(\1[0-9a-f]{2}){4}$/i.test(mac))
    return 'must be a MAC address (xx:xx:xx:xx:xx:xx)';
  const first = parseInt(mac.slice(0, 2), 16);
  if (first & 1) return 'is a multicast MAC address';
  if (/^(00[:-]){5}00$/.test(mac)) return 'is the all-zero MAC address';
  return undefined;
};

// The kernel's rule for names plus what `ip` would misread as an option or a batch token.
const linkNameProblem = (name: string): string | undefined =>
  interfaceNameProblem(name) ?? (/["'#\\]/.test(name) ? 'must not contain quotes, "#" or "\\"' : undefined);

const LEGACY_KEYS = ['ipv4-address', 'ipv6-address', 'subnetgateway-ipv4-address'] as const;

const dialectOf = (raw: Record<string, unknown>): Dialect | undefined => {
  const keys = (d: Dialect): string[] => [...Object.values(FIELDS[d]), ...(d === 'ecs-eni' ? LEGACY_KEYS : [])];
  const used = (d: Dialect) => keys(d).filter((f) => raw[f] !== undefined);
  const ecs = used('ecs-eni');
  const vpc = used('vpc-eni');
  if (ecs.length > 0 && vpc.length > 0) {
    throw new CniError(
      ErrorCode.InvalidNetworkConfig,
      `invalid config: it mixes ecs-eni fields (${ecs.map((f) => JSON.stringify(f)).join(', ')}) with vpc-eni fields (${vpc.map((f) => JSON.stringify(f)).join(', ')}); use one dialect`,
    );
  }
  if (ecs.length > 0) return 'ecs-eni';
  return vpc.length > 0 ? 'vpc-eni' : undefined;
};

interface Valued<T> {
  value: T;
  source: Source;
  /** Per entry, where it came from and what to show in its error (read from a pre-2020 key). */
  entries?: Array<{ source: Source; shown: string }>;
}

// A config field of the dialect in use, or undefined.
const configValue = <T>(raw: Raw, dialect: Dialect | undefined, field: Field): Valued<T> | undefined => {
  const name = dialect ? FIELDS[dialect][field] : undefined;
  const value = name === undefined ? undefined : (raw as Record<string, unknown>)[name];
  return value === undefined ? undefined : { value: value as T, source: fromConfig(name!) };
};

// A CNI_ARGS key overrides its config field (vpc-branch-eni semantics); an empty value does not.
const argValue = (args: CniArgs, key: string): Valued<string> | undefined => {
  const value = args.get(key);
  return value === undefined || value === '' ? undefined : { value, source: fromArgs(key) };
};

const argList = (args: CniArgs, key: string): Valued<string[]> | undefined => {
  const v = argValue(args, key);
  return v && { value: v.value.split(',').map((s) => s.trim()), source: v.source };
};

// Each entry of a list, with its own label ("ip-addresses.1") when it came from the config, and
// the value its error shows (the pre-2020 key's own value when the entry was read from one).
const entryOf = (list: Valued<string[]>, index: number): { source: Source; shown: string } =>
  list.entries?.[index] ?? {
    source:
      list.source.code === ErrorCode.InvalidEnvironment
        ? list.source
        : { ...list.source, label: `${list.source.label}.${index}` },
    shown: list.value[index]!,
  };

const validateAddresses = (list: Valued<string[]> | undefined): string[] => {
  if (!list) return [];
  const seen = new Map<string, number>();
  list.value.forEach((cidr, i) => {
    const { source, shown } = entryOf(list, i);
    const problem = hostAddressProblem(cidr);
    if (problem) throw invalid(source, shown, problem);
    const ip = canonicalIp(cidr.split('/')[0]!);
    if (seen.has(ip)) throw invalid(source, shown, `repeats the address of entry ${seen.get(ip)}`);
    seen.set(ip, i);
  });
  return list.value;
};

const validateGateways = (list: Valued<string[]> | undefined, addresses: string[]): string[] => {
  if (!list) return [];
  const families = new Map<4 | 6, number>();
  list.value.forEach((gw, i) => {
    const { source, shown } = entryOf(list, i);
    const problem = gatewayProblem(gw);
    if (problem) throw invalid(source, shown, problem);
    const family = familyOf(gw);
    if (families.has(family))
      throw invalid(source, shown, `a second IPv${family} gateway (one default route per family)`);
    families.set(family, i);
    const own = addresses.filter((a) => familyOf(a) === family);
    if (own.length === 0) throw invalid(source, shown, `no ENI address is IPv${family}`);
    if (own.some((a) => canonicalIp(a.split('/')[0]!) === canonicalIp(gw))) {
      throw invalid(
        source,
        shown,
        `${shown === gw ? 'is' : `gives gateway ${gw}, which is`} one of the ENI's own addresses`,
      );
    }
  });
  return list.value;
};

// ecs-eni's keys before 2020 (amazon-ecs-cni-plugins until release 2020.x; ECS agents of 2017-2019
// wrote them), read as today's:
//   ipv4-address                 the IPv4 address: "10.0.1.5/24", or bare "10.0.1.5" taking the
//                                prefix of subnetgateway-ipv4-address (upstream asked instance
//                                metadata for it without one; tasknet does not)
//   ipv6-address                 the IPv6 address: CIDR, or bare meaning /64 (every VPC IPv6
//                                subnet is a /64); its default route comes from router
//                                advertisements, as upstream's did
//   subnetgateway-ipv4-address   the subnet as the ECS agent sent it, "10.0.1.1/24" (the gateway
//                                with the subnet's prefix) or "10.0.1.0/24"; the gateway is the
//                                subnet's network address + 1 (the VPC router), any other host
//                                part is refused rather than guessed at
// Mixed with ip-addresses or gateway-ip-addresses, which keys win would be a guess: error 7.
const legacyFormat = (
  raw: Raw,
): { addresses: Valued<string[]>; gateways?: Valued<string[]>; format: LegacyFormat } | undefined => {
  const conf = raw as Record<string, unknown>;
  const keys = LEGACY_KEYS.filter((k) => conf[k] !== undefined);
  if (keys.length === 0) return undefined;
  const today = [FIELDS['ecs-eni'].addresses!, FIELDS['ecs-eni'].gateways!].filter((k) => conf[k] !== undefined);
  if (today.length > 0) {
    throw new CniError(
      ErrorCode.InvalidNetworkConfig,
      `invalid config: it has the pre-2020 ecs-eni key${keys.length > 1 ? 's' : ''} ${keys.map((k) => JSON.stringify(k)).join(', ')} and today's ${today.map((k) => JSON.stringify(k)).join(', ')}; use one format (docs/ecs-eni.md)`,
    );
  }
  const v4 = raw['ipv4-address'];
  const v6 = raw['ipv6-address'];
  const subnetText = raw['subnetgateway-ipv4-address'];
  if (v4 === undefined) {
    throw new CniError(
      ErrorCode.InvalidNetworkConfig,
      `missing required parameter ipv4-address (the pre-2020 ecs-eni format, which ${keys.map((k) => JSON.stringify(k)).join(', ')} belong${keys.length > 1 ? '' : 's'} to, requires it)`,
    );
  }
  const subnetSource = fromConfig('subnetgateway-ipv4-address');
  let subnet: { network: bigint; prefix: number } | undefined;
  if (subnetText !== undefined) {
    const c = parseCidr(subnetText);
    if (c?.family !== 4)
      throw invalid(
        subnetSource,
        subnetText,
        'must be an IPv4 subnet with its prefix length (10.0.1.1/24 or 10.0.1.0/24)',
      );
    if (c.prefix > 30)
      throw invalid(
        subnetSource,
        subnetText,
        'must have a prefix length of at most 30 (a subnet with a gateway and a host)',
      );
    const network = c.value & ~hostMask(4, c.prefix);
    if (c.value !== network && c.value !== network + 1n) {
      throw invalid(
        subnetSource,
        subnetText,
        `must be the subnet (${formatIp(4, network)}/${c.prefix}) or its gateway (${formatIp(4, network + 1n)}/${c.prefix}), the network address + 1`,
      );
    }
    subnet = { network, prefix: c.prefix };
  }

  const v4Source = fromConfig('ipv4-address');
  let v4Cidr: string;
  if (v4.includes('/')) {
    const c = parseCidr(v4);
    if (c?.family !== 4) throw invalid(v4Source, v4, 'must be an IPv4 address, with or without its prefix length');
    if (subnet && (c.prefix !== subnet.prefix || (c.value & ~hostMask(4, c.prefix)) !== subnet.network)) {
      throw invalid(v4Source, v4, `is not in the subnet of subnetgateway-ipv4-address ${JSON.stringify(subnetText)}`);
    }
    v4Cidr = v4; // anything else wrong with it: validateAddresses, as for ip-addresses
  } else {
    if (parseCidr(`${v4}/32`)?.family !== 4)
      throw invalid(v4Source, v4, 'must be an IPv4 address, with or without its prefix length');
    if (!subnet) {
      throw invalid(
        v4Source,
        v4,
        'has no prefix length: give it one (10.0.1.5/24) or add subnetgateway-ipv4-address (upstream read the subnet from the instance metadata service, tasknet does not)',
      );
    }
    v4Cidr = `${v4}/${subnet.prefix}`;
  }

  const entries = [{ source: v4Source, shown: v4 }];
  const addresses = [v4Cidr];
  if (v6 !== undefined) {
    const v6Source = fromConfig('ipv6-address');
    const c = parseCidr(v6.includes('/') ? v6 : `${v6}/64`);
    if (c?.family !== 6) throw invalid(v6Source, v6, 'must be an IPv6 address, with or without its prefix length');
    addresses.push(v6.includes('/') ? v6 : `${v6}/64`);
    entries.push({ source: v6Source, shown: v6 });
  }
  const gateway = subnet && formatIp(4, subnet.network + 1n);
  return {
    addresses: { value: addresses, source: v4Source, entries },
    ...(gateway
      ? {
          gateways: { value: [gateway], source: subnetSource, entries: [{ source: subnetSource, shown: subnetText! }] },
        }
      : {}),
    format: { keys, addresses, gateways: gateway ? [gateway] : [] },
  };
};

// The plugin log's word that a config is in the pre-2020 format, and what it was read as.
export const legacyFormatWarning = ({ keys, addresses, gateways }: LegacyFormat): string =>
  `ecs-eni: the config uses the pre-2020 ecs-eni format (${keys.map((k) => JSON.stringify(k)).join(', ')}), read as ` +
  `"ip-addresses": ${JSON.stringify(addresses)}, "gateway-ip-addresses": ${JSON.stringify(gateways)}; ` +
  "it is still accepted, but today's keys are the ones documented (docs/ecs-eni.md)";

export interface ParseOptions {
  /** ADD needs to know which ENI and (unless it stays down) its addresses; the other verbs take what is there. */
  requireEni: boolean;
}

// Reads and validates the config and CNI_ARGS into one model; every failure names its field.
export const parseEniConfig = (conf: NetConfObject, args: CniArgs, { requireEni }: ParseOptions): EniConfig => {
  const raw = parseConfig(eniConfigSchema, conf);
  const dialect = dialectOf(raw);

  const eniId = configValue<string>(raw, dialect, 'eniId');
  if (eniId && eniId.value === '') throw invalid(eniId.source, '', 'must not be empty');

  const name = argValue(args, ENI_ARGS.name) ?? configValue<string>(raw, dialect, 'name');
  if (name) {
    const problem = linkNameProblem(name.value);
    if (problem) throw invalid(name.source, name.value, problem);
  }

  const mac = argValue(args, ENI_ARGS.mac) ?? configValue<string>(raw, dialect, 'mac');
  if (mac) {
    const problem = macProblem(mac.value);
    if (problem) throw invalid(mac.source, mac.value, problem);
  }

  const stayDown = configValue<boolean>(raw, dialect, 'stayDown')?.value ?? false;
  const legacy = legacyFormat(raw);
  const addressList =
    argList(args, ENI_ARGS.addresses) ?? legacy?.addresses ?? configValue<string[]>(raw, dialect, 'addresses');
  const addresses = validateAddresses(addressList);
  const gatewayList =
    argList(args, ENI_ARGS.gateways) ?? legacy?.gateways ?? configValue<string[]>(raw, dialect, 'gateways');
  const gateways = validateGateways(gatewayList, addresses);

  const mtu = raw.mtu ?? 0;
  const v6 = addresses.find((a) => familyOf(a) === 6);
  if (mtu !== 0 && mtu < 1280 && v6) {
    throw invalid(
      fromConfig('mtu'),
      mtu,
      `must be at least 1280 with an IPv6 address (${v6}): the kernel turns IPv6 off below that`,
    );
  }

  if (requireEni) {
    if (!mac && !name) throw missing(dialect, 'mac');
    if (!stayDown && addresses.length === 0) throw missing(dialect, 'addresses');
  }

  return {
    dialect,
    eniId: eniId?.value,
    name: name?.value,
    mac: mac?.value.replaceAll('-', ':').toLowerCase(),
    addresses,
    gateways,
    blockInstanceMetadata: configValue<boolean>(raw, dialect, 'block')?.value ?? false,
    stayDown,
    mtu,
    ...(legacy ? { legacy: legacy.format } : {}),
  };
};

// Required means: in the config of the dialect in use, or in CNI_ARGS (upstream's wording).
const missing = (dialect: Dialect | undefined, what: 'mac' | 'addresses'): CniError => {
  const names =
    what === 'mac'
      ? {
          'ecs-eni': 'mac',
          'vpc-eni': 'eniMACAddress or eniName',
          none: 'mac, eniMACAddress or eniName',
          args: `${ENI_ARGS.mac} or ${ENI_ARGS.name}`,
        }
      : {
          'ecs-eni': 'ip-addresses',
          'vpc-eni': 'eniIPAddresses',
          none: 'ip-addresses or eniIPAddresses',
          args: ENI_ARGS.addresses,
        };
  return new CniError(
    ErrorCode.InvalidNetworkConfig,
    `missing required parameter ${names[dialect ?? 'none']} (or CNI_ARGS ${names.args})`,
  );
};

const GATEWAY_FIELDS = [FIELDS['ecs-eni'].gateways!, FIELDS['vpc-eni'].gateways!];

// Upstream (both dialects) takes the gateway list as optional and adds one default route per
// gateway, none without; tasknet does the same, as configs rely on it: the ECS agent sends
// vpc-eni no IPv6 gateway for a dual-stack ENI, whose IPv6 default route comes from router
// advertisements. But IPv4 addresses without an IPv4 gateway leave the task with no IPv4 default
// route at all, and addresses without any gateway are what a misspelt gateway key looks like
// (unknown keys are ignored, as upstream ignores them): ADD says so in a warning, naming any
// key that looks like a gateway.
export const missingGatewayWarnings = (conf: NetConfObject, eni: EniConfig): string[] => {
  if (eni.stayDown) return [];
  const fields = eni.legacy
    ? ['subnetgateway-ipv4-address']
    : eni.dialect
      ? [FIELDS[eni.dialect].gateways!]
      : GATEWAY_FIELDS;
  const where = `${fields.join(' or ')} (or CNI_ARGS ${ENI_ARGS.gateways})`;
  const lookalikes = Object.keys(conf).filter(
    (k) => /gate?way|gw/i.test(k) && !GATEWAY_FIELDS.includes(k) && k !== 'subnetgateway-ipv4-address',
  );
  const hint =
    lookalikes.length === 0
      ? ''
      : `; the config has ${lookalikes.map((k) => JSON.stringify(k)).join(', ')}, which ecs-eni does not read: misspelt?`;
  const warnings: string[] = [];
  for (const family of [4, 6] as const) {
    const addresses = eni.addresses.filter((a) => familyOf(a) === family);
    if (addresses.length === 0 || eni.gateways.some((gw) => familyOf(gw) === family)) continue;
    if (family === 6 && eni.gateways.length > 0) continue; // router advertisements, as above
    if (family === 6 && eni.legacy) continue; // the pre-2020 format has no IPv6 gateway key: RAs always gave it
    const only = family === 6 ? ' (only router advertisements can give it one)' : '';
    warnings.push(
      `no IPv${family} gateway in ${where} for ${addresses.join(', ')}: the task gets no IPv${family} default route from ecs-eni${only}${hint}`,
    );
  }
  return warnings;
};
