import { formatIp, parseCidr, subnetOf, type Subnet } from '../ip.js';
import { unsafeStore } from '../errors.js';
import { errnoOf, ignoring, type StoreFs } from './fs.js';

// On-disk names (docs/ipam-store.md): <root>/<network>/<pool>/<address>, <root>/<network>/keys/<key>/.

export const KEYS_DIR = 'keys';
export const CURSOR_FILE = 'cursor';
export const GATE_SUFFIX = '.lock';

const euid = (): number | undefined => process.geteuid?.();

// The store root may be a directory the operator made (IPAM_DB_PATH, ipam.dataDir): it is used
// as it is, provided nobody else can write into it.
export const ensureRoot = (io: StoreFs, root: string): void => {
  checkAncestors(io, root);
  if (!ignoring('ENOENT', () => checkDir(io, root, false))) {
    ignoring('EEXIST', () => io.mkdir(root, true));
    checkDir(io, root, false);
  }
};

// The root's path comes from config: a symlink on it that another user owns (planted in /tmp, say)
// would send root's writes wherever it points. Symlinks of our own (/var/run -> /run) are fine.
const checkAncestors = (io: StoreFs, root: string): void => {
  const uid = euid();
  const parts = root.split('/').filter((p) => p !== '');
  for (let i = 1; i < parts.length; i++) {
    const path = `/${parts.slice(0, i).join('/')}`;
    let st;
    try {
      st = io.lstat(path);
    } catch (error) {
      if (errnoOf(error) === 'ENOENT') return;
      throw error;
    }
    if (st.isSymbolicLink() && uid !== undefined && st.uid !== uid) {
      throw unsafeStore(root, `${path} is a symbolic link owned by uid ${st.uid}, not by uid ${uid}`);
    }
  }
};

// A directory the store makes itself: created 0700, refused if it is a symlink or not ours.
export const ensureDir = (io: StoreFs, path: string): void => {
  if (ignoring('ENOENT', () => checkDir(io, path, true))) return;
  ignoring('EEXIST', () => io.mkdir(path));
  checkDir(io, path, true);
};

const checkDir = (io: StoreFs, path: string, own: boolean): void => {
  const st = io.lstat(path);
  if (st.isSymbolicLink()) throw unsafeStore(path, 'it is a symbolic link');
  if (!st.isDirectory()) {
    throw unsafeStore(path, st.isFile() ? 'it is a file, not a directory (an upstream boltdb file?)' : 'it is not a directory');
  }
  const uid = euid();
  if (uid !== undefined && st.uid !== uid) throw unsafeStore(path, `it is owned by uid ${st.uid}, not by uid ${uid}`);
  if ((st.mode & 0o022) !== 0 && !own) throw unsafeStore(path, `others can write to it (mode ${(st.mode & 0o7777).toString(8)})`);
  if (own && (st.mode & 0o7777) !== 0o700) io.chmod(path, 0o700);
};

// Reads a directory the store made, refusing to list through a planted symlink. [] if absent.
export const listDir = (io: StoreFs, path: string): string[] => {
  try {
    checkDir(io, path, true);
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
