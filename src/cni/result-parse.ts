import { isIP } from 'node:net';
import * as z from 'zod/mini';
import { CniError, ErrorCode } from './errors.js';
import type { Result } from './result.js';
import { parseConfig } from './schema.js';
import { compareVersions } from './version.js';

const cidr = z.string().check(
  z.refine((s) => {
    const [ip, prefix, ...rest] = s.split('/');
    const family = isIP(ip ?? '');
    const bits = Number(prefix);
    return family !== 0 && rest.length === 0 && /^\d+$/.test(prefix ?? '') && bits <= (family === 4 ? 32 : 128);
  }, 'must be an address with a prefix length (CIDR)'),
);
const ip = z.string().check(z.refine((s) => isIP(s) !== 0, 'must be an IP address'));
const uint = z.number().check(z.int(), z.nonnegative());

const routeSchema = z.looseObject({
  dst: cidr,
  gw: z.optional(ip),
  mtu: z.optional(uint),
  advmss: z.optional(uint),
  priority: z.optional(uint),
  table: z.optional(uint),
  scope: z.optional(uint),
});
const dnsSchema = z.looseObject({
  nameservers: z.optional(z.array(z.string())),
  domain: z.optional(z.string()),
  search: z.optional(z.array(z.string())),
  options: z.optional(z.array(z.string())),
});
const modernSchema = z.looseObject({
  cniVersion: z.optional(z.string()),
  interfaces: z.optional(
    z.array(
      z.looseObject({
        name: z.string(),
        mac: z.optional(z.string()),
        mtu: z.optional(uint),
        sandbox: z.optional(z.string()),
        socketPath: z.optional(z.string()),
        pciID: z.optional(z.string()),
      }),
    ),
  ),
  ips: z.optional(
    z.array(
      z.looseObject({
        version: z.optional(z.enum(['4', '6'])),
        address: cidr,
        gateway: z.optional(ip),
        interface: z.optional(uint),
      }),
    ),
  ),
  routes: z.optional(z.array(routeSchema)),
  dns: z.optional(dnsSchema),
});
const legacyIp = z.looseObject({ ip: cidr, gateway: z.optional(ip), routes: z.optional(z.array(routeSchema)) });
const legacySchema = z.looseObject({
  cniVersion: z.optional(z.string()),
  ip4: z.optional(legacyIp),
  ip6: z.optional(legacyIp),
  dns: z.optional(dnsSchema),
});

const stripUndefined = <T extends object>(value: T): T =>
  Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;

// Reads a result of any spec version (a prevResult, a delegate's output, a cached result) into
// the internal model. A result without cniVersion is read as `fallbackVersion` (libcni's
// ParsePrevResult does the same).
export const parseResult = (value: unknown, fallbackVersion: string, what = 'prevResult'): Result => {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new CniError(ErrorCode.DecodeFailure, `invalid ${what}: must be a JSON object`);
  }
  const raw = value as Record<string, unknown>;
  const version = typeof raw.cniVersion === 'string' ? raw.cniVersion : fallbackVersion;
  const options = { prefix: what, code: ErrorCode.DecodeFailure };
  if (compareVersions(version, '0.3.0') < 0 || (('ip4' in raw || 'ip6' in raw) && !('ips' in raw))) {
    const legacy = parseConfig(legacySchema, raw, options);
    const result: Result = { cniVersion: version, ips: [], routes: [] };
    for (const entry of [legacy.ip4, legacy.ip6]) {
      if (!entry) continue;
      result.ips!.push(stripUndefined({ address: entry.ip, gateway: entry.gateway }));
      for (const r of entry.routes ?? []) result.routes!.push(stripUndefined({ dst: r.dst, gw: r.gw }));
    }
    if (legacy.dns) result.dns = legacy.dns;
    return result;
  }
  const modern = parseConfig(modernSchema, raw, options);
  const interfaces = modern.interfaces?.map((i) =>
    stripUndefined({
      name: i.name,
      mac: i.mac,
      mtu: i.mtu,
      sandbox: i.sandbox,
      socketPath: i.socketPath,
      pciID: i.pciID,
    }),
  );
  modern.ips?.forEach((entry, index) => {
    if (entry.interface !== undefined && entry.interface >= (interfaces?.length ?? 0)) {
      throw new CniError(
        ErrorCode.DecodeFailure,
        `invalid ${what}.ips.${index}.interface ${entry.interface}: no such interface in the result`,
      );
    }
  });
  return stripUndefined({
    cniVersion: version,
    interfaces,
    ips: modern.ips?.map((i) => stripUndefined({ address: i.address, gateway: i.gateway, interface: i.interface })),
    routes: modern.routes?.map((r) =>
      stripUndefined({
        dst: r.dst,
        gw: r.gw,
        mtu: r.mtu,
        advmss: r.advmss,
        priority: r.priority,
        table: r.table,
        scope: r.scope,
      }),
    ),
    dns: modern.dns,
  });
};
