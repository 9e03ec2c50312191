// Paths that come from input are never trusted: CNI_NETNS that is not a network namespace, a plugin
// type with a path separator, an IPAM dataDir that is relative or leads through a planted symlink,
// symlinks planted where a store file, the CNI result cache or an agent state file will be
// written, and stdin over 1 MiB (refused fast, before parsing).
import { spawn } from 'node:child_process';
import {
  chownSync,
  existsSync,
  lchownSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import t from 'tap';
import { writeJsonAtomic } from '../../src/agent/state/files.js';
import { CniRuntime, parseConflist } from '../../src/cni/runtime.js';
import { runPlugin } from '../../src/cni/skel.js';
import { plugin as ipamPlugin } from '../../src/ipam/plugin.js';
import { isNetnsFile } from '../../src/netlink/index.js';
import { bridgePlugin } from '../../src/plugins/bridge/plugin.js';
import { eniPlugin } from '../../src/plugins/eni/plugin.js';
import { makeNetns, needsRoot } from '../helpers/netns.js';

const BIN = resolve(import.meta.dirname, '../../bin');

const scratch = (t: { teardown(fn: () => unknown): void }): string => {
  const dir = mkdtempSync(join(tmpdir(), 'tasknet-paths-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
};

const ipamConf = (dataDir: unknown, extra: object = {}) =>
  JSON.stringify({
    cniVersion: '1.1.0',
    name: 'paths',
    type: 'ecs-ipam',
    ipam: { type: 'ecs-ipam', 'ipv4-subnet': '169.254.172.0/29', dataDir, ...extra },
  });
const ipamEnv = (command = 'ADD', extra: object = {}) => ({
  CNI_COMMAND: command,
  CNI_CONTAINERID: 'c1',
  CNI_NETNS: '/proc/self/ns/net',
  CNI_IFNAME: 'eth0',
  ...extra,
});
const callIpam = async (stdin: string, env = ipamEnv()) => {
  const out = await runPlugin(ipamPlugin, { env, stdin });
  return { exitCode: out.exitCode, json: out.stdout ? JSON.parse(out.stdout) : undefined };
};

t.test('isNetnsFile: only a network namespace passes', async (t) => {
  const dir = scratch(t);
  writeFileSync(join(dir, 'file'), 'x');
  symlinkSync(join(dir, 'file'), join(dir, 'to-file'));
  symlinkSync('/proc/self/ns/mnt', join(dir, 'to-mnt'));
  symlinkSync('/proc/self/ns/net', join(dir, 'to-net'));
  t.equal(await isNetnsFile('/proc/self/ns/net'), true, '/proc/self/ns/net');
  t.equal(await isNetnsFile(join(dir, 'to-net')), true, 'a symlink to a netns');
  for (const p of [
    '/proc/self/ns/mnt',
    '/proc/self/ns/uts',
    '/proc/self/ns/pid',
    join(dir, 'to-mnt'),
    join(dir, 'file'),
    join(dir, 'to-file'),
    dir,
    '/nonexistent',
  ]) {
    t.equal(await isNetnsFile(p), false, p);
  }
});

t.test('CNI_NETNS that is not a network namespace: code 4, nothing done', { skip: needsRoot }, async (t) => {
  const dir = scratch(t);
  const [host] = await makeNetns(t, 1, 'tpa');
  writeFileSync(join(dir, 'file'), 'x');
  mkdirSync(join(dir, 'dir'));
  symlinkSync(join(dir, 'file'), join(dir, 'link'));
  symlinkSync('/proc/self/ns/mnt', join(dir, 'link-mnt'));
  const bridgeConf = JSON.stringify({
    cniVersion: '1.1.0',
    name: 'paths',
    type: 'ecs-bridge',
    bridge: 'ecs-br-paths',
    ipam: { type: 'ecs-ipam', 'ipv4-subnet': '169.254.172.0/22', dataDir: join(dir, 'store') },
  });
  const eniConf = JSON.stringify({
    cniVersion: '1.1.0',
    name: 'paths',
    type: 'ecs-eni',
    mac: '0e:00:00:00:00:01',
    'ip-addresses': ['10.0.0.5/24'],
  });
  for (const netns of [
    join(dir, 'file'),
    join(dir, 'dir'),
    '/proc/self/ns/mnt',
    join(dir, 'link'),
    join(dir, 'link-mnt'),
    'relative/ns',
  ]) {
    for (const [name, def, conf] of [
      ['ecs-bridge', bridgePlugin({ hostNs: host }), bridgeConf],
      ['ecs-eni', eniPlugin({ hostNs: host }), eniConf],
    ] as const) {
      for (const command of ['ADD', 'CHECK']) {
        const out = await runPlugin(def, {
          env: { CNI_COMMAND: command, CNI_CONTAINERID: 'c1', CNI_NETNS: netns, CNI_IFNAME: 'eth0', CNI_PATH: BIN },
          stdin: conf,
        });
        const json = JSON.parse(out.stdout);
        const expected = command === 'CHECK' && json.code === 7 ? 7 : 4; // CHECK without prevResult may stop at the config first
        t.equal(json.code, expected, `${name} ${command} ${netns}: code ${expected}: ${json.msg}`);
        if (json.code === 4) t.match(json.msg, /CNI_NETNS/, 'the message names CNI_NETNS');
      }
    }
  }
  t.same(
    existsSync(join(dir, 'store')) ? readdirSync(join(dir, 'store'), { recursive: true }) : [],
    [],
    'no address was leased',
  );
});

t.test('a plugin type with a path separator: code 7', async (t) => {
  const dir = scratch(t);
  for (const type of ['/bin/true', '../ecs-ipam', './ecs-ipam', 'sub/ecs-ipam', '..']) {
    const bridge = await runPlugin(bridgePlugin(), {
      env: {
        CNI_COMMAND: 'ADD',
        CNI_CONTAINERID: 'c1',
        CNI_NETNS: '/proc/self/ns/net',
        CNI_IFNAME: 'eth0',
        CNI_PATH: BIN,
      },
      stdin: JSON.stringify({
        cniVersion: '1.1.0',
        name: 'paths',
        type: 'ecs-bridge',
        bridge: 'ecs-br-x',
        ipam: { type, 'ipv4-subnet': '169.254.172.0/22', dataDir: dir },
      }),
    });
    // The netns check comes first for ADD; DEL has no netns to check and reaches the delegate.
    const del = await runPlugin(bridgePlugin(), {
      env: { CNI_COMMAND: 'DEL', CNI_CONTAINERID: 'c1', CNI_IFNAME: 'eth0', CNI_PATH: BIN },
      stdin: JSON.stringify({
        cniVersion: '1.1.0',
        name: 'paths',
        type: 'ecs-bridge',
        bridge: 'ecs-br-x',
        ipam: { type, 'ipv4-subnet': '169.254.172.0/22', dataDir: dir },
      }),
    });
    t.equal(JSON.parse(del.stdout).code, 7, `ipam.type ${type}: code 7 (${JSON.parse(del.stdout).msg})`);
    t.not(bridge.exitCode, 0);
    const runtime = new CniRuntime({ cniPath: [BIN], cacheDir: join(dir, 'cache') });
    const list = parseConflist(JSON.stringify({ cniVersion: '1.1.0', name: 'paths', plugins: [{ type }] }));
    const error = await runtime.add(list, { containerId: 'c1', netns: '/proc/self/ns/net', ifname: 'eth0' }).then(
      () => undefined,
      (e) => e,
    );
    t.equal(error?.code, 7, `conflist type ${type}: code 7`);
  }
});

t.test('ipam.dataDir: relative, with "..", or through a planted symlink: refused', { skip: needsRoot }, async (t) => {
  const dir = scratch(t);
  mkdirSync(join(dir, 'elsewhere'));
  symlinkSync(join(dir, 'elsewhere'), join(dir, 'planted'));
  lchownSync(join(dir, 'planted'), 65534, 65534); // as if a local user had put it there
  for (const [dataDir, why] of [
    ['relative/store', /absolute/],
    [`${dir}/a/../store`, /\.\./],
    [join(dir, 'planted', 'store'), /symbolic link owned by uid 65534/],
  ] as const) {
    const out = await callIpam(ipamConf(dataDir));
    t.not(out.exitCode, 0, `${dataDir} refused`);
    t.match(out.json.msg, why, out.json.msg);
  }
  t.same(readdirSync(join(dir, 'elsewhere')), [], 'nothing written where the symlink points');
  const env = await callIpam(ipamConf(undefined), ipamEnv('ADD', { IPAM_DB_PATH: 'relative' }));
  t.equal(env.json.code, 4, 'a relative IPAM_DB_PATH: code 4');
  // A symlink the store owner made itself (like /var/run -> /run) is fine.
  symlinkSync(join(dir, 'elsewhere'), join(dir, 'own'));
  const own = await callIpam(ipamConf(join(dir, 'own', 'store')));
  t.equal(own.exitCode, 0, 'a symlink of our own on the path is followed');
  t.equal((await callIpam(ipamConf(join(dir, 'own', 'store')), ipamEnv('DEL'))).exitCode, 0);
  // The root itself a symlink, whoever owns it: refused (docs/ipam-store.md).
  symlinkSync(join(dir, 'elsewhere'), join(dir, 'root-link'));
  t.match((await callIpam(ipamConf(join(dir, 'root-link')))).json.msg, /symbolic link/);
  chownSync(join(dir, 'elsewhere'), 0, 0);
});

t.test('a symlink planted where the store writes is never followed', { skip: needsRoot }, async (t) => {
  const dir = scratch(t);
  const target = join(dir, 'target');
  writeFileSync(target, 'precious');
  const store = join(dir, 'store');
  // Open the store once so its directories exist, then plant at the next address and the cursor.
  t.equal((await callIpam(ipamConf(store), ipamEnv('STATUS'))).exitCode, 0);
  const pool = join(store, 'paths', '169.254.172.0_29');
  symlinkSync(target, join(pool, '169.254.172.2'));
  symlinkSync(target, join(pool, 'cursor'));
  const add = await callIpam(ipamConf(store));
  t.equal(add.exitCode, 0, 'ADD works');
  t.not(add.json.ips[0].address, '169.254.172.2/29', 'the planted address name counts as taken');
  t.equal(readFileSync(target, 'utf8'), 'precious', 'the symlink target is untouched');
  t.ok(lstatSync(join(pool, '169.254.172.2')).isSymbolicLink(), 'the planted link is not replaced by an allocation');
  t.equal((await callIpam(ipamConf(store), ipamEnv('DEL'))).exitCode, 0);
  t.equal(
    (await callIpam(JSON.stringify({ ...JSON.parse(ipamConf(store)), 'cni.dev/valid-attachments': [] }), ipamEnv('GC')))
      .exitCode,
    0,
  );
  t.notOk(existsSync(join(pool, '169.254.172.2')), 'GC removes the planted link (unlinked, not followed)');
  t.equal(readFileSync(target, 'utf8'), 'precious');
});

t.test('the CNI result cache and agent state files: planted symlinks are not followed', async (t) => {
  const dir = scratch(t);
  const target = join(dir, 'target');
  writeFileSync(target, 'precious');
  const invoke = async () => ({
    exitCode: 0,
    stdout: JSON.stringify({ cniVersion: '1.1.0', ips: [{ address: '10.0.0.2/24' }] }),
  });
  const runtime = new CniRuntime({ cniPath: [BIN], cacheDir: join(dir, 'cni'), invoke });
  const list = parseConflist(JSON.stringify({ cniVersion: '1.1.0', name: 'net', plugins: [{ type: 'fake' }] }));
  mkdirSync(join(dir, 'cni', 'results'), { recursive: true });
  const entry = join(dir, 'cni', 'results', 'net-c1-eth0');
  symlinkSync(target, `${entry}.tmp-${process.pid}`);
  symlinkSync(target, entry);
  await runtime.add(list, { containerId: 'c1', netns: '/proc/self/ns/net', ifname: 'eth0' });
  t.equal(readFileSync(target, 'utf8'), 'precious', 'neither the temp nor the final cache name was followed');
  t.ok(lstatSync(entry).isFile(), 'the cache entry is a file of its own');
  t.equal(lstatSync(entry).mode & 0o777, 0o600);

  const other = join(dir, 'other');
  mkdirSync(join(dir, 'cni2'));
  symlinkSync(join(dir, 'elsewhere'), join(dir, 'cni2', 'results'));
  mkdirSync(join(dir, 'elsewhere'));
  const planted = new CniRuntime({ cniPath: [BIN], cacheDir: join(dir, 'cni2'), invoke });
  const refused = await planted.add(list, { containerId: 'c1', netns: '/proc/self/ns/net', ifname: 'eth0' }).then(
    () => undefined,
    (e) => e,
  );
  t.match(refused?.message, /not a directory/, 'a results dir that is a symlink is refused');
  t.same(readdirSync(join(dir, 'elsewhere')), [], 'nothing written through it');

  const state = join(dir, 'state');
  mkdirSync(join(state, 'tasks'), { recursive: true, mode: 0o700 });
  mkdirSync(other);
  symlinkSync(other, join(state, 'tasks', 'abc'));
  await t.rejects(
    writeJsonAtomic(join(state, 'tasks', 'abc', 'task.json'), { a: 1 }),
    /symbolic link/,
    'a task dir that is a symlink is refused',
  );
  t.same(readdirSync(other), [], 'nothing written through it');
  t.equal(lstatSync(other).mode & 0o777, 0o755, 'and its mode is unchanged');
  mkdirSync(join(state, 'tasks', 'def'), { mode: 0o700 });
  symlinkSync(target, join(state, 'tasks', 'def', 'task.json'));
  await writeJsonAtomic(join(state, 'tasks', 'def', 'task.json'), { a: 1 });
  t.equal(readFileSync(target, 'utf8'), 'precious', 'a task file that is a symlink is replaced, not followed');
});

t.test('stdin over 1 MiB is refused quickly, before parsing', async (t) => {
  for (const [plugin, mib] of [
    ['ecs-bridge', 2],
    ['ecs-ipam', 64],
    ['ecs-eni', 16],
  ] as const) {
    const started = Date.now();
    const out = await new Promise<{ code: number; stdout: string }>((done) => {
      const child = spawn(join(BIN, plugin), [], {
        env: {
          PATH: process.env.PATH,
          CNI_COMMAND: 'ADD',
          CNI_CONTAINERID: 'c1',
          CNI_NETNS: '/nonexistent',
          CNI_IFNAME: 'eth0',
        },
        stdio: ['pipe', 'pipe', 'ignore'],
      });
      let stdout = '';
      child.stdout.on('data', (d: Buffer) => {
        stdout += d;
      });
      child.on('close', (code) => done({ code: code ?? -1, stdout }));
      child.stdin.on('error', () => {
        /* the plugin stops reading past the limit */
      });
      // Valid JSON up to the end, so only the size can refuse it.
      const body = Buffer.alloc(mib << 20, 0x20);
      body.write('{"cniVersion":"1.1.0","name":"x","pad":"');
      body.write('"}', body.length - 2);
      child.stdin.end(body);
    });
    const ms = Date.now() - started;
    t.equal(out.code, 1, `${plugin}, ${mib} MiB: exit 1`);
    t.equal(JSON.parse(out.stdout).code, 6, `code 6: ${JSON.parse(out.stdout).msg}`);
    t.match(JSON.parse(out.stdout).msg, /larger than the limit of 1048576 bytes/);
    t.ok(ms < 5000, `refused in ${ms} ms`);
  }
});
