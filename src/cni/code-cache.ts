import { closeSync, fstatSync, openSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

// Loading a full bundle (dist/NAME.full.cjs) with V8's code cache. A CNI runtime starts a fresh
// Node per call, and V8 then parses and compiles the 60-400 KB bundle and every function the verb
// runs, each time: ~20 ms of an ecs-bridge ADD (bench/RESULTS.md, section 9). The build runs each
// executable once with a warm-up request and keeps what V8 compiled in dist/NAME.full.cache
// (scripts/build.mjs); a later start hands it to V8, which skips that work.
//
// The cache is used only when it is exactly for this bundle and nobody else could have written it:
// - it holds a copy of the bundle's bytes, compared in full (V8 itself checks only the length);
// - V8 refuses data of another V8 version or other flags (then the bundle compiles as usual);
// - it is owned by root or by whoever runs this, and writable by no one else (bytecode in it runs
//   with the plugin's rights, so it is trusted like the code beside it).
// Anything else (missing, stale, corrupt, unsafe) loads the bundle the ordinary way: a cache can
// make a start faster, never different. TASKNET_NO_CODE_CACHE=1 skips it (to compare).

export const NO_CODE_CACHE_ENV = 'TASKNET_NO_CODE_CACHE';

const MAGIC = 'tasknet-code-cache 1\n';

export const codeCachePath = (bundle: string): string => bundle.replace(/\.cjs$/, '.cache');

// The file: MAGIC, a line with the length of the bundle's bytes and of V8's data, the bundle's
// bytes, V8's data. V8 checks its data's version, flags and length but not its content (a release
// build does not verify the checksum): a file cut short is caught by the lengths, and the build
// writes it whole or not at all (a rename); a flipped bit inside would be as fatal as one in the
// bundle, which sits beside it with the same owner and mode.
const header = (source: Buffer, dataLength: number): Buffer => Buffer.from(`${MAGIC}${source.length} ${dataLength}\n`);

/** What became of the cache for this process's bundle (the debug log's total line shows it). */
export type CodeCacheState = 'used' | 'rejected' | 'stale' | 'unsafe' | 'missing' | 'off' | 'writing';

// Where loadBundle leaves the state for the full bundle's code (a separate copy of this module).
const STATE = Symbol.for('tasknet.code-cache');

export const codeCacheState = (): CodeCacheState | undefined =>
  (globalThis as Record<symbol, unknown>)[STATE] as CodeCacheState | undefined;

// V8's data from a cache file that is safe to use and made from exactly `source`, or why not.
export const readCodeCache = (path: string, source: Buffer): Buffer | Exclude<CodeCacheState, 'used' | 'rejected'> => {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return 'missing';
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile() || (st.uid !== 0 && st.uid !== process.geteuid?.()) || (st.mode & 0o022) !== 0) return 'unsafe';
    const file = readFileSync(fd);
    if (file.toString('latin1', 0, MAGIC.length) !== MAGIC) return 'stale';
    const eol = file.indexOf(10, MAGIC.length);
    const lengths = eol < 0 ? null : /^(\d+) (\d+)$/.exec(file.toString('latin1', MAGIC.length, eol));
    if (!lengths) return 'stale';
    const start = eol + 1;
    const dataStart = start + source.length;
    if (Number(lengths[1]) !== source.length || dataStart + Number(lengths[2]) !== file.length) return 'stale';
    return file.subarray(start, dataStart).equals(source) ? file.subarray(dataStart) : 'stale';
  } catch {
    return 'missing';
  } finally {
    closeSync(fd);
  }
};

// process.getBuiltinModule came with Node 20.16; the bundles are CommonJS, where require is there.
const vm = (): typeof import('node:vm') => process.getBuiltinModule?.('node:vm') ?? require('node:vm');
const nodeModule = (): typeof import('node:module') =>
  process.getBuiltinModule?.('node:module') ?? require('node:module');

// Node's CommonJS wrapper, so the bundle sees the same five names as under require().
const wrap = (source: Buffer): string =>
  `(function (exports, require, module, __filename, __dirname) { ${source.toString()}\n});`;

export interface LoadOptions {
  // Build time only: write the cache for this bundle when the process exits, with everything V8
  // compiled by then (the warm-up request's path).
  writeCache?: boolean;
}

// Runs the bundle as require() would (its own module object, require resolving from its
// directory, listed in require.cache), with the cache when one is valid.
export const loadBundle = (bundle: string, options: LoadOptions = {}): CodeCacheState => {
  // Loaded here, not at the top: the front imports this module, and its VERSION answers need
  // neither (node:fs and node:path are part of Node's own start-up already).
  const { Script } = vm();
  const Module = nodeModule();
  const source = readFileSync(bundle);
  const cachePath = codeCachePath(bundle);
  const found: Buffer | CodeCacheState = options.writeCache
    ? 'writing'
    : process.env[NO_CODE_CACHE_ENV]
      ? 'off'
      : readCodeCache(cachePath, source);
  const cachedData = typeof found === 'string' ? undefined : found;
  const script = new Script(wrap(source), { filename: bundle, cachedData });
  const state: CodeCacheState = typeof found === 'string' ? found : script.cachedDataRejected ? 'rejected' : 'used';
  (globalThis as Record<symbol, unknown>)[STATE] = state;
  if (options.writeCache) {
    process.on('exit', () => {
      const tmp = `${cachePath}.${process.pid}.tmp`;
      const data = script.createCachedData();
      writeFileSync(tmp, Buffer.concat([header(source, data.length), source, data]), { mode: 0o644 });
      renameSync(tmp, cachePath);
    });
  }
  const requireFromBundle = Module.createRequire(bundle);
  const mod = new Module(bundle);
  mod.filename = bundle;
  requireFromBundle.cache[bundle] = mod;
  (script.runInThisContext() as (...args: unknown[]) => void).call(
    mod.exports,
    mod.exports,
    requireFromBundle,
    mod,
    bundle,
    dirname(bundle),
  );
  mod.loaded = true;
  return state;
};
