import type { Stats } from 'node:fs';
import { join } from 'node:path';
import { invalidConfig, type CniError } from '../../cni/errors.js';
import { DEFAULT_DATA_DIR } from '../config.js';
import { errnoOf, ignoring, tempName, type StoreFs } from './fs.js';
import { dirProblem, euid, KEYS_DIR, parsePoolDirName } from './layout.js';

// Where a network's store may live (docs/ipam-store.md, "Which directories ecs-ipam uses"):
// - network N's store is <dataDir>/N, and ecs-ipam uses it only if it made it: the directory
//   carries the marker file .tasknet-ipam. A new one appears whole, marker inside.
// - dataDir may be any directory root owns and nobody else may write to. The store only ever adds
//   <dataDir>/N to it (and makes dataDir itself if it is missing); it never changes its mode.
// - dataDir's parents are root's and writable by nobody else, unless sticky like /tmp.
// Anything else is refused with code 7 naming the path: the config points the store at a place
// that is not its own. Nothing is chmodded or written before every check has passed.

export const MARKER = '.tasknet-ipam';
const FORMAT = 1;
const MARKER_TEXT = `${JSON.stringify({ v: FORMAT, store: 'tasknet ecs-ipam' })}\n`;

type Refuse = (path: string, why: string) => CniError;

// Returns <dataDir>/<network>, made (with dataDir) if missing, once it is sure to be the store's.
export const openNetworkDir = (io: StoreFs, dataDir: string, network: string): string => {
  const refuse: Refuse = (path, why) => invalidConfig('ipam.dataDir', dataDir, `refusing to use ${path}: ${why}`);
  checkParents(io, dataDir, refuse);
  const rootProblem = dirProblem(lstatOrMake(io, dataDir, () => ignoring('EEXIST', () => io.mkdir(dataDir, true))));
  if (rootProblem) throw refuse(dataDir, rootProblem);

  const dir = join(dataDir, network);
  const refuseDir: Refuse = (path, why) => refuse(`${path} (the store of network ${JSON.stringify(network)})`, why);
  const problem = dirProblem(lstatOrMake(io, dir, () => createMarked(io, dataDir, dir)));
  if (problem) throw refuseDir(dir, problem);
  if (!readMarker(io, dir, refuseDir)) adoptLegacy(io, dir, refuseDir);
  return dir;
};

// Whoever may rename entries in a parent of dataDir could swap in a directory of their own, so
// each parent must be root's (or ours) and writable by nobody else unless sticky (/tmp). A
// symlink on the way (/var/run -> /run) must be root's or ours too; its target is checked.
const checkParents = (io: StoreFs, dataDir: string, refuse: Refuse): void => {
  const uid = euid();
  if (uid === undefined) return;
  const trusted = (owner: number): boolean => owner === 0 || owner === uid;
  const parts = dataDir.split('/').filter((p) => p !== '');
  for (let i = 0; i < parts.length; i++) {
    const path = `/${parts.slice(0, i).join('/')}`;
    let st = lstatIfAny(io, path);
    if (st?.isSymbolicLink()) {
      if (!trusted(st.uid))
        throw refuse(dataDir, `its parent ${path} is a symbolic link owned by uid ${st.uid}, not by uid ${uid}`);
      st = ifAny(() => io.stat(path));
    }
    if (!st) return; // the rest is made by mkdir, ours
    if (!trusted(st.uid)) throw refuse(dataDir, `its parent ${path} is owned by uid ${st.uid}`);
    if ((st.mode & 0o022) !== 0 && (st.mode & 0o1000) === 0) {
      throw refuse(
        dataDir,
        `others can write to its parent ${path} (mode ${(st.mode & 0o7777).toString(8)}) and could swap it`,
      );
    }
  }
};

// A new network directory is made under a temp name in dataDir, marker inside, then renamed into
// place: no ADD ever sees it unmarked. Of ADDs racing to make it one rename wins; the others fail
// (ENOTEMPTY: the winner's holds its marker) and use the winner's. (rename(2) would replace an
// empty directory, but only one made by root between our lstat and the rename.)
const createMarked = (io: StoreFs, dataDir: string, dir: string): void => {
  const temp = join(dataDir, tempName());
  io.mkdir(temp);
  let placed = false;
  try {
    io.create(join(temp, MARKER), MARKER_TEXT);
    placed = ignoring(['ENOTEMPTY', 'EEXIST', 'ENOTDIR'], () => io.rename(temp, dir));
  } finally {
    if (!placed) {
      ignoring('ENOENT', () => io.unlink(join(temp, MARKER)));
      ignoring('ENOENT', () => io.rmdir(temp));
    }
  }
};

