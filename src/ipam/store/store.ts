import { join } from 'node:path';
import { CniError, ErrorCode } from '../../cni/errors.js';
import { logger } from '../../cni/log.js';
import type { IpamConfig } from '../config.js';
import { formatIp } from '../ip.js';
import { ignoring, isAbandonedTemp, isTempName, nodeStoreFs, type StoreFs } from './fs.js';
import { KeyGates, type Gate } from './gate.js';
import { KeyIndex } from './key-index.js';
import { ensureDir, GATE_SUFFIX, KEYS_DIR, parsePoolDirName, poolDirName } from './layout.js';
import { openNetworkDir } from './location.js';
import { AddressPool, type Holder } from './pool.js';
import { attachmentId, encodeRecord, type AllocationRecord, type Attachment } from './record.js';

export interface StoreOptions {
  io?: StoreFs;
  // Test hook: called between the steps of ADD and DEL (docs/ipam-store.md, crash-point table).
  step?: (name: string) => void;
  // How long an operation waits for another one working on the same key before code 11.
  gateWaitMs?: number;
}

interface ConfiguredPool {
  pool: AddressPool;
  want: bigint | undefined; // ipvN-address: the key must hold exactly this address
}

export interface Held {
  pool: AddressPool;
  address: bigint;
  record: AllocationRecord;
}

// The store of one network (docs/ipam-store.md): <dataDir>/<network>/ holds a directory per subnet
// and the key index. Every method is safe to run in many processes at once.
export class IpamStore {
  private readonly io: StoreFs;
  private readonly step: (name: string) => void;
  private readonly index: KeyIndex;
  private readonly gates: KeyGates;
  private readonly pools: ConfiguredPool[];
  private onDisk: AddressPool[] | undefined;

  private constructor(
    private readonly config: IpamConfig,
    readonly dir: string,
    options: StoreOptions,
  ) {
    this.io = options.io ?? nodeStoreFs;
    this.step = options.step ?? (() => {});
    this.index = new KeyIndex(this.io, join(dir, KEYS_DIR));
    this.gates = new KeyGates(this.io, join(dir, KEYS_DIR), options.gateWaitMs);
    this.pools = config.pools.map((p) => ({
      pool: new AddressPool(this.io, join(dir, poolDirName(p.subnet)), p.subnet, p.gateway),
      want: p.address,
    }));
  }

  // Opens (creating if needed) the directories of the configured network and subnets. The
  // network's directory is used only if the store made it (location.ts).
  static open(config: IpamConfig, options: StoreOptions = {}): IpamStore {
    const dir = openNetworkDir(options.io ?? nodeStoreFs, config.dataDir, config.network);
    const store = new IpamStore(config, dir, options);
    ensureDir(store.io, store.index.dir);
    for (const { pool } of store.pools) ensureDir(store.io, pool.dir);
    return store;
  }

  // ADD: the addresses the key holds in each configured subnet, claiming them where it holds
  // none. All or nothing: a failure in the second family releases what the first one claimed.
  async allocate(key: string, who: Attachment): Promise<bigint[]> {
    const keyDir = this.index.keyDir(key);
    const gate = await this.gates.acquire(keyDir, 'ADD', key);
    const fresh: Held[] = [];
    try {
      this.step('gate');
      const held = this.heldBy(
        key,
        this.pools.map((p) => p.pool),
      );
      const addresses = this.pools.map(({ pool, want }) => {
        const mine = held.find((h) => h.pool === pool && (want === undefined || h.address === want));
        if (mine) {
          this.refreshAttachment(mine, who);
          return mine.address;
        }
        const claimed = this.claim(pool, key, keyDir, who, want);
        if (claimed.fresh) fresh.push({ pool, address: claimed.address, record: claimed.record });
        return claimed.address;
      });
      this.step('allocated');
      return addresses;
    } catch (error) {
      for (const h of fresh) {
        try {
          h.pool.release(h.address);
          this.dropEntry(keyDir, h.pool.name(h.address), key, [h.pool]);
        } catch (undo) {
          logger.warn(`ecs-ipam: could not undo the claim of ${h.pool.name(h.address)}: ${(undo as Error).message}`);
        }
      }
      try {
        this.index.prune(keyDir);
      } catch {
        /* best effort: the error that matters is the one above */
      }
      throw error;
    } finally {
      gate.release();
    }
  }

