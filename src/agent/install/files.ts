// File primitives of the installer: what is at a path, and replacing it atomically.
import { createHash } from 'node:crypto';
import { lstat, readFile, unlink } from 'node:fs/promises';
import { writeFileAtomic as writeStateFileAtomic } from '../state/files.js';

export const sha256 = (content: string | Buffer): string => createHash('sha256').update(content).digest('hex');

export type PathState =
  | { kind: 'missing' }
  | { kind: 'file'; sha256: string; content: Buffer }
  | { kind: 'other'; what: string };

const isNotFound = (error: unknown): boolean => (error as NodeJS.ErrnoException).code === 'ENOENT';

// lstat, not stat: a symlink at a target is someone else's arrangement, never followed.
export const pathState = async (path: string): Promise<PathState> => {
  try {
    const stat = await lstat(path);
    if (stat.isSymbolicLink()) return { kind: 'other', what: 'a symlink' };
    if (stat.isDirectory()) return { kind: 'other', what: 'a directory' };
    if (!stat.isFile()) return { kind: 'other', what: 'not a regular file' };
    const content = await readFile(path);
    return { kind: 'file', sha256: sha256(content), content };
  } catch (error) {
    if (isNotFound(error)) return { kind: 'missing' };
    throw error;
  }
};

// The agent's atomic writer, with the installer's modes (0755 launchers, 0644 conflists) in
// directories that are not ours to make private.
export const writeFileAtomic = (path: string, content: string, mode: number): Promise<void> =>
  writeStateFileAtomic(path, content, { mode, privateDir: false });

// Unlink that treats "already gone" as done.
export const removeFile = async (path: string): Promise<void> => {
  try {
    await unlink(path);
  } catch (error) {
    if (!isNotFound(error)) throw error;
  }
};
