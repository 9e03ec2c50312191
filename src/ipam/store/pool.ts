import { join } from 'node:path';
import {
  contains,
  formatIp,
  formatSubnet,
  isReservedByDefault,
  lastAddress,
  parseIp,
  subnetSize,
  type Subnet,
} from '../ip.js';
import { errnoOf, ignoring, isTempName, tempName, type StoreFs } from './fs.js';
import { CURSOR_FILE } from './layout.js';
import { decodeRecord, type AllocationRecord } from './record.js';

// Who holds an address, as its allocation file says.
export type Holder =
  | { state: 'free' }
  | { state: 'held'; record: AllocationRecord; ino: number }
  | { state: 'foreign'; why: string }; // a symlink, a directory or a file that is no allocation

// One subnet's directory: one file per held address, named by the address, plus the cursor.
export class AddressPool {
  constructor(
    private readonly io: StoreFs,
    readonly dir: string,
    readonly subnet: Subnet,
    readonly gateway: bigint | undefined, // unknown for a pool found on disk but no longer configured
  ) {}

  name(address: bigint): string {
    return formatIp(this.subnet.family, address);
  }

  path(address: bigint): string {
    return join(this.dir, this.name(address));
  }

  // The address a file name in this pool stands for (undefined for the cursor, temps, strays).
  addressOf(name: string): bigint | undefined {
    const ip = parseIp(name);
    return ip && ip.family === this.subnet.family && contains(this.subnet, ip.value) && this.name(ip.value) === name
      ? ip.value
      : undefined;
  }

  holder(address: bigint): Holder {
    let file: { text: string; ino: number };
    try {
      file = this.io.read(this.path(address));
    } catch (error) {
      const code = errnoOf(error);
      if (code === 'ENOENT') return { state: 'free' };
      if (code === 'ELOOP' || code === 'EISDIR' || code === 'ENXIO')
        return { state: 'foreign', why: `it is not a regular file (${code})` };
      throw error;
    }
    const record = decodeRecord(file.text);
    return record
      ? { state: 'held', record, ino: file.ino }
      : { state: 'foreign', why: 'its content is not an allocation record' };
  }

  // One lstat: cheap enough to probe candidates before writing anything for them.
  isTaken(address: bigint): boolean {
    return ignoring('ENOENT', () => this.io.lstat(this.path(address)));
  }

  // A file with the complete allocation record, under a name no reader takes for an allocation.
  writeTemp(content: string): string {
    const path = join(this.dir, tempName());
    this.io.create(path, content);
    return path;
  }

  // The claim itself: link(2) creates the address's name atomically or fails with EEXIST, so two
  // processes can never both hold one address, and the file appears with its whole content.
  claim(temp: string, content: string, address: bigint): boolean {
    for (let attempt = 0; ; attempt++) {
      try {
        this.io.link(temp, this.path(address));
        return true;
      } catch (error) {
        const code = errnoOf(error);
        if (code === 'EEXIST') return false;
        if (code !== 'ENOENT' || attempt > 0) throw error;
        this.io.create(temp, content); // a GC swept our temp file: write it again
      }
    }
  }

  release(address: bigint): void {
    ignoring('ENOENT', () => this.io.unlink(this.path(address)));
  }

  // Rewrites the record of an address this key already holds (same key, new attachment).
  rewrite(address: bigint, content: string): void {
    const temp = this.writeTemp(content);
    this.io.rename(temp, this.path(address));
  }

  discard(path: string): void {
    ignoring('ENOENT', () => this.io.unlink(path));
  }

  // Round-robin order from the address after the cursor, wrapping around once, skipping the
  // network, IPv4 broadcast and gateway addresses (never stored: upstream kept the gateway as a
  // permanent entry). A cursor that is unreadable or outside the subnet restarts at the beginning.
  *candidates(): Generator<bigint> {
    const { network } = this.subnet;
    const size = subnetSize(this.subnet);
    const cursor = this.readCursor();
    const start = cursor === undefined ? 0n : cursor - network;
    for (let i = 1n; i <= size; i++) {
      const address = network + ((start + i) % size);
      if (!this.reserved(address)) yield address;
    }
  }

  reserved(address: bigint): boolean {
    return isReservedByDefault(this.subnet, address) || address === this.gateway;
  }

  // How many addresses the pool can hand out at all.
  usable(): bigint {
    const gateway =
      this.gateway !== undefined &&
      contains(this.subnet, this.gateway) &&
      !isReservedByDefault(this.subnet, this.gateway)
        ? 1n
        : 0n;
    return subnetSize(this.subnet) - (this.subnet.family === 4 ? 2n : 1n) - gateway;
  }

  readCursor(): bigint | undefined {
    try {
      const address = this.addressOf(this.io.read(join(this.dir, CURSOR_FILE)).text.trim());
      return address !== undefined && address <= lastAddress(this.subnet) ? address : undefined;
    } catch (error) {
      if (errnoOf(error) === 'ENOENT' || errnoOf(error) === 'ELOOP') return undefined;
      throw error;
    }
  }

  // The cursor is a hint, replaced atomically; concurrent writers may reorder it, which only
  // costs a later ADD a few probes.
  writeCursor(address: bigint): void {
    const temp = this.writeTemp(`${this.name(address)}\n`);
    ignoring('ENOENT', () => this.io.rename(temp, join(this.dir, CURSOR_FILE))); // temp swept: skip the hint
  }

  // Every entry of the directory, for GC and STATUS (never on the ADD path).
  entries(): { name: string; address?: bigint; temp: boolean }[] {
    return this.io.readdir(this.dir).map((name) => {
      const address = this.addressOf(name);
      return { name, temp: isTempName(name), ...(address === undefined ? {} : { address }) };
    });
  }

  toString(): string {
    return formatSubnet(this.subnet);
  }
}