  // The claim protocol, in crash-safe order: the key's index entry first (a crash leaves a
  // pointer to nothing), then link(2) of the complete record to the address's name.
  private claim(
    pool: AddressPool,
    key: string,
    keyDir: string,
    who: Attachment,
    want: bigint | undefined,
  ): { address: bigint; fresh: boolean; record: AllocationRecord } {
    const record: AllocationRecord = {
      key,
      ...who,
      network: this.config.network,
      subnet: String(pool),
      allocatedAt: new Date().toISOString(),
    };
    const content = encodeRecord(record);
    const temp = pool.writeTemp(content);
    this.step('temp');
    try {
      for (const address of want === undefined ? pool.candidates() : [want]) {
        if (want === undefined && pool.isTaken(address)) continue;
        const name = pool.name(address);
        const created = this.index.add(keyDir, name);
        this.step('intent');
        if (pool.claim(temp, content, address)) {
          this.step('claimed');
          this.index.add(keyDir, name); // a remover may have dropped our intent meanwhile
          if (want === undefined) {
            pool.writeCursor(address);
            this.step('cursor');
          }
          return { address, fresh: true, record };
        }
        const holder = pool.holder(address);
        if (holder.state === 'held' && holder.record.key === key) {
          // ours already: a same-key race
          this.index.add(keyDir, name);
          return { address, fresh: false, record: holder.record };
        }
        if (created) this.dropEntry(keyDir, name, key, [pool]);
        if (want !== undefined) throw addressTaken(pool, address, holder);
      }
      throw new CniError(
        ErrorCode.Plugin,
        `no free address in ${pool} on network ${this.config.network}: all ${pool.usable()} usable addresses are held`,
      );
    } finally {
      pool.discard(temp);
    }
  }

  // An ADD repeated for the same key from a new attachment (same `id`, new container) moves the
  // record along, so that GC keeps matching the attachment that uses the address.
  private refreshAttachment(held: Held, who: Attachment): void {
    if (held.record.containerId === who.containerId && held.record.ifname === who.ifname) return;
    held.pool.rewrite(held.address, encodeRecord({ ...held.record, ...who }));
  }

  // DEL: releases everything the key holds, in every subnet of the network (also ones no longer
  // configured), and an explicit ipvN-address held for the same attachment under another key.
  // Nothing held is success.
  async release(key: string, who: Attachment): Promise<bigint[]> {
    const keyDir = this.index.keyDir(key);
    const released: bigint[] = [];
    const gate = await this.gates.acquire(keyDir, 'DEL', key);
    try {
      this.step('gate');
      const pools = this.allPools();
      for (const name of this.index.entries(keyDir)) {
        const inPools = pools.filter((p) => p.addressOf(name) !== undefined);
        for (const pool of inPools) {
          const address = pool.addressOf(name)!;
          const holder = pool.holder(address);
          if (holder.state === 'held' && holder.record.key === key) {
            pool.release(address); // address file first: a crash leaves only a dangling entry
            released.push(address);
            this.step('released');
          }
        }
        this.dropEntry(keyDir, name, key, inPools);
        this.step('unindexed');
      }
      this.index.prune(keyDir);
      this.step('pruned');
    } finally {
      gate.release();
    }
    for (const { pool, want } of this.pools) {
      if (want === undefined) continue;
      const holder = pool.holder(want);
      if (
        holder.state === 'held' &&
        holder.record.key !== key &&
        attachmentId(holder.record) === attachmentId(who) &&
        this.releaseIfUnused(pool, want, holder, 'DEL')
      )
        released.push(want);
    }
    return released;
  }

  // CHECK: the address the key holds in each configured subnet (the configured one if explicit).
  lookup(key: string): (bigint | undefined)[] {
    const held = this.heldBy(
      key,
      this.pools.map((p) => p.pool),
    );
    return this.pools.map(
      ({ pool, want }) => held.find((h) => h.pool === pool && (want === undefined || h.address === want))?.address,
    );
  }

  // STATUS: the store can be written, and every subnet that allocates dynamically has room.
  status(): void {
    for (const { pool, want } of this.pools) {
      pool.discard(pool.writeTemp(''));
      if (want !== undefined) continue;
      const held = pool.entries().filter((e) => e.address !== undefined && !pool.reserved(e.address)).length;
      if (BigInt(held) >= pool.usable()) {
        throw new CniError(
          ErrorCode.NotReady,
          `no free address in ${pool} on network ${this.config.network}: all ${pool.usable()} usable addresses are held`,
        );
      }
    }
  }

  // GC: releases every allocation of the network whose attachment is not in `valid`, and sweeps
  // what crashes leave behind (temp files, dead gates, index entries pointing at nothing). An
  // allocation whose key is gated by a running ADD or DEL is left for the next GC.
  gc(valid: ReadonlySet<string>): { released: string[]; kept: number } {
    const released: string[] = [];
    let kept = 0;
    const pools = this.allPools();
    for (const pool of pools) {
      for (const entry of pool.entries()) {
        if (entry.temp && isAbandonedTemp(this.io, join(pool.dir, entry.name), entry.name))
          pool.discard(join(pool.dir, entry.name));
        if (entry.address === undefined) continue;
        const holder = pool.holder(entry.address);
        if (holder.state === 'held' && valid.has(attachmentId(holder.record))) {
          this.index.add(this.index.keyDir(holder.record.key), entry.name); // repairs a lost entry
          kept++;
        } else if (holder.state === 'held') {
          if (this.releaseIfUnused(pool, entry.address, holder, 'GC')) released.push(`${pool}: ${entry.name}`);
        } else if (holder.state === 'foreign') {
          logger.warn(`ecs-ipam GC: removing ${join(pool.dir, entry.name)}: ${holder.why}`);
          if (ignoring(['EISDIR', 'EPERM'], () => this.io.unlink(join(pool.dir, entry.name))))
            released.push(`${pool}: ${entry.name}`);
        }
      }
    }
    for (const name of this.index.list()) {
      if (isTempName(name)) {
        if (isAbandonedTemp(this.io, join(this.index.dir, name), name))
          ignoring('ENOENT', () => this.io.unlink(join(this.index.dir, name)));
      } else if (name.endsWith(GATE_SUFFIX)) this.sweepGate(name);
      else this.sweepKeyDir(name, pools);
    }
    return { released, kept };
  }

