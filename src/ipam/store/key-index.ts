import { join } from 'node:path';
import { ignoring, type StoreFs } from './fs.js';
import { ensureDir, keyDirName, listDir } from './layout.js';

// keys/<key>/<address>: empty files naming the addresses a key holds, so that idempotent ADD and
// DEL by key cost one directory read instead of a scan of every allocation. An entry is only a
// pointer: it is trusted once the allocation file it names says the same key.
export class KeyIndex {
  private readonly checked = new Set<string>();

  constructor(
    private readonly io: StoreFs,
    readonly dir: string,
  ) {}

  keyDir(key: string): string {
    return keyDirName(key);
  }

  entries(keyDir: string): string[] {
    return listDir(this.io, join(this.dir, keyDir));
  }

  // Creates the entry; false if it already existed.
  add(keyDir: string, name: string): boolean {
    const dir = join(this.dir, keyDir);
    for (let attempt = 0; ; attempt++) {
      if (!this.checked.has(dir)) {
        ensureDir(this.io, dir);
        this.checked.add(dir);
      }
      try {
        return ignoring('EEXIST', () => this.io.create(join(dir, name), ''));
      } catch (error) {
        // a DEL of the same key removed the directory between our check and the create
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT' || attempt > 2) throw error;
        this.checked.delete(dir);
      }
    }
  }

  remove(keyDir: string, name: string): void {
    ignoring('ENOENT', () => this.io.unlink(join(this.dir, keyDir, name)));
  }

  // Drops the key's directory once it holds nothing.
  prune(keyDir: string): void {
    const dir = join(this.dir, keyDir);
    this.checked.delete(dir);
    ignoring(['ENOENT', 'ENOTEMPTY', 'EEXIST'], () => this.io.rmdir(dir));
  }

  list(): string[] {
    return this.io.readdir(this.dir);
  }
}
