// ecs-eni's config: the two upstream dialects (ecs-eni kebab-case, vpc-eni camelCase) read into
// one model, plus per-container overrides from CNI_ARGS so a static conflist can serve every task.
// See docs/ecs-eni.md for the reference.
import * as z from 'zod/mini';
import type { CniArgs } from '../../cni/args.js';
import type { NetConfObject } from '../../cni/config.js';
import { interfaceNameProblem } from '../../cni/env.js';
import { CniError, ErrorCode } from '../../cni/errors.js';
import { familyOf } from '../../cni/result.js';
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
}

type Field = 'eniId' | 'name' | 'mac' | 'addresses' | 'gateways' | 'block' | 'stayDown';

const FIELDS: Record<Dialect, Partial<Record<Field, string>>> = {
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

const strings = z.optional(z.array(z.string()));
// Types only; what a value means (a MAC, a CIDR) is checked below, the same way for config
// values and CNI_ARGS values. `mtu` belongs to both dialects (vpc-eni lost it; we keep it).
export const eniConfigSchema = z.looseObject({
  eni: z.optional(z.string()),
  mac: z.optional(z.string()),
  'ip-addresses': strings,
  'gateway-ip-addresses': strings,
  'block-instance-metadata': z.optional(z.boolean()),
  'stay-down': z.optional(z.boolean()),
  eniName: z.optional(z.string()),
  eniMACAddress: z.optional(z.string()),
  eniIPAddresses: strings,
  gatewayIPAddresses: strings,
  blockInstanceMetadata: z.optional(z.boolean()),
  opStateDown: z.optional(z.boolean()),
  mtu: z.optional(z.number().check(z.refine(
    (n) => Number.isInteger(n) && (n === 0 || (n >= 68 && n <= 65535)),
    'must be an integer, 0 (leave unchanged) or between 68 and 65535',
  ))),
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
  if (!/^[0-9a-f]{2}([:-])[0-9a-f]{2}(\1[0-9a-f]{2}){4}$/i.test(mac)) return 'must be a MAC address (xx:xx:xx:xx:xx:xx)';
  const first = parseInt(mac.slice(0, 2), 16);
  if (first & 1) return 'is a multicast MAC address';
  if (/^(00[:-]){5}00$/.test(mac)) return 'is the all-zero MAC address';
  return undefined;
};

// The kernel's rule for names plus what `ip` would misread as an option or a batch token.
const linkNameProblem = (name: string): string | undefined =>
  interfaceNameProblem(name) ?? (/["'#\\]/.test(name) ? 'must not contain quotes, "#" or "\\"' : undefined);

const dialectOf = (raw: Record<string, unknown>): Dialect | undefined => {
  const used = (d: Dialect) => Object.values(FIELDS[d]).filter((f) => raw[f] !== undefined);
  const ecs = used('ecs-eni');
  const vpc = used('vpc-eni');
  if (ecs.length > 0 && vpc.length > 0) {
    throw new CniError(ErrorCode.InvalidNetworkConfig,
      `invalid config: it mixes ecs-eni fields (${ecs.map((f) => JSON.stringify(f)).join(', ')}) with vpc-eni fields (${vpc.map((f) => JSON.stringify(f)).join(', ')}); use one dialect`);
  }
  if (ecs.length > 0) return 'ecs-eni';
  return vpc.length > 0 ? 'vpc-eni' : undefined;
};

interface Valued<T> {
  value: T;
  source: Source;
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

// Each entry of a list, with its own label ("ip-addresses.1") when it came from the config.
const entrySource = (list: Valued<string[]>, index: number): Source =>
  list.source.code === ErrorCode.InvalidEnvironment ? list.source : { ...list.source, label: `${list.source.label}.${index}` };

const validateAddresses = (list: Valued<string[]> | undefined): string[] => {
  if (!list) return [];
  const seen = new Map<string, number>();
  list.value.forEach((cidr, i) => {
    const problem = hostAddressProblem(cidr);
    if (problem) throw invalid(entrySource(list, i), cidr, problem);
    const ip = canonicalIp(cidr.split('/')[0]!);
    if (seen.has(ip)) throw invalid(entrySource(list, i), cidr, `repeats the address of entry ${seen.get(ip)}`);
    seen.set(ip, i);
  });
  return list.value;
};

const validateGateways = (list: Valued<string[]> | undefined, addresses: string[]): string[] => {
  if (!list) return [];
  const families = new Map<4 | 6, number>();
  list.value.forEach((gw, i) => {
    const source = entrySource(list, i);
    const problem = gatewayProblem(gw);
    if (problem) throw invalid(source, gw, problem);
    const family = familyOf(gw);
    if (families.has(family)) throw invalid(source, gw, `a second IPv${family} gateway (one default route per family)`);
    families.set(family, i);
    const own = addresses.filter((a) => familyOf(a) === family);
    if (own.length === 0) throw invalid(source, gw, `no ENI address is IPv${family}`);
    if (own.some((a) => canonicalIp(a.split('/')[0]!) === canonicalIp(gw))) throw invalid(source, gw, 'is one of the ENI\'s own addresses');
  });
  return list.value;
};

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
  const addressList = argList(args, ENI_ARGS.addresses) ?? configValue<string[]>(raw, dialect, 'addresses');
  const addresses = validateAddresses(addressList);
  const gateways = validateGateways(argList(args, ENI_ARGS.gateways) ?? configValue<string[]>(raw, dialect, 'gateways'), addresses);

  const mtu = raw.mtu ?? 0;
  const v6 = addresses.find((a) => familyOf(a) === 6);
  if (mtu !== 0 && mtu < 1280 && v6) {
    throw invalid(fromConfig('mtu'), mtu, `must be at least 1280 with an IPv6 address (${v6}): the kernel turns IPv6 off below that`);
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
  };
};

// Required means: in the config of the dialect in use, or in CNI_ARGS (upstream's wording).
const missing = (dialect: Dialect | undefined, what: 'mac' | 'addresses'): CniError => {
  const names = what === 'mac'
    ? { 'ecs-eni': 'mac', 'vpc-eni': 'eniMACAddress or eniName', none: 'mac, eniMACAddress or eniName', args: `${ENI_ARGS.mac} or ${ENI_ARGS.name}` }
    : { 'ecs-eni': 'ip-addresses', 'vpc-eni': 'eniIPAddresses', none: 'ip-addresses or eniIPAddresses', args: ENI_ARGS.addresses };
  return new CniError(ErrorCode.InvalidNetworkConfig,
    `missing required parameter ${names[dialect ?? 'none']} (or CNI_ARGS ${names.args})`);
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
  const fields = eni.dialect ? [FIELDS[eni.dialect].gateways!] : GATEWAY_FIELDS;
  const where = `${fields.join(' or ')} (or CNI_ARGS ${ENI_ARGS.gateways})`;
  const lookalikes = Object.keys(conf).filter((k) => /gate?way|gw/i.test(k) && !GATEWAY_FIELDS.includes(k));
  const hint = lookalikes.length === 0 ? '' : `; the config has ${lookalikes.map((k) => JSON.stringify(k)).join(', ')}, which ecs-eni does not read: misspelt?`;
  const warnings: string[] = [];
  for (const family of [4, 6] as const) {
    const addresses = eni.addresses.filter((a) => familyOf(a) === family);
    if (addresses.length === 0 || eni.gateways.some((gw) => familyOf(gw) === family)) continue;
    if (family === 6 && eni.gateways.length > 0) continue; // router advertisements, as above
    const only = family === 6 ? ' (only router advertisements can give it one)' : '';
    warnings.push(`no IPv${family} gateway in ${where} for ${addresses.join(', ')}: the task gets no IPv${family} default route from ecs-eni${only}${hint}`);
  }
  return warnings;
};
