import type { Stats } from 'node:fs';
import { formatIp, parseCidr, subnetOf, type Subnet } from '../ip.js';
import { unsafeStore } from '../errors.js';
import { errnoOf, ignoring, type StoreFs } from './fs.js';

// On-disk names (docs/ipam-store.md): <dataDir>/<network>/<pool>/<address>, <dataDir>/<network>/keys/<key>/.
// Where <dataDir>/<network> may be is location.ts's business.

export const KEYS_DIR = 'keys';
export const CURSOR_FILE = 'cursor';
export const GATE_SUFFIX = '.lock';

export const euid = (): number | undefined => process.geteuid?.();

// Why a directory must not hold store files, or undefined if it may. A symlink would send root's
// writes wherever it points; a directory that another user owns or may write to could be swapped
// or filled under us. The store never chmods to fix any of it: it only refuses.
export const dirProblem = (st: Stats): string | undefined => {
  if (st.isSymbolicLink()) return 'it is a symbolic link';
  if (!st.isDirectory())
    return st.isFile() ? 'it is a file, not a directory (an upstream boltdb file?)' : 'it is not a directory';
  const uid = euid();
  if (uid !== undefined && st.uid !== uid) return `it is owned by uid ${st.uid}, not by uid ${uid}`;
  if ((st.mode & 0o022) !== 0) return `others can write to it (mode ${(st.mode & 0o7777).toString(8)})`;
  return undefined;
};

// A directory inside the network's own (docs/ipam-store.md: pools, keys/, a key's entries):
// made 0700 if missing; refused (code 102) if something else sits at its name.
export const ensureDir = (io: StoreFs, path: string): void => {
  if (ignoring('ENOENT', () => checkDir(io, path))) return;
  ignoring('EEXIST', () => io.mkdir(path));
  checkDir(io, path);
};

const checkDir = (io: StoreFs, path: string): void => {
  const why = dirProblem(io.lstat(path));
  if (why) throw unsafeStore(path, why);
};

// Reads a directory the store made, refusing to list through a planted symlink. [] if absent.
export const listDir = (io: StoreFs, path: string): string[] => {
  try {
    checkDir(io, path);
  } catch (error) {
    if (errnoOf(error) === 'ENOENT') return [];
    throw error;
  }
  return io.readdir(path);
};

// "169.254.172.0_22": a pool directory per subnet, so a changed subnet starts a fresh pool
// instead of tripping over the old one's cursor (upstream bug: every ADD then fails).
export const poolDirName = (subnet: Subnet): string => `${formatIp(subnet.family, subnet.network)}_${subnet.prefix}`;

export const parsePoolDirName = (name: string): Subnet | undefined => {
  const cut = name.lastIndexOf('_');
  const cidr = cut > 0 ? parseCidr(`${name.slice(0, cut)}/${name.slice(cut + 1)}`) : undefined;
  if (!cidr) return undefined;
  const subnet = subnetOf(cidr.family, cidr.value, cidr.prefix);
  return poolDirName(subnet) === name ? subnet : undefined;
};

// A key's directory: the key made file-name safe (so `ls keys/` shows whose entries they are)
// plus a 64-bit FNV-1a hash of the exact key, so different keys never share a directory in
// practice. node:crypto would cost ~4 ms of start-up per plugin process for a stronger hash that
// buys nothing here: an entry is only ever trusted after the allocation file names the same key.
export const keyDirName = (key: string): string => {
  const readable = key.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 80);
  return `${readable}-${fnv1a64(key)}`;
};

const fnv1a64 = (text: string): string => {
  // 64-bit FNV-1a over UTF-8, in two 32-bit halves (BigInt would be slower for no gain).
  let hi = 0xcbf29ce4;
  let lo = 0x84222325;
  for (const byte of Buffer.from(text, 'utf8')) {
    lo = (lo ^ byte) >>> 0;
    // multiply (hi:lo) by the FNV prime 0x100000001b3 = 2^40 + 0x1b3
    const loMul = lo * 0x1b3;
    const carry = Math.floor(loMul / 0x100000000);
    const newLo = loMul >>> 0;
    hi = (Math.imul(hi, 0x1b3) + carry + ((lo << 8) >>> 0)) >>> 0;
    lo = newLo;
  }
  return hi.toString(16).padStart(8, '0') + lo.toString(16).padStart(8, '0');
};
