import {
  closeSync,
  constants,
  fstatSync,
  linkSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readSync,
  renameSync,
  rmdirSync,
  statSync,
  unlinkSync,
  writeSync,
  type Stats,
} from 'node:fs';

// The file operations the store is built from, one method per system call that matters. The
// store takes them as a parameter so tests can count them (allocation cost must not grow with the
// number of held addresses) and inject failures. Synchronous on purpose: a plugin process does one
// short sequence of them, and sync calls skip the thread-pool round trip of the async API.
// There is no chmod: the store never changes the mode of anything (docs/ipam-store.md), it makes
// its directories 0700 and its files 0600 from the start.
export interface StoreFs {
  lstat(path: string): Stats;
  stat(path: string): Stats; // through symlinks: only for the parents of dataDir
  mkdir(path: string, recursive?: boolean): void; // mode 0700
  readdir(path: string): string[];
  // Reads a small file without following a symlink in its last component (ELOOP if it is one).
  read(path: string): { text: string; ino: number };
  // Creates a file that did not exist (O_EXCL: never follows or reuses a planted name), mode 0600.
  create(path: string, content: string): void;
  link(existing: string, path: string): void;
  rename(from: string, to: string): void;
  unlink(path: string): void;
  rmdir(path: string): void;
}

const MAX_READ = 64 * 1024;

export const nodeStoreFs: StoreFs = {
  lstat: (path) => lstatSync(path),
  stat: (path) => statSync(path),
  mkdir: (path, recursive = false) => {
    mkdirSync(path, { mode: 0o700, recursive });
  },
  readdir: (path) => readdirSync(path),
  read: (path) => {
    const fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW);
    try {
      const buf = Buffer.allocUnsafe(MAX_READ);
      const n = readSync(fd, buf, 0, MAX_READ, 0);
      return { text: buf.toString('utf8', 0, n), ino: fstatSync(fd).ino };
    } finally {
      closeSync(fd);
    }
  },
  create: (path, content) => {
    const fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
    try {
      if (content !== '') writeSync(fd, content);
    } finally {
      closeSync(fd);
    }
  },
  link: (existing, path) => linkSync(existing, path),
  rename: (from, to) => renameSync(from, to),
  unlink: (path) => unlinkSync(path),
  rmdir: (path) => rmdirSync(path),
};

export const errnoOf = (error: unknown): string | undefined => (error as NodeJS.ErrnoException)?.code;

// Runs one operation and turns "already so" into a boolean, so callers read like the protocol:
// `if (!ignoring('ENOENT', () => io.unlink(p)))`.
export const ignoring = (codes: string | readonly string[], fn: () => void): boolean => {
  try {
    fn();
    return true;
  } catch (error) {
    const code = errnoOf(error);
    if (code !== undefined && (codes === code || (Array.isArray(codes) && codes.includes(code)))) return false;
    throw error;
  }
};

// Unique temp-file names; the pid makes a crashed process's leftovers recognisable by eye.
let counter = 0;
export const tempName = (): string =>
  `.tmp-${process.pid}-${(counter++).toString(36)}-${Math.random().toString(36).slice(2, 8)}`;

export const isTempName = (name: string): boolean => name.startsWith('.tmp-');

// A temp file may be removed once its writer is gone (a crash) or it is clearly forgotten; a live
// writer's temp is left alone so GC never races an ADD for it.
export const isAbandonedTemp = (io: StoreFs, path: string, name: string, now = Date.now()): boolean => {
  const pid = Number(/^\.tmp-(\d+)-/.exec(name)?.[1]);
  try {
    if (now - io.lstat(path).mtimeMs > 60_000) return true;
  } catch {
    return false; // already gone
  }
  if (pid === process.pid) return false;
  if (!(pid > 0)) return true;
  try {
    process.kill(pid, 0);
    return false;
  } catch (error) {
    return errnoOf(error) === 'ESRCH';
  }
};
