// Several changes to ONE netns in one `ip -batch -` process: a CNI ADD is a handful of changes,
// and a process per change is most of its run time. Each method validates its input at once and
// throws IpError('invalid') before anything runs; run() spawns a single process.
//
// A batch may also read (showLinkWithAddresses): ip then runs with -j -d, prints each read as one
// line of JSON when it gets to it, and run() returns those in order. A read placed before changes
// that depend on what it reads stops the batch when its object is missing, with nothing after it
// done, and says so with the command's index: one process where a read and a batch took two.
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
import { validateIfName, validateToken } from './validate.js';

export class IpBatch {
  readonly #ns: NetnsRef;
  readonly #lines: string[] = [];
  #reads = 0;

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

  /** A read: the link NAME with its details and addresses (`ip -j -d addr show dev NAME`). */
  showLinkWithAddresses(name: string): this {
    this.#reads++;
    return this.#push(['addr', 'show', 'dev', validateIfName(name)]);
  }

  /**
   * Runs every command in one process (none for an empty batch) and returns what the reads
   * printed, in order (parsed JSON, for the caller's schema); throws on the first failure, with
   * the outputs of the reads before it in `batchOutputs`.
   */
  async run(): Promise<unknown[]> {
    if (this.#lines.length === 0) return [];
    const argv = ipArgv(this.#ns, this.#reads > 0 ? ['-j', '-d', '-batch', '-'] : ['-batch', '-']);
    const r = await spawnCounted(argv, { input: `${this.#lines.join('\n')}\n` });
    const outputs = readOutputs(argv, r.stdout);
    if (r.exitCode !== 0) {
      const error = batchFailed(argv, this.#lines, r.stderr, r.exitCode);
      error.batchOutputs = outputs;
      throw error;
    }
    if (outputs.length !== this.#reads) {
      throw new IpError('unknown', `${argv.join(' ')}: ${outputs.length} outputs for ${this.#reads} reads`, { argv });
    }
    return outputs;
  }
}

// With -j every read prints one line of JSON (an array); changes print nothing.
const readOutputs = (argv: readonly string[], stdout: string): unknown[] =>
  stdout
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => {
      try {
        return JSON.parse(line) as unknown;
      } catch (cause) {
        throw new IpError('unknown', `${argv.join(' ')}: output is not JSON: ${line.slice(0, 200)}`, { argv, cause });
      }
    });

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