  // Releases an allocation of some key if no ADD or DEL is working on that key right now.
  private releaseIfUnused(pool: AddressPool, address: bigint, seen: Holder & { state: 'held' }, op: string): boolean {
    const keyDir = this.index.keyDir(seen.record.key);
    const gate = this.gates.tryAcquire(keyDir, op);
    if (!('release' in gate)) return false;
    try {
      const now = pool.holder(address);
      if (now.state !== 'held' || now.ino !== seen.ino) return false;
      pool.release(address);
      this.dropEntry(keyDir, pool.name(address), seen.record.key, [pool]);
      this.index.prune(keyDir);
      return true;
    } finally {
      (gate as Gate).release();
    }
  }

  private sweepGate(name: string): void {
    const path = join(this.index.dir, name);
    let gate: { text: string; ino: number };
    try {
      gate = this.io.read(path);
    } catch {
      return;
    }
    let owner: Parameters<KeyGates['alive']>[1];
    try {
      owner = JSON.parse(gate.text) as typeof owner;
    } catch {
      /* unreadable: not a live gate */
    }
    if (!this.gates.alive(path, owner)) this.gates.breakStale(path, gate.ino);
  }

  // Drops index entries that point at nothing this key holds, then the directory if empty.
  private sweepKeyDir(keyDir: string, pools: AddressPool[]): void {
    for (const name of this.index.entries(keyDir)) {
      const inPools = pools.filter((p) => p.addressOf(name) !== undefined);
      const owned = inPools.some((p) => {
        const h = p.holder(p.addressOf(name)!);
        return h.state === 'held' && this.index.keyDir(h.record.key) === keyDir;
      });
      if (!owned) this.dropEntry(keyDir, name, undefined, inPools);
    }
    this.index.prune(keyDir);
  }

  // Removes an index entry, then looks again: if the address is (now) held by the key, a claim
  // raced with the removal and the entry is put back. With the claimer's own re-check after its
  // link(2), one of the two always sees the other, so a held address never loses its entry.
  private dropEntry(keyDir: string, name: string, key: string | undefined, pools: AddressPool[]): void {
    this.index.remove(keyDir, name);
    for (const pool of pools) {
      const h = pool.holder(pool.addressOf(name)!);
      if (h.state === 'held' && (h.record.key === key || this.index.keyDir(h.record.key) === keyDir)) {
        this.index.add(keyDir, name);
      }
    }
  }

  private heldBy(key: string, pools: AddressPool[]): Held[] {
    const held: Held[] = [];
    for (const name of this.index.entries(this.index.keyDir(key))) {
      for (const pool of pools) {
        const address = pool.addressOf(name);
        if (address === undefined) continue;
        const h = pool.holder(address);
        if (h.state === 'held' && h.record.key === key) held.push({ pool, address, record: h.record });
      }
    }
    return held.sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : 0));
  }

  // The configured pools plus any other subnet directory of this network (a changed subnet).
  private allPools(): AddressPool[] {
    if (!this.onDisk) {
      const configured = this.pools.map((p) => p.pool);
      const others = this.io.readdir(this.dir).flatMap((name) => {
        const subnet = parsePoolDirName(name);
        if (!subnet || configured.some((p) => p.dir === join(this.dir, name))) return [];
        ensureDir(this.io, join(this.dir, name));
        return [new AddressPool(this.io, join(this.dir, name), subnet, undefined)];
      });
      this.onDisk = [...configured, ...others];
    }
    return this.onDisk;
  }
}

const addressTaken = (pool: AddressPool, address: bigint, holder: Holder): CniError => {
  const field = `ipam.ipv${pool.subnet.family}-address`;
  const by =
    holder.state === 'held'
      ? `key ${JSON.stringify(holder.record.key)} (container ${holder.record.containerId}, interface ${holder.record.ifname})`
      : `something that is not an allocation (${holder.state === 'foreign' ? holder.why : 'unknown'})`;
  return new CniError(ErrorCode.Plugin, `${field} ${formatIp(pool.subnet.family, address)} is already held by ${by}`);
};
