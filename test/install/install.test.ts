// `tasknet install` / `tasknet uninstall` in temp dirs: the launchers run the bundles with an
// absolute node, a second install changes nothing, files that are not ours are refused (and
// named) unless --force, and uninstall removes exactly what install wrote.
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import t from 'tap';
import { findPlugin, ownPluginName } from '../../src/cni/delegate.js';
import { tempDir } from '../cni/temp.js';
import { installInto, ROOT, tasknet } from './helpers.js';

const PLUGINS = ['ecs-eni', 'ecs-bridge', 'ecs-ipam'];
const MANIFEST = '.tasknet-install.json';
const mode = (path: string): number => statSync(path).mode & 0o7777;
const manifestPaths = (binDir: string): string[] =>
  (JSON.parse(readFileSync(join(binDir, MANIFEST), 'utf8')) as { files: { path: string }[] }).files
    .map((f) => f.path)
    .sort();

t.test('install writes marked launchers that run this build with an absolute node', async (t) => {
  const dir = tempDir(t, 'tasknet-install-');
  const binDir = join(dir, 'opt/cni/bin');
  const confDir = join(dir, 'etc/cni/net.d');
  const r = await installInto(binDir, confDir);
  t.same(r.stdout.split('\n').sort(), PLUGINS.map((p) => `created ${join(binDir, p)}`).sort());
  for (const plugin of PLUGINS) {
    const file = join(binDir, plugin);
    t.equal(mode(file), 0o755, `${plugin} is 0755`);
    t.equal(ownPluginName(file), plugin, `${plugin} carries the marker ecs-bridge looks for`);
    const text = readFileSync(file, 'utf8');
    t.match(
      text,
      `exec '${process.execPath}' '${join(ROOT, 'dist', `${plugin}.cjs`)}' "$@"`,
      'absolute node and bundle',
    );
    t.match(text, /^unset NODE_EXTRA_CA_CERTS$/m);
  }
  t.same(manifestPaths(binDir), PLUGINS.map((p) => join(binDir, p)).sort(), 'the manifest lists the three launchers');
  t.equal(mode(join(binDir, MANIFEST)), 0o644);
  t.notOk(existsSync(confDir) && readdirSync(confDir).length > 0, 'no conflist unless asked for');

  // A CNI runtime's environment: no node on PATH, and a CA file that node would otherwise parse
  // (and warn about, as it does not exist) before running any code.
  const env = { PATH: '/nonexistent', NODE_EXTRA_CA_CERTS: join(dir, 'no-such-ca.pem'), CNI_COMMAND: 'VERSION' };
  const version = await execa(join(binDir, 'ecs-bridge'), [], { env, extendEnv: false, input: '{}', reject: false });
  t.equal(version.exitCode, 0, version.stderr);
  t.equal(version.stderr, '', 'NODE_EXTRA_CA_CERTS never reached node');
  t.match(JSON.parse(version.stdout), {
    cniVersion: '1.1.0',
    supportedVersions: ['0.1.0', '0.2.0', '0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'],
  });
  const caps = await execa(join(binDir, 'ecs-eni'), ['--capabilities'], {
    env: { PATH: '/nonexistent' },
    extendEnv: false,
    reject: false,
  });
  t.same(JSON.parse(caps.stdout), { capabilities: ['awsvpc-network-mode'] }, 'arguments reach the plugin');

  // Path lookup as ecs-bridge does it for its IPAM: the file found is recognised as ours, so
  // ecs-ipam runs in-process rather than as a second node start.
  const found = findPlugin('ecs-ipam', [join(dir, 'elsewhere'), binDir]);
  t.equal(found, join(binDir, 'ecs-ipam'));
  t.equal(ownPluginName(found), 'ecs-ipam');
});

