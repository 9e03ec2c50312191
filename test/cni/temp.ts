import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

type Teardown = { teardown(fn: () => void): void };

// A fresh directory under the OS temp dir, removed when the test ends.
export const tempDir = (t: Teardown, prefix = 'tasknet-cni-'): string => {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
};

// Writes a file (synchronously: it is closed before anything is exec'd, so no ETXTBSY) and sets
// its mode; parent directories are created.
export const writeFile = (path: string, content: string, mode = 0o755): string => {
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, content);
  chmodSync(path, mode);
  return path;
};
