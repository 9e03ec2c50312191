// Every file the agent writes holds task secrets or lets someone tear a task down, so: dirs 0700,
// files 0600, whatever the umask, and written atomically (temp file + fsync + rename) so a kill -9
// at any instant leaves either the old or the new version, never half of one.
import { chmod, lstat, mkdir, open, readFile, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';

// A symlink planted where a dir belongs is refused, not followed: chmod and the files written
// into it would land wherever it points. So is a dir another user owns (they could swap the
// control socket and answer root's CLI), and one under a parent that others may rename things
// in: a parent must belong to root or to us, and be writable by nobody else unless sticky (/tmp).
export const ensurePrivateDir = async (dir: string): Promise<void> => {
  await checkParents(dir);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const st = await lstat(dir);
  if (!st.isDirectory())
    throw new Error(`refusing to use ${dir}: it is ${st.isSymbolicLink() ? 'a symbolic link' : 'not a directory'}`);
  const uid = process.geteuid?.();
  if (uid !== undefined && st.uid !== uid)
    throw new Error(
      `refusing to use ${dir}: it is owned by uid ${st.uid}, not by uid ${uid} (remove it, or give another --state-dir)`,
    );
  await chmod(dir, 0o700);
};

const checkParents = async (dir: string): Promise<void> => {
  const uid = process.geteuid?.();
  if (uid === undefined) return;
  const parts = resolve(dir).split('/').filter(Boolean);
  for (let i = 0; i < parts.length; i++) {
    const path = `/${parts.slice(0, i).join('/')}`;
    let st: Awaited<ReturnType<typeof stat>>;
    try {
      st = await stat(path); // through symlinks: /var/run -> /run is fine if /run is
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw error;
    }
    if (st.uid !== 0 && st.uid !== uid)
      throw new Error(`refusing to use ${dir}: its parent ${path} is owned by uid ${st.uid}`);
    if ((st.mode & 0o022) !== 0 && (st.mode & 0o1000) === 0) {
      throw new Error(
        `refusing to use ${dir}: others can write to its parent ${path} (mode ${(st.mode & 0o7777).toString(8)})`,
      );
    }
  }
};

// Temp file in the same directory, synced, given its final mode, then renamed over the target:
// readers (a CNI runtime exec'ing a launcher, a restarted agent) see the old file or the new one.
// The temp name starts with "." and has no .conf/.conflist/.json ending, so libcni never loads it
// from a conf dir. `mode` is exact (umask aside); `privateDir` makes the directory 0700 first.
export const writeFileAtomic = async (
  path: string,
  data: string,
  { mode = 0o600, privateDir = true }: { mode?: number; privateDir?: boolean } = {},
): Promise<void> => {
  if (privateDir) await ensurePrivateDir(dirname(path));
  const tmp = join(dirname(path), `.${basename(path)}.tmp-${process.pid}-${Math.random().toString(36).slice(2, 8)}`);
  const handle = await open(tmp, 'wx', 0o600);
  try {
    await handle.writeFile(data);
    if (mode !== 0o600) await handle.chmod(mode);
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await rename(tmp, path);
  } catch (error) {
    await rm(tmp, { force: true });
    throw error;
  }
};

export const writeJsonAtomic = (path: string, value: unknown): Promise<void> =>
  writeFileAtomic(path, `${JSON.stringify(value, null, 2)}\n`);

// undefined when the file does not exist; any other problem (unreadable, not JSON) throws.
export const readJson = async (path: string): Promise<unknown> => {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  return JSON.parse(text) as unknown;
};
