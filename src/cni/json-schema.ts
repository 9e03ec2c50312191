// The shapes of config values as JSON Schema keywords, for schemas/*.json (scripts/gen-schemas.ts
// generates them from the plugins' zod schemas). Each pattern is an ECMA-262 regex without flags,
// as JSON Schema patterns are, and accepts exactly what the plugins' own parsers accept
// (test/install/schemas-ajv.test.ts compares them on every prefix and on many addresses).
import * as z from 'zod/mini';

// node:net's isIP, which the plugins parse addresses with: dotted quads without leading zeros;
// IPv6 in every RFC 4291 spelling, an IPv4 tail included. No zone: the plugins refuse "%eth0".
const V4_PART = '(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]\\d|\\d)';
const V4 = `(?:${V4_PART}\\.){3}${V4_PART}`;
const H = '[0-9a-fA-F]{1,4}';
const V6 =
  `(?:(?:${H}:){7}(?:${H}|:)` +
  `|(?:${H}:){6}(?:${V4}|:${H}|:)` +
  `|(?:${H}:){5}(?::${V4}|(?::${H}){1,2}|:)` +
  `|(?:${H}:){4}(?:(?::${H}){0,1}:${V4}|(?::${H}){1,3}|:)` +
  `|(?:${H}:){3}(?:(?::${H}){0,2}:${V4}|(?::${H}){1,4}|:)` +
  `|(?:${H}:){2}(?:(?::${H}){0,3}:${V4}|(?::${H}){1,5}|:)` +
  `|(?:${H}:){1}(?:(?::${H}){0,4}:${V4}|(?::${H}){1,6}|:)` +
  `|:(?:(?::${H}){0,5}:${V4}|(?::${H}){1,7}|:))`;

// A prefix length is one to three digits (leading zeros allowed, as the plugins' parser takes
// them), at most 32 or 128. A subnet to allocate from is /1 to /30 (IPv4) or /1 to /126.
const PREFIX = {
  4: '(?:[0-2]?\\d|3[0-2]|0[0-2]\\d|03[0-2])',
  6: '(?:\\d\\d?|0\\d\\d|1[01]\\d|12[0-8])',
};
const POOL_PREFIX = {
  4: '(?:0{0,2}[1-9]|0?[12]\\d|0?30)',
  6: '(?:0{0,2}[1-9]|0?[1-9]\\d|1[01]\\d|12[0-6])',
};

const anchored = (source: string): string => `^(?:${source})$`;

export const PATTERNS = {
  ipv4: anchored(V4),
  ipv6: anchored(V6),
  ip: anchored(`${V4}|${V6}`),
  ipv4Cidr: anchored(`${V4}/${PREFIX[4]}`),
  ipv6Cidr: anchored(`${V6}/${PREFIX[6]}`),
  cidr: anchored(`${V4}/${PREFIX[4]}|${V6}/${PREFIX[6]}`),
  // ecs-ipam's ipvN-address: a plain address or one with a prefix length.
  ipv4MaybeCidr: anchored(`${V4}(?:/${PREFIX[4]})?`),
  ipv6MaybeCidr: anchored(`${V6}(?:/${PREFIX[6]})?`),
  ipv4Pool: anchored(`${V4}/${POOL_PREFIX[4]}`),
  ipv6Pool: anchored(`${V6}/${POOL_PREFIX[6]}`),
  // ecs-eni's pre-2020 subnetgateway-ipv4-address: an IPv4 CIDR of at most /30.
  ipv4SubnetGateway: anchored(`${V4}/(?:[0-2]?\\d|30|0[0-2]\\d|030)`),
  // The kernel's interface names (1-15 bytes, not "." or "..", no "/", ":" or whitespace) less
  // what `ip` misreads: a leading "-", "%", quotes, "#", "\", control characters, lone surrogates.
  // JSON Schema counts characters, not bytes: a name with non-ASCII characters can pass here and
  // still be longer than 15 bytes.
  ifName: '^(?!\\.\\.?$)(?!-)[^\\s/:%"\'#\\\\\\x00-\\x1f\\x7f\\ud800-\\udfff]{1,15}$',
  // A unicast, non-zero MAC address, colons or hyphens (Go's net.ParseMAC 6-byte forms).
  mac: '^(?!(?:00[:-]){5}00$)[0-9a-fA-F][02468aceACE](?:(?::[0-9a-fA-F]{2}){5}|(?:-[0-9a-fA-F]{2}){5})$',
  // An absolute path with no ".." segment.
  absolutePath: '^(?![\\s\\S]*(?:^|/)\\.\\.(?:/|$))/',
};

// JSON Schema keywords for a value that the plugin checks in its own code, after parsing, with a
// message that names the problem: they go into schemas/*.json (zod's toJSONSchema copies a
// schema's metadata) and parsing never looks at them, so no message or error code changes.
export type JsonKeywords = Record<string, unknown>;

export const described = <S extends z.ZodMiniType>(schema: S, keywords: JsonKeywords): S => {
  z.globalRegistry.add(schema, keywords);
  return schema;
};
