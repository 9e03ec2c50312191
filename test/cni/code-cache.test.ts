// The full bundles' V8 code cache (src/cni/code-cache.ts): used only when it was made from exactly
// this bundle and nobody else could have written it; any other cache file is ignored and the
// bundle runs the ordinary way, with the same result.
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { codeCachePath, readCodeCache } from '../../src/cni/code-cache.js';
import { REPO, unbuiltExecutables } from './process.js';

const dir = mkdtempSync(join(tmpdir(), 'tasknet-code-cache-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

// A bundle that says what it ran with: its module object, require and a function V8 compiles lazily.
const bundle = join(dir, 'demo.full.cjs');
writeFileSync(
  bundle,
  `const path = require('node:path');
function answer(n) { return n * 6; }
module.exports = { answer: answer(7), file: __filename, dir: __dirname, sep: path.sep, self: require.cache[__filename] === module };
module.exports.beside = require('./beside.cjs').word;
`,
);
// What the bundle requires from its own directory, as tasknet's requires dockerode.
writeFileSync(join(dir, 'beside.cjs'), "exports.word = 'beside';\n");

// Loads the bundle in a fresh process (the cache state is per process) and returns what it saw.
const load = (
  writeCache = false,
  env: Record<string, string> = {},
  nodeArgs: string[] = [],
): { state: string; exports: unknown } => {
  const code = `const { loadBundle } = require(${JSON.stringify(join(REPO, 'src/cni/code-cache.ts'))});
const state = loadBundle(${JSON.stringify(bundle)}, { writeCache: ${writeCache} });
process.stdout.write(JSON.stringify({ state, exports: require.cache[${JSON.stringify(bundle)}].exports }));`;
  const r = spawnSync(process.execPath, [...nodeArgs, '--import=tsx', '-e', code], {
    encoding: 'utf8',
    env: { ...process.env, TASKNET_NO_CODE_CACHE: '', ...env },
  });
  if (r.status !== 0) throw new Error(r.stderr);
  return JSON.parse(r.stdout);
};

const expected = { answer: 42, file: bundle, dir, sep: '/', self: true, beside: 'beside' };

t.test('no cache: the bundle runs as under require()', async (t) => {
  t.same(load(), { state: 'missing', exports: expected });
});

t.test('a written cache is used, and changes nothing but the speed', async (t) => {
  t.same(load(true), { state: 'writing', exports: expected });
  const cache = readFileSync(codeCachePath(bundle));
  t.ok(cache.length > readFileSync(bundle).length, 'the cache holds the source and V8 data');
  t.same(load(), { state: 'used', exports: expected });
  t.same(load(false, { TASKNET_NO_CODE_CACHE: '1' }), { state: 'off', exports: expected }, 'the switch turns it off');
});

t.test('a cache for other bytes is stale, even of the same length', async (t) => {
  load(true);
  const source = readFileSync(bundle, 'utf8');
  const same = source.replace('n * 6', 'n * 5');
  t.equal(same.length, source.length);
  writeFileSync(bundle, same);
  t.teardown(() => writeFileSync(bundle, source));
  t.same(
    load(),
    { state: 'stale', exports: { ...expected, answer: 35 } },
    'the edited bundle runs, not the cached one',
  );
  t.equal(readCodeCache(codeCachePath(bundle), Buffer.from(same)), 'stale');
});

t.test('a cache cut short is not used', async (t) => {
  load(true);
  const path = codeCachePath(bundle);
  const cache = readFileSync(path);
  writeFileSync(path, cache.subarray(0, cache.length - 100));
  t.same(load(), { state: 'stale', exports: expected });
  writeFileSync(path, Buffer.concat([cache, Buffer.from('x')]));
  t.same(load(), { state: 'stale', exports: expected }, 'nor one with bytes after it');
});

t.test('V8 refuses data made by another V8 configuration; the bundle still runs', async (t) => {
  load(true, {}, ['--no-lazy']); // other flags: what another Node version looks like to V8
  t.same(load(), { state: 'rejected', exports: expected });
  load(true);
  t.same(load(), { state: 'used', exports: expected }, 'control: made by the same configuration');
});

t.test(
  'a cache others could have written is not used',
  { skip: process.getuid?.() !== 0 && 'needs root' },
  async (t) => {
    load(true);
    const path = codeCachePath(bundle);
    chmodSync(path, 0o664);
    t.equal(load().state, 'unsafe', 'group-writable');
    chmodSync(path, 0o646);
    t.equal(load().state, 'unsafe', 'world-writable');
    chmodSync(path, 0o644);
    t.equal(load().state, 'used', 'control: the same file, writable by its owner only');
    chownSync(path, 65534, 65534);
    t.equal(load().state, 'unsafe', "another user's file");
    chownSync(path, 0, 0);
    t.equal(load().state, 'used', 'control: back to root');
  },
);

t.test(
  'the built executables ship a valid cache for their bundle',
  { skip: unbuiltExecutables().length > 0 && 'run `npm run build` first' },
  async (t) => {
    for (const name of ['ecs-eni', 'ecs-bridge', 'ecs-ipam', 'tasknet']) {
      const full = join(REPO, 'dist', `${name}.full.cjs`);
      const data = readCodeCache(codeCachePath(full), readFileSync(full));
      t.ok(Buffer.isBuffer(data) && data.length > 0, `dist/${name}.full.cache is for dist/${name}.full.cjs`);
    }
    // A copy elsewhere has no cache beside it and still works.
    const copy = join(dir, 'ecs-ipam.full.cjs');
    copyFileSync(join(REPO, 'dist/ecs-ipam.full.cjs'), copy);
    t.equal(readCodeCache(codeCachePath(copy), readFileSync(copy)), 'missing');
  },
);