// true if the directory carries a marker of this format, false if it has none; refuses others.
const readMarker = (io: StoreFs, dir: string, refuse: Refuse): boolean => {
  let text: string;
  try {
    text = io.read(join(dir, MARKER)).text;
  } catch (error) {
    const code = errnoOf(error);
    if (code === 'ENOENT') return false;
    if (code === 'ELOOP' || code === 'EISDIR') throw refuse(dir, `its ${MARKER} is not a regular file (${code})`);
    throw error;
  }
  const format = formatOf(text);
  if (format === FORMAT) return true;
  throw refuse(
    dir,
    format !== undefined && format > FORMAT
      ? `it was made by a newer ecs-ipam (store format ${format}; this one knows format ${FORMAT})`
      : `its ${MARKER} was not written by ecs-ipam`,
  );
};

const formatOf = (text: string): number | undefined => {
  try {
    const marker = JSON.parse(text) as { v?: unknown; store?: unknown };
    return marker.store === 'tasknet ecs-ipam' && Number.isInteger(marker.v) ? (marker.v as number) : undefined;
  } catch {
    return undefined;
  }
};

// An unmarked directory is the store's only if tasknet made it before the marker existed: then it
// holds keys/ and subnet directories and nothing else, all 0700 (that version made them so). It is
// marked and used; anything else is refused as it is.
const adoptLegacy = (io: StoreFs, dir: string, refuse: Refuse): void => {
  const notLegacy = legacyProblem(io, dir);
  if (notLegacy) {
    throw refuse(
      dir,
      `ecs-ipam did not make it: it has no ${MARKER} marker, and ${notLegacy}. ecs-ipam writes only into ` +
        `a directory it made: set ipam.dataDir (or IPAM_DB_PATH) to a directory of its own, such as ${DEFAULT_DATA_DIR}`,
    );
  }
  // The marker appears whole: written under a temp name in keys/ (where GC sweeps temps), then linked.
  const temp = join(dir, KEYS_DIR, tempName());
  io.create(temp, MARKER_TEXT);
  try {
    ignoring('EEXIST', () => io.link(temp, join(dir, MARKER))); // a concurrent ADD marked it first
  } finally {
    ignoring('ENOENT', () => io.unlink(temp));
  }
  if (!readMarker(io, dir, refuse)) throw refuse(dir, `its ${MARKER} vanished while it was being marked`);
};

const legacyProblem = (io: StoreFs, dir: string): string | undefined => {
  const mode = io.lstat(dir).mode & 0o7777;
  if (mode !== 0o700) return `its mode is ${mode.toString(8)}, not 700`;
  const names = io.readdir(dir);
  if (names.length === 0) return 'it is empty (rmdir it if ecs-ipam left it)';
  if (!names.includes(KEYS_DIR)) return `it has no ${KEYS_DIR}/`;
  for (const name of names) {
    if (name !== KEYS_DIR && !parsePoolDirName(name))
      return `it holds ${JSON.stringify(name)}, which no ecs-ipam store holds`;
    const st = io.lstat(join(dir, name));
    if (dirProblem(st) || (st.mode & 0o7777) !== 0o700)
      return `its ${name} is not a directory of mode 700 like ecs-ipam makes`;
  }
  return undefined;
};

const ifAny = (fn: () => Stats): Stats | undefined => {
  try {
    return fn();
  } catch (error) {
    if (errnoOf(error) === 'ENOENT') return undefined;
    throw error;
  }
};

const lstatIfAny = (io: StoreFs, path: string): Stats | undefined => ifAny(() => io.lstat(path));

// What is at the path, after making it if nothing was.
const lstatOrMake = (io: StoreFs, path: string, make: () => void): Stats => {
  const found = lstatIfAny(io, path);
  if (found) return found;
  make();
  return io.lstat(path);
};
