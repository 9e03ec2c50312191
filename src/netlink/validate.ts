// Input checks shared by every `ip` call and batch line. Anything that reaches `ip` passes one of
// these first: argv cannot be shell-injected, but a token like "type" or "-n" can still change
// what ip does, and a batch line is tokenized by ip itself (whitespace, quotes, '#' comments and
// '\' continuations are special there).
import { isIP } from 'node:net';
import { invalidInput } from './errors.js';

export type IpFamily = 4 | 6;

export interface Cidr {
  address: string;
  prefixLen: number;
  family: IpFamily;
  /** `address/prefixLen`, as ip prints it. */
  cidr: string;
}

// Whitespace, quotes, '#', '\' and control characters (newline, NUL, ...).
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what this refuses
const UNSAFE_TOKEN = /[\s"'#\\\x00-\x1f\x7f]/;

// Why a value cannot be one token of a batch line (ip's tokenizer would split or drop it), or
// undefined when it can.
function tokenProblem(value: string): string | undefined {
  if (typeof value !== 'string' || value === '') return 'must be a non-empty string';
  if (UNSAFE_TOKEN.test(value)) return 'must not contain whitespace, quotes, "#", "\\" or control characters';
  return undefined;
}

// The last line of defence for batch lines: one token must stay one token in ip's tokenizer.
export function validateToken(what: string, value: string): string {
  const problem = tokenProblem(value);
  if (problem) throw invalidInput(what, value, problem);
  return value;
}

// Why a name would be read by ip as an option, refused by the kernel, or split by a batch.
function nameProblem(value: string, maxBytes: number, extra: RegExp): string | undefined {
  const problem = tokenProblem(value);
  if (problem) return problem;
  if (Buffer.byteLength(value) > maxBytes) return `longer than ${maxBytes} bytes`;
  if (value === '.' || value === '..') return 'is "." or ".."';
  if (value.startsWith('-')) return 'must not start with "-"';
  if (extra.test(value)) return `must not contain ${extra.source.slice(1, -1)}`;
  return undefined;
}

function validateName(what: string, value: string, maxBytes: number, extra: RegExp): string {
  const problem = nameProblem(value, maxBytes, extra);
  if (problem) throw invalidInput(what, value, problem);
  return value;
}

// Kernel rule (net/core/dev.c dev_valid_name): 1-15 bytes, no '/', ':' or whitespace, not '.'/'..';
// plus what a batch line cannot carry ('#', quotes, '\'), which the kernel would take. Exported so
// a plugin refuses a configured name up front, not when its first batch runs.
export function ifNameProblem(name: string): string | undefined {
  return nameProblem(name, 15, /[/:]/);
}

export function validateIfName(name: string): string {
  const problem = ifNameProblem(name);
  if (problem) throw invalidInput('interface name', name, problem);
  return name;
}

// Named netns live in /var/run/netns/NAME; iproute2 refuses '/' and '.'/'..' there too.
export function validateNetnsName(name: string): string {
  return validateName('netns name', name, 64, /[/]/);
}

// A netns given as a file (/proc/PID/ns/net, /var/run/netns/x) goes to nsenter or `netns PATH`.
export function validateNetnsPath(path: string): string {
  validateToken('netns path', path);
  if (!path.startsWith('/')) throw invalidInput('netns path', path, 'must be absolute');
  if (path.length > 4096) throw invalidInput('netns path', path, 'too long');
  return path;
}

// A plain IP address (no prefix, no zone) and its family.
export function parseIp(value: string): { address: string; family: IpFamily } {
  validateToken('IP address', value);
  const family = isIP(value);
  if ((family !== 4 && family !== 6) || value.includes('%')) {
    throw invalidInput('IP address', value, 'is not an IPv4 or IPv6 address');
  }
  return { address: value, family };
}

// ADDRESS/PREFIX with the prefix in range for the family (0-32 or 0-128).
export function parseCidr(value: string): Cidr {
  validateToken('CIDR', value);
  const slash = value.indexOf('/');
  if (slash < 0 || slash !== value.lastIndexOf('/')) throw invalidInput('CIDR', value, 'must be ADDRESS/PREFIX');
  const prefix = value.slice(slash + 1);
  const family = isIP(value.slice(0, slash));
  if ((family !== 4 && family !== 6) || value.includes('%')) {
    throw invalidInput('CIDR', value, 'is not an IPv4 or IPv6 address');
  }
  const max = family === 4 ? 32 : 128;
  if (!/^\d{1,3}$/.test(prefix) || Number(prefix) > max) {
    throw invalidInput('CIDR', value, `prefix length must be 0-${max}`);
  }
  const address = value.slice(0, slash);
  const prefixLen = Number(prefix);
  return { address, prefixLen, family, cidr: `${address}/${prefixLen}` };
}

// An Ethernet MAC as ip prints it (lower case); ENIs are found by MAC, so compare normalised.
export function validateMac(mac: string): string {
  if (typeof mac !== 'string' || !/^[0-9a-f]{2}(?::[0-9a-f]{2}){5}$/i.test(mac)) {
    throw invalidInput('MAC address', mac, 'must be xx:xx:xx:xx:xx:xx');
  }
  return mac.toLowerCase();
}

// Integers go into argv as decimal text, so anything else (NaN, 1e3, "9x") is refused here.
export function validateUint(what: string, value: number, min = 0, max = 0xffffffff): string {
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw invalidInput(what, value, `must be an integer ${min}-${max}`);
  }
  return String(value);
}

// MTU: ip and the kernel check the device's own range; we only make sure it is a number.
export function validateMtu(mtu: number): string {
  return validateUint('mtu', mtu, 68, 0x7fffffff);
}

// IFLA_IFALIAS is at most 255 bytes; spaces are refused so an alias is one batch token.
export function validateAlias(alias: string): string {
  validateToken('alias', alias);
  if (Buffer.byteLength(alias) > 255) throw invalidInput('alias', alias, 'longer than 255 bytes');
  return alias;
}

const TABLE_NAMES: Record<string, string> = { '253': 'default', '254': 'main', '255': 'local' };

// A routing table as ip prints it: the well-known names, 'all', or a number 1-2^32-1.
export function validateRouteTable(table: string | number): string {
  const text = String(table);
  if (['main', 'local', 'default', 'all'].includes(text)) return text;
  if (!/^\d{1,10}$/.test(text) || Number(text) < 1 || Number(text) > 0xffffffff) {
    throw invalidInput('route table', table, 'must be main, local, default, all or 1-4294967295');
  }
  return TABLE_NAMES[text] ?? text;
}

// sysctl keys are dotted (net.ipv4.ip_forward) or slashed (net/ipv4/conf/eth0.100/rp_filter).
export function validateSysctlKey(key: string): string {
  if (typeof key !== 'string' || !/^[a-z0-9_./-]+$/i.test(key) || key.includes('..') || /^[./]/.test(key)) {
    throw invalidInput('sysctl key', key, 'must match [a-z0-9_./-]+ without ".." or a leading "." or "/"');
  }
  return key;
}
