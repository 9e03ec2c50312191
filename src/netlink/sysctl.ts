// sysctls. /proc/sys/net shows the netns of the process that opens it, so a target netns is
// read through `nsenter ... sysctl`; this process's own netns is read from /proc/sys directly.
import { readFile, writeFile } from 'node:fs/promises';
import { commandFailed, invalidInput, IpError, type IpErrorKind } from './errors.js';
import { nsArgv, spawnCounted, type NetnsRef } from './run.js';
import { validateSysctlKey } from './validate.js';

// procps rule: a key with '/' is a path (its dots are literal, e.g. an ifname "eth0.100").
function procPath(key: string): string {
  return `/proc/sys/${key.includes('/') ? key : key.replaceAll('.', '/')}`;
}

const ERRNO_KIND: Record<string, IpErrorKind> = {
  ENOENT: 'not-found',
  EACCES: 'permission',
  EPERM: 'permission',
  EROFS: 'permission',
  EINVAL: 'invalid',
  EBUSY: 'busy',
};

function fsFailed(op: string, path: string, e: unknown): IpError {
  const code = (e as NodeJS.ErrnoException).code ?? '';
  return new IpError(ERRNO_KIND[code] ?? 'unknown', `${op} ${path} failed: ${(e as Error).message}`, {
    argv: [op, path],
    cause: e,
  });
}

async function sysctlIn(ns: string, args: string[]): Promise<string> {
  const argv = nsArgv(ns, ['sysctl', ...args]);
  const r = await spawnCounted(argv);
  if (r.exitCode !== 0) throw commandFailed(argv, r.stderr, r.exitCode);
  return r.stdout.trim();
}

// Per-netns knobs a plugin checks (e.g. net.ipv4.ip_forward, conf.<if>.rp_filter); value trimmed.
export async function readSysctl(key: string, ns?: NetnsRef): Promise<string> {
  validateSysctlKey(key);
  if (ns !== undefined) return sysctlIn(ns, ['-n', key]);
  const path = procPath(key);
  try {
    return (await readFile(path, 'utf8')).trim();
  } catch (e) {
    throw fsFailed('read', path, e);
  }
}

// Per-netns knobs a plugin sets (forwarding, route_localnet, accept_ra in the task netns).
export async function writeSysctl(key: string, value: string | number, ns?: NetnsRef): Promise<void> {
  validateSysctlKey(key);
  const text = String(value);
  if (/[\n\r\0]/.test(text) || text.length > 4096) throw invalidInput('sysctl value', value, 'must be one line');
  if (ns !== undefined) {
    await sysctlIn(ns, ['-q', '-w', `${key}=${text}`]);
    return;
  }
  const path = procPath(key);
  try {
    await writeFile(path, text);
  } catch (e) {
    throw fsFailed('write', path, e);
  }
}
