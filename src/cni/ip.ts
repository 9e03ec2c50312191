// IP address arithmetic shared by ecs-ipam (pools) and ecs-eni (subnets, canonical spellings): an
// address is a bigint, so IPv4 and IPv6 share one code path (upstream uses big.Int for the same
// reason). Parsing accepts what node:net's isIP accepts, minus zones; printing is canonical.
import { isIP } from 'node:net';

export type Family = 4 | 6;

const BITS: Record<Family, number> = { 4: 32, 6: 128 };

export const bitsOf = (family: Family): number => BITS[family];

// Parses a literal address (no prefix, no zone). undefined when it is not one.
export const parseIp = (text: string): { family: Family; value: bigint } | undefined => {
  const family = isIP(text);
  if (family === 4) return { family, value: parseV4(text) };
  if (family === 6 && !text.includes('%')) return { family, value: parseV6(text) };
  return undefined;
};

const parseV4 = (text: string): bigint =>
  text.split('.').reduce((acc, octet) => (acc << 8n) | BigInt(Number(octet)), 0n);

const parseV6 = (text: string): bigint => {
  let groups: string[];
  const [head = '', tail] = text.split('::');
  const parts = (s: string): string[] => (s === '' ? [] : s.split(':'));
  const expand = (list: string[]): string[] =>
    list.flatMap((g) => {
      if (!g.includes('.')) return [g];
      const v4 = parseV4(g); // an embedded IPv4 tail is two groups
      return [(v4 >> 16n).toString(16), (v4 & 0xffffn).toString(16)];
    });
  if (tail === undefined) {
    groups = expand(parts(head));
  } else {
    const left = expand(parts(head));
    const right = expand(parts(tail));
    groups = [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  }
  return groups.reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g, 16)), 0n);
};

// Canonical text: dotted quad, or RFC 5952 for IPv6 (lower case, longest zero run as "::").
export const formatIp = (family: Family, value: bigint): string => {
  if (family === 4) return [24n, 16n, 8n, 0n].map((s) => String((value >> s) & 0xffn)).join('.');
  const groups = Array.from({ length: 8 }, (_, i) => Number((value >> BigInt(112 - 16 * i)) & 0xffffn));
  let best = { start: -1, len: 0 };
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > best.len && j - i >= 2) best = { start: i, len: j - i };
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best.start < 0) return hex.join(':');
  return `${hex.slice(0, best.start).join(':')}::${hex.slice(best.start + best.len).join(':')}`;
};

// Parses "address/prefix". undefined when malformed; the address is returned unmasked.
export const parseCidr = (text: string): { family: Family; value: bigint; prefix: number } | undefined => {
  const slash = text.indexOf('/');
  if (slash < 0) return undefined;
  const ip = parseIp(text.slice(0, slash));
  const prefixText = text.slice(slash + 1);
  if (!ip || !/^\d{1,3}$/.test(prefixText)) return undefined;
  const prefix = Number(prefixText);
  return prefix <= BITS[ip.family] ? { ...ip, prefix } : undefined;
};

// The host part of a prefix: the low (bits - prefix) bits set.
export const hostMask = (family: Family, prefix: number): bigint => (1n << BigInt(BITS[family] - prefix)) - 1n;
