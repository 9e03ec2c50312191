import { fstatSync, readSync, writeSync } from 'node:fs';
import { CniError, ErrorCode } from './errors.js';

// A plugin's own stdin and stdout, shared by the skel and the start-up front (front.ts): both
// must read and write exactly the same bytes. Nothing here may import more than errors.ts, or the
// front stops being small.

// Refused before parsing: no runtime sends a network config this large, and JSON.parse of an
// attacker-sized document is the one step whose cost the input controls.
export const MAX_CONFIG_BYTES = 1 << 20;

// Reads stdin synchronously (no stream machinery on the start-up path) and stops one byte past the
// limit, so an oversized config is refused without reading all of it. The outcome, not a throw:
// the front hands it to the full bundle as is (see below).
type PreRead = { bytes: Buffer } | { error: unknown };

const readStdinOutcome = (fd = 0): PreRead => {
  try {
    const stat = fstatSync(fd);
    if (stat.isCharacterDevice()) return { bytes: Buffer.alloc(0) }; // a terminal: nobody is piping a config
  } catch {
    return { bytes: Buffer.alloc(0) };
  }
  const chunks: Buffer[] = [];
  let total = 0;
  const chunk = Buffer.allocUnsafe(64 * 1024);
  for (;;) {
    let n: number;
    try {
      n = readSync(fd, chunk, 0, chunk.length, null);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'EAGAIN') {
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5);
        continue;
      }
      if (code === 'EOF') break;
      return { error };
    }
    if (n === 0) break;
    chunks.push(Buffer.from(chunk.subarray(0, n)));
    total += n;
    if (total > MAX_CONFIG_BYTES) break;
  }
  return { bytes: Buffer.concat(chunks, total) };
};

// A failed read as the CNI error the plugin prints. Made where it is thrown: the front's bundle has
// its own copy of the CniError class, which the full bundle's instanceof would not recognise.
const unwrap = (outcome: PreRead): Buffer => {
  if ('bytes' in outcome) return outcome.bytes;
  throw new CniError(
    ErrorCode.IoFailure,
    `cannot read the network config from stdin: ${(outcome.error as Error).message}`,
  );
};

export const readStdin = (fd = 0): Buffer => unwrap(readStdinOutcome(fd));

// Writes straight to the fd: touching process.stdout on a pipe builds a net.Socket (net, streams,
// diagnostics_channel), a few ms of start-up that `node -e 0` never pays. The answer is one short
// line; a full pipe (EAGAIN, only if someone made it non-blocking) is waited out. `progress` tells
// a caller that catches a failure how many bytes were out before it.
export const writeFd = (fd: number, text: string, progress: { written: number } = { written: 0 }): void => {
  const data = Buffer.from(text);
  while (progress.written < data.length) {
    try {
      progress.written += writeSync(fd, data, progress.written);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EAGAIN') throw error;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1);
    }
  }
};

// The front reads stdin (VERSION needs its cniVersion) and, when it does not answer itself, hands
// what it read to the full bundle in the same process, which cannot read those bytes again. A read
// that failed is handed over as its raw error, so the full path ends exactly as if it had read.
const PRE_READ = Symbol.for('tasknet.stdin.pre-read');
type Holder = { [PRE_READ]?: PreRead };

// Reads stdin and hands the outcome over; the bytes, or undefined if the read failed.
export const readStdinForHandOver = (): Buffer | undefined => {
  const outcome = readStdinOutcome();
  (globalThis as Holder)[PRE_READ] = outcome;
  return 'bytes' in outcome ? outcome.bytes : undefined;
};

// The front's stdin if it read it (once: the hand-over is consumed), else undefined.
export const takeHandedOverStdin = (): Buffer | undefined => {
  const holder = globalThis as Holder;
  const outcome = holder[PRE_READ];
  if (outcome === undefined) return undefined;
  delete holder[PRE_READ];
  return unwrap(outcome);
};
