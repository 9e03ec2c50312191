import { readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { CniError, ErrorCode } from '../../cni/errors.js';
import { errnoOf, ignoring, tempName, type StoreFs } from './fs.js';
import { GATE_SUFFIX } from './layout.js';

// A per-key gate: one file, keys/<key>.lock, naming the process that is working on that key. It
// serialises operations on the same key only (two ADDs for one key then agree on one address);
// different keys never wait for each other. Safety does not rest on it: the address claim is a
// link(2) and holds even if a gate were wrongly broken. Node has no flock(2), so a dead holder is
// recognised by its pid and start time (/proc/PID/stat field 22), which pid reuse cannot fake.

interface Owner {
  pid: number;
  start?: string;
  pidns?: string;
  at: number;
  op: string;
}

export interface Gate {
  release(): void;
}

export interface Busy {
  owner: Owner | undefined;
  ino: number;
}

// A gate whose holder lives in another pid namespace cannot be checked; it is trusted this long.
const FOREIGN_GATE_TTL_MS = 60_000;
export const GATE_WAIT_MS = 5_000;

const startTimeOf = (pid: number): string | undefined => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
};

let self: { start?: string; pidns?: string } | undefined;
const selfIdentity = (): { start?: string; pidns?: string } => {
  if (!self) {
    let pidns: string | undefined;
    try {
      pidns = readlinkSync('/proc/self/ns/pid');
    } catch {
      /* no /proc: gates fall back to their age */
    }
    self = { start: startTimeOf(process.pid), pidns };
  }
  return self;
};

// Gates this process holds: an in-process caller (the agent) may run several operations at once.
const heldHere = new Set<string>();

export class KeyGates {
  constructor(
    private readonly io: StoreFs,
    private readonly keysDir: string,
    private readonly waitMs = GATE_WAIT_MS,
  ) {}

  pathOf(keyDir: string): string {
    return join(this.keysDir, keyDir + GATE_SUFFIX);
  }

  // Takes the gate if it is free or its holder is dead; otherwise says who holds it.
  tryAcquire(keyDir: string, op: string): Gate | Busy {
    const path = this.pathOf(keyDir);
    const me = selfIdentity();
    const owner: Owner = { pid: process.pid, ...me, at: Date.now(), op };
    const tmp = join(this.keysDir, tempName());
    this.io.create(tmp, `${JSON.stringify(owner)}\n`); // full content before the name appears
    try {
      for (let attempt = 0; ; attempt++) {
        try {
          this.io.link(tmp, path);
          const ino = this.io.lstat(path).ino;
          heldHere.add(path);
          return { release: () => this.release(path, ino) };
        } catch (error) {
          if (errnoOf(error) !== 'EEXIST') throw error;
        }
        let current: { text: string; ino: number };
        try {
          current = this.io.read(path);
        } catch (error) {
          if (errnoOf(error) === 'ENOENT') continue; // released meanwhile
          throw error;
        }
        const holder = parseOwner(current.text);
        if (attempt < 3 && !this.alive(path, holder)) {
          this.breakStale(path, current.ino);
          continue;
        }
        return { owner: holder, ino: current.ino };
      }
    } finally {
      ignoring('ENOENT', () => this.io.unlink(tmp));
    }
  }

  // Waits for a live holder (a same-key ADD takes milliseconds), then gives up with code 11.
  async acquire(keyDir: string, op: string, key: string): Promise<Gate> {
    const deadline = Date.now() + this.waitMs;
    for (let pause = 2; ; pause = Math.min(pause * 2, 50)) {
      const got = this.tryAcquire(keyDir, op);
      if ('release' in got) return got;
      if (Date.now() > deadline) {
        const who = got.owner ? `${got.owner.op} by pid ${got.owner.pid}` : 'an operation';
        throw new CniError(
          ErrorCode.TryAgainLater,
          `ecs-ipam: ${who} is still working on key ${JSON.stringify(key)}; try again`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, pause));
    }
  }

  // Is the gate's holder still running? Only then may it be waited for.
  alive(path: string, owner: Owner | undefined): boolean {
    if (!owner) return false; // gates appear complete (temp + link): unreadable means not ours
    const me = selfIdentity();
    if (owner.pid === process.pid && owner.start === me.start) return heldHere.has(path);
    if (owner.pidns !== undefined && owner.pidns === me.pidns && owner.start !== undefined) {
      return startTimeOf(owner.pid) === owner.start;
    }
    return Date.now() - owner.at < FOREIGN_GATE_TTL_MS;
  }

  // Removes a dead holder's gate. The rename moves exactly one directory entry, so of several
  // processes breaking the same gate one wins; a gate that turns out to be a fresh one (its inode
  // differs from the stale one read) is put back.
  breakStale(path: string, staleIno: number): void {
    const aside = join(this.keysDir, tempName());
    if (!ignoring('ENOENT', () => this.io.rename(path, aside))) return;
    if (this.io.lstat(aside).ino !== staleIno) ignoring('EEXIST', () => this.io.link(aside, path));
    ignoring('ENOENT', () => this.io.unlink(aside));
  }

  private release(path: string, ino: number): void {
    heldHere.delete(path);
    try {
      if (this.io.lstat(path).ino === ino) this.io.unlink(path);
    } catch (error) {
      if (errnoOf(error) !== 'ENOENT') throw error;
    }
  }
}

const parseOwner = (text: string): Owner | undefined => {
  try {
    const value = JSON.parse(text) as Partial<Owner>;
    return typeof value.pid === 'number' && typeof value.at === 'number' ? ({ op: '?', ...value } as Owner) : undefined;
  } catch {
    return undefined;
  }
};
