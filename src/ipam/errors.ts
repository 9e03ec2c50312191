import { CniError, ErrorCode } from '../cni/errors.js';
import { errnoOf } from './store/fs.js';

// The store refuses to write through something it did not make (a planted symlink, a directory
// another user owns): a local user must not be able to redirect root's writes.
export const unsafeStore = (path: string, why: string): CniError =>
  new CniError(ErrorCode.Store, `refusing to use the ecs-ipam store at ${path}: ${why}`);

// A failed system call (disk full, read-only file system, permission denied) is an I/O failure,
// code 5; Node's message already names the call and the path.
export const asStoreError = (error: unknown): unknown => {
  if (error instanceof CniError || errnoOf(error) === undefined) return error;
  return new CniError(ErrorCode.IoFailure, `ecs-ipam store: ${(error as Error).message}`, undefined, { cause: error });
};
