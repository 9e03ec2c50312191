// What `npm run build` puts in dist/ and what starts it: every executable is a small start-up
// front (dist/NAME.cjs) next to its full bundle (dist/NAME.full.cjs), and both kinds of launcher,
// bin/'s and the ones `tasknet install` writes, start the front.
import { existsSync, mkdtempSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import {
  bundlePath,
  fullBundlePath,
  launcherScript,
  missingBundles,
  PLUGINS,
} from '../../src/agent/install/launcher.js';
import { ownPluginName } from '../../src/cni/delegate.js';
import { BIN, REPO, unbuiltExecutables } from '../cni/process.js';

const EXECUTABLES = [...PLUGINS, 'tasknet'] as const;

t.test('dist/ is built and current (npm run build)', async (t) => {
  t.same(unbuiltExecutables(), []);
});

t.test('bin/ launchers: the env shebang that drops NODE_EXTRA_CA_CERTS, the plugin mark, the front', async (t) => {
  for (const name of EXECUTABLES) {
    const text = readFileSync(join(BIN, name), 'utf8');
    t.equal(text.split('\n')[0], '#!/usr/bin/env -S -u NODE_EXTRA_CA_CERTS node', `${name}: shebang`);
    t.ok((statSync(join(BIN, name)).mode & 0o111) !== 0, `${name}: executable`);
    t.match(text, new RegExp(`^require\\('\\.\\./dist/${name}\\.cjs'\\);$`, 'm'), `${name}: starts dist/${name}.cjs`);
    t.equal(
      ownPluginName(join(BIN, name)),
      name === 'tasknet' ? undefined : name,
      `${name}: plugin mark (read from the first 512 bytes)`,
    );
  }
});

t.test('the launchers `tasknet install` writes start the same front as bin/', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tasknet-launchers-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  for (const plugin of PLUGINS) {
    t.equal(bundlePath(REPO, plugin), join(REPO, 'dist', `${plugin}.cjs`));
    const script = launcherScript(plugin, process.execPath, bundlePath(REPO, plugin), 'a test');
    t.match(script, `exec '${process.execPath}' '${join(REPO, 'dist', `${plugin}.cjs`)}' "$@"`);
    t.match(script, /^unset NODE_EXTRA_CA_CERTS$/m);
    writeFileSync(join(dir, plugin), script);
    t.equal(ownPluginName(join(dir, plugin)), plugin, `${plugin}: plugin mark`);
  }
});

t.test('missingBundles names a missing full bundle too', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'tasknet-root-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  mkdirSync(join(root, 'dist'));
  for (const plugin of PLUGINS) writeFileSync(bundlePath(root, plugin), '');
  t.same(
    missingBundles(root),
    PLUGINS.map((p) => fullBundlePath(root, p)),
  );
  for (const plugin of PLUGINS) writeFileSync(fullBundlePath(root, plugin), '');
  t.same(missingBundles(root), []);
});

t.test('each front is small and loads its own full bundle', async (t) => {
  for (const name of EXECUTABLES) {
    const front = readFileSync(join(REPO, 'dist', `${name}.cjs`), 'utf8');
    t.ok(front.length < 16 * 1024, `${name}: front is ${front.length} bytes`);
    t.match(front, `__dirname+"/${name}.full.cjs"`, `${name}: loads ./${name}.full.cjs`);
    t.ok(existsSync(join(REPO, 'dist', `${name}.full.cache`)), `${name}: the build wrote its code cache`);
    // Under Node 20 a script run from V8 cached data cannot import(): the build refuses it too.
    t.notMatch(readFileSync(join(REPO, 'dist', `${name}.full.cjs`), 'utf8'), /\bimport\(/, `${name}: no import()`);
    t.notMatch(front, /zod|node:child_process/, `${name}: no schema or process code`);
    t.ok(
      statSync(join(REPO, 'dist', `${name}.full.cjs`)).size > 4 * front.length,
      `${name}: the full bundle is the big one`,
    );
  }
});