t.test('a second install changes nothing; a conflist is checked, written 0644 and recorded', async (t) => {
  const dir = tempDir(t, 'tasknet-install-');
  const binDir = join(dir, 'bin');
  const confDir = join(dir, 'net.d');
  await installInto(binDir, confDir);
  const before = PLUGINS.map((p) => statSync(join(binDir, p)));
  const again = await installInto(binDir, confDir);
  t.same(again.stdout.split('\n').sort(), PLUGINS.map((p) => `unchanged ${join(binDir, p)}`).sort());
  PLUGINS.forEach((p, i) => {
    const now = statSync(join(binDir, p));
    t.equal(now.ino, before[i]!.ino, `${p} not rewritten`);
    t.equal(now.mtimeMs, before[i]!.mtimeMs);
  });

  chmodSync(join(binDir, 'ecs-eni'), 0o700);
  const fixed = await installInto(binDir, confDir, '--conflist', 'tasknet-pod');
  t.match(fixed.stdout, `replaced ${join(binDir, 'ecs-eni')}`, 'a changed mode is put back');
  t.equal(mode(join(binDir, 'ecs-eni')), 0o755);
  const conflist = join(confDir, 'tasknet-pod.conflist');
  t.match(fixed.stdout, `created ${conflist}`);
  t.equal(readFileSync(conflist, 'utf8'), readFileSync(join(ROOT, 'examples/cni/tasknet-pod.conflist'), 'utf8'));
  t.equal(mode(conflist), 0o644);
  t.same(manifestPaths(binDir), [...PLUGINS.map((p) => join(binDir, p)), conflist].sort());

  // Without --conflist the conflist stays installed and recorded.
  const third = await installInto(binDir, confDir);
  t.notMatch(third.stdout, /created|replaced/);
  t.ok(manifestPaths(binDir).includes(conflist));
  t.same(readdirSync(confDir), ['tasknet-pod.conflist'], 'no temp files left behind');
  t.same(readdirSync(binDir).sort(), [MANIFEST, ...PLUGINS].sort());
});

t.test('files that are not ours are refused by name, and replaced only with --force', async (t) => {
  const dir = tempDir(t, 'tasknet-install-');
  const binDir = join(dir, 'bin');
  const confDir = join(dir, 'net.d');
  mkdirSync(binDir);
  writeFileSync(join(binDir, 'ecs-bridge'), '#!/bin/sh\necho upstream ecs-bridge\n', { mode: 0o755 });
  const refused = await tasknet(['install', '--cni-bin-dir', binDir, '--cni-conf-dir', confDir]);
  t.equal(refused.code, 1);
  t.equal(
    refused.stderr,
    `tasknet install: refusing to install: ${join(binDir, 'ecs-bridge')} exists and is not tasknet's (${join(binDir, MANIFEST)} does not list it); use --force to replace it`,
  );
  t.same(readdirSync(binDir), ['ecs-bridge'], 'a refused install writes nothing');
  t.notOk(existsSync(confDir));

  const forced = await installInto(binDir, confDir, '--force');
  t.match(forced.stdout, `replaced ${join(binDir, 'ecs-bridge')}`);
  t.equal(ownPluginName(join(binDir, 'ecs-bridge')), 'ecs-bridge');

  // Our own file, edited since: no longer ours.
  writeFileSync(join(binDir, 'ecs-ipam'), `${readFileSync(join(binDir, 'ecs-ipam'), 'utf8')}# local edit\n`);
  const changed = await tasknet(['install', '--cni-bin-dir', binDir, '--cni-conf-dir', confDir]);
  t.equal(changed.code, 1);
  t.match(
    changed.stderr,
    `${join(binDir, 'ecs-ipam')} was changed since tasknet installed it; use --force to replace it`,
  );

  // A symlink is never followed or taken for ours; a conflist of the same name neither.
  const other = join(dir, 'bin2');
  mkdirSync(other);
  symlinkSync('/bin/true', join(other, 'ecs-eni'));
  mkdirSync(join(dir, 'net2'));
  writeFileSync(join(dir, 'net2', 'tasknet-pod.conflist'), '{"name":"mine"}');
  const both = await tasknet([
    'install',
    '--cni-bin-dir',
    other,
    '--cni-conf-dir',
    join(dir, 'net2'),
    '--conflist',
    'tasknet-pod',
  ]);
  t.equal(both.code, 1);
  t.match(both.stderr, `${join(other, 'ecs-eni')} is a symlink, not a file tasknet installed`);
  t.match(both.stderr, `${join(dir, 'net2', 'tasknet-pod.conflist')} exists and is not tasknet's`);
  t.equal(readFileSync(join(dir, 'net2', 'tasknet-pod.conflist'), 'utf8'), '{"name":"mine"}');
});

