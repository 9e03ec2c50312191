// Several changes to ONE netns in one `ip -batch -` process: a CNI ADD is a handful of changes,
// and a process per change is most of its run time. Each method validates its input at once and
// throws IpError('invalid') before anything runs; run() spawns a single process.
//
// ip stops at the first failing line and prints "Command failed -:N" (N counts stdin lines).
// A line refused while ip parses it (e.g. an unknown `master`) exits without that marker; the
// failing command is then named only if exactly one command holds the token ip quotes.
import { addrArgs, addrFlushArgs, type AddAddressOptions } from './address.js';
import { classifyStderr, IpError } from './errors.js';
import {
  bridgeAddArgs,
  linkDelArgs,
  linkSetArgs,
  vethAddArgs,
  type BridgeSpec,
  type LinkChanges,
  type VethSpec,
} from './link.js';
import { neighDelArgs, neighReplaceArgs, type PermanentNeighbour } from './neighbour.js';
import { routeArgs, type RouteSpec } from './route.js';
import { ipArgv, spawnCounted, validateNetnsRef, type NetnsRef } from './run.js';
import { validateToken } from './validate.js';

export class IpBatch {
  readonly #ns: NetnsRef;
  readonly #lines: string[] = [];

  constructor(ns: NetnsRef) {
    this.#ns = validateNetnsRef(ns);
  }

  /** The batch lines, in order, as ip will read them. */
  get commands(): readonly string[] {
    return this.#lines;
  }

  #push(tokens: readonly string[] | null): this {
    if (tokens === null) return this;
    // The builders validated names and addresses; this guards the line syntax itself.
    for (const t of tokens) validateToken('batch token', t);
    this.#lines.push(tokens.join(' '));
    return this;
  }

  createVeth(spec: VethSpec): this {
    return this.#push(vethAddArgs(spec));
  }

  createBridge(spec: BridgeSpec): this {
    return this.#push(bridgeAddArgs(spec));
  }

  /** Note: with netns + newName, a taken new name leaves the link moved (see setLink); no undo here. */
  linkSet(name: string, changes: LinkChanges): this {
    return this.#push(linkSetArgs(name, changes));
  }

  linkDel(name: string): this {
    return this.#push(linkDelArgs(name));
  }

  addrAdd(dev: string, cidr: string, opts: AddAddressOptions = {}): this {
    return this.#push(addrArgs('add', dev, cidr, opts));
  }

  addrDel(dev: string, cidr: string): this {
    return this.#push(addrArgs('del', dev, cidr));
  }

  addrFlush(dev: string): this {
    return this.#push(addrFlushArgs(dev));
  }

  routeAdd(spec: RouteSpec): this {
    return this.#push(routeArgs('add', spec));
  }

  routeDel(spec: RouteSpec): this {
    return this.#push(routeArgs('del', spec));
  }

  routeReplace(spec: RouteSpec): this {
    return this.#push(routeArgs('replace', spec));
  }

  neighReplace(n: PermanentNeighbour): this {
    return this.#push(neighReplaceArgs(n));
  }

  neighDel(dst: string, dev: string): this {
    return this.#push(neighDelArgs(dst, dev));
  }

  /** Runs every command in one process (none for an empty batch); throws on the first failure. */
  async run(): Promise<void> {
    if (this.#lines.length === 0) return;
    const argv = ipArgv(this.#ns, ['-batch', '-']);
    const r = await spawnCounted(argv, { input: `${this.#lines.join('\n')}\n` });
    if (r.exitCode !== 0) throw batchFailed(argv, this.#lines, r.stderr, r.exitCode);
  }
}

// Builds the error naming the failing command; exported for unit tests of the stderr parsing.
export function batchFailed(
  argv: readonly string[],
  lines: readonly string[],
  stderr: string,
  exitCode: number,
): IpError {
  const out = stderr.split('\n').map((l) => l.trim());
  const marker = out.findIndex((l) => /^Command failed -:\d+$/.test(l));
  let index: number | undefined;
  let detail: string;
  if (marker >= 0) {
    index = Number(out[marker]!.slice('Command failed -:'.length)) - 1;
    detail =
      out
        .slice(0, marker)
        .filter((l) => l !== '')
        .pop() ?? '';
  } else {
    detail = out.find((l) => l !== '') ?? '';
    const quoted = /"([^"]*)"/.exec(detail)?.[1];
    const holders = quoted === undefined ? [] : lines.flatMap((l, i) => (l.split(' ').includes(quoted) ? [i] : []));
    if (holders.length === 1) index = holders[0];
  }
  const command = index === undefined ? undefined : lines[index];
  const where = command === undefined ? '' : ` at command ${index! + 1} of ${lines.length} (${command})`;
  return new IpError(classifyStderr(detail), `${argv.join(' ')} failed${where}: ${detail || `exit code ${exitCode}`}`, {
    argv,
    stderr,
    exitCode,
    batchIndex: command === undefined ? undefined : index,
    batchCommand: command,
  });
}

// One process for many changes in ns; see IpBatch.
export function batch(ns?: NetnsRef): IpBatch {
  return new IpBatch(ns);
}