t.test('uninstall removes exactly what install wrote', async (t) => {
  const dir = tempDir(t, 'tasknet-install-');
  const binDir = join(dir, 'opt/cni/bin');
  const confDir = join(dir, 'etc/cni/net.d');
  await installInto(
    binDir,
    confDir,
    '--conflist',
    'tasknet-pod',
    '--conflist',
    join(ROOT, 'examples/cni/awsvpc-eni.conflist'),
  );
  writeFileSync(join(binDir, 'bridge'), "someone else's plugin", { mode: 0o755 });
  writeFileSync(join(confDir, '10-containerd-net.conflist'), '{}');

  const r = await tasknet(['uninstall', '--cni-bin-dir', binDir]);
  t.equal(r.code, 0, r.stderr);
  t.same(
    r.stdout.split('\n').sort(),
    [
      ...PLUGINS.map((p) => `removed ${join(binDir, p)}`),
      `removed ${join(confDir, 'tasknet-pod.conflist')}`,
      `removed ${join(confDir, 'awsvpc-eni.conflist')}`,
      `removed ${join(binDir, MANIFEST)}`,
    ].sort(),
  );
  t.same(readdirSync(binDir), ['bridge'], 'foreign plugin left alone');
  t.same(readdirSync(confDir), ['10-containerd-net.conflist'], 'foreign conflist left alone');

  const again = await tasknet(['uninstall', '--cni-bin-dir', binDir]);
  t.equal(again.code, 0);
  t.equal(again.stdout, `nothing to remove: ${join(binDir, MANIFEST)} does not exist`);
});

t.test('uninstall keeps a changed file unless --force, and removes directories it made', async (t) => {
  const dir = tempDir(t, 'tasknet-install-');
  const binDir = join(dir, 'opt/cni/bin');
  const confDir = join(dir, 'etc/cni/net.d');
  await installInto(binDir, confDir, '--conflist', 'tasknet-pod');
  const conflist = join(confDir, 'tasknet-pod.conflist');
  writeFileSync(conflist, readFileSync(conflist, 'utf8').replace('tasknet0', 'mybr0'));

  const kept = await tasknet(['uninstall', '--cni-bin-dir', binDir]);
  t.equal(kept.code, 1, 'a file had to stay');
  t.match(
    kept.stdout,
    `kept ${conflist} (${conflist} was changed since tasknet installed it; use --force to remove it)`,
  );
  t.notOk(existsSync(join(binDir, 'ecs-eni')));
  t.same(manifestPaths(binDir), [conflist], 'the manifest still lists what stayed');

  const forced = await tasknet(['uninstall', '--cni-bin-dir', binDir, '--force']);
  t.equal(forced.code, 0, forced.stderr);
  t.match(forced.stdout, `removed ${conflist}`);
  t.notOk(existsSync(join(dir, 'opt')), 'directories install created are gone');
  t.notOk(existsSync(join(dir, 'etc')));
});

t.test('bad input: an invalid conflist, an unknown example, an unknown option', async (t) => {
  const dir = tempDir(t, 'tasknet-install-');
  const bad = join(dir, 'bad.conflist');
  writeFileSync(
    bad,
    JSON.stringify({
      cniVersion: '1.0.0',
      name: 'bad',
      plugins: [{ type: 'ecs-bridge', bridge: 'a-bridge-name-too-long' }],
    }),
  );
  const invalid = await tasknet([
    'install',
    '--cni-bin-dir',
    join(dir, 'bin'),
    '--cni-conf-dir',
    join(dir, 'net.d'),
    '--conflist',
    bad,
  ]);
  t.equal(invalid.code, 1);
  t.match(
    invalid.stderr,
    `conflist ${bad} is invalid: plugins[0] (ecs-bridge): invalid bridge "a-bridge-name-too-long"`,
  );
  t.notOk(existsSync(join(dir, 'bin')), 'nothing written');

  const unknown = await tasknet(['install', '--cni-bin-dir', join(dir, 'bin'), '--conflist', 'nope']);
  t.equal(unknown.code, 2);
  t.match(unknown.stderr, /no example conflist "nope": known are .*tasknet-pod/);

  const same = await tasknet(['install', '--cni-bin-dir', join(dir, 'cni'), '--cni-conf-dir', join(dir, 'cni')]);
  t.equal(same.code, 2);
  t.match(same.stderr, 'must differ');

  const option = await tasknet(['uninstall', '--cni-conf-dir', dir]);
  t.equal(option.code, 2);
  t.match(option.stderr, /Unknown option '--cni-conf-dir'/);
  const help = await tasknet(['install', '--help']);
  t.equal(help.code, 0);
  t.match(help.stdout, /^usage: tasknet install/);
});
