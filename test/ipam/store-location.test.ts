import {
  chmodSync,
  chownSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { loadIpamConfig } from '../../src/ipam/config.js';
import { nodeStoreFs, type StoreFs } from '../../src/ipam/store/fs.js';
import { MARKER } from '../../src/ipam/store/location.js';
import { IpamStore } from '../../src/ipam/store/store.js';
import { add, netconf, parsed, run, runBin, tempDir, tree } from './helpers.js';

// docs/ipam-store.md, "Where it lives": network N's store is <dataDir>/N; ecs-ipam uses it only if
// it made it (the .tasknet-ipam marker) and never chmods or writes into a directory it did not make.

const MARKER_TEXT = '{"v":1,"store":"tasknet ecs-ipam"}\n';
const isRoot = process.geteuid?.() === 0;

// A stand-in for /etc: a 0755 directory holding ssl/ (0755, a certificate, a private subdirectory).
const systemDir = (t: Parameters<typeof tempDir>[0]): string => {
  const sys = tempDir(t, { hostname: 'box\n' });
  chmodSync(sys, 0o755);
  mkdirSync(join(sys, 'ssl', 'private'), { recursive: true });
  chmodSync(join(sys, 'ssl'), 0o755);
  chmodSync(join(sys, 'ssl', 'private'), 0o700);
  writeFileSync(join(sys, 'ssl', 'cert.pem'), 'CERT\n', { mode: 0o644 });
  writeFileSync(join(sys, 'ssl', 'private', 'key.pem'), 'KEY\n', { mode: 0o600 });
  return sys;
};

const ssl = { extra: { name: 'ssl' } };

t.test('an existing directory without the marker is refused with code 7 and left exactly as it was', async (t) => {
  const sys = systemDir(t);
  const before = tree(sys);
  const valid = { extra: { ...ssl.extra, 'cni.dev/valid-attachments': [] } };
  const prev = { extra: { ...ssl.extra, prevResult: { cniVersion: '1.1.0', ips: [{ address: '169.254.172.2/22' }] } } };
  for (const [verb, call] of [
    ['ADD', ssl],
    ['DEL', ssl],
    ['CHECK', prev],
    ['GC', valid],
  ] as const) {
    const out = parsed(await run(verb, netconf(sys, {}, call)));
    t.not(out.exitCode, 0, `${verb} fails`);
    t.match(
      out.json,
      {
        code: 7,
        msg:
          `invalid ipam.dataDir ${JSON.stringify(sys)}: refusing to use ${sys}/ssl (the store of network "ssl"): ecs-ipam did not make it: ` +
          `it has no .tasknet-ipam marker, and its mode is 755, not 700. ecs-ipam writes only into a directory it made: ` +
          'set ipam.dataDir (or IPAM_DB_PATH) to a directory of its own, such as /var/lib/tasknet/ipam',
      },
      `${verb}: code 7 naming the field, the path, why, and what to do`,
    );
  }
  t.match(parsed(await run('STATUS', netconf(sys, {}, ssl))).json, {
    code: 50,
    msg: /^ecs-ipam store unusable: invalid ipam.dataDir .*ssl/,
  });
  t.same(tree(sys), before, 'modes, owners, listings and contents unchanged');

  // Once root-only 0700 and with our files written into it (what an earlier tasknet did to it): still not a store.
  chmodSync(join(sys, 'ssl'), 0o700);
  mkdirSync(join(sys, 'ssl', 'keys'), { mode: 0o700 });
  const chmodded = tree(sys);
  t.match(parsed(await run('ADD', netconf(sys, {}, ssl))).json, {
    code: 7,
    msg: /it has no .tasknet-ipam marker, and it holds "cert.pem", which no ecs-ipam store holds/,
  });
  t.same(tree(sys), chmodded, 'left as it was');

  const bin = await runBin('ADD', netconf(sys, {}, ssl)).done;
  t.equal(bin.code, 1, 'bin/ecs-ipam exits 1');
  t.same(Object.keys(JSON.parse(bin.stdout)), ['cniVersion', 'code', 'msg'], 'stdout is the CNI error alone');
  t.notMatch(bin.stdout + bin.stderr, /\n\s+at /, 'no stack trace');
  t.same(tree(sys), chmodded);
});

t.test('control: the same directory with the marker is used, and nothing in it but the store changes', async (t) => {
  const sys = systemDir(t);
  writeFileSync(join(sys, 'ssl', MARKER), MARKER_TEXT, { mode: 0o600 });
  const before = tree(sys);
  t.same(await add(sys, {}, ssl), ['169.254.172.2/22']);
  const after = tree(sys);
  t.same(
    after.filter((e) => !/^\.\/ssl\/(keys|169\.254\.172\.0_22)/.test(e)),
    before,
    'what was there is untouched (ssl/ stays 755)',
  );
  t.ok(
    after.some((e) => e.startsWith('./ssl/169.254.172.0_22/169.254.172.2 600')),
    'the allocation was written into it',
  );
});

t.test('a fresh dataDir: the store makes <dataDir>/<name> itself, marked, and uses it again', async (t) => {
  const dataDir = join(tempDir(t), 'var', 'lib', 'ipam');
  t.same(await add(dataDir), ['169.254.172.2/22']);
  t.same(await add(dataDir, {}, { containerId: 'c2' }), ['169.254.172.3/22']);
  t.same(readdirSync(dataDir), ['ecs'], 'dataDir holds the network directory and nothing else');
  t.equal(readFileSync(join(dataDir, 'ecs', MARKER), 'utf8'), MARKER_TEXT);
  t.equal((statSync(join(dataDir, 'ecs', MARKER)).mode & 0o777).toString(8), '600');
  t.equal((statSync(join(dataDir, 'ecs')).mode & 0o777).toString(8), '700');
  t.equal((statSync(dataDir).mode & 0o777).toString(8), '700', 'a dataDir it made is 0700');
});

t.test('an existing dataDir is never chmodded; the store only adds <dataDir>/<name> to it', async (t) => {
  const sys = systemDir(t);
  const before = tree(sys);
  t.same(await add(sys, {}, { extra: { name: 'tasknet' } }), ['169.254.172.2/22']);
  t.same(
    tree(sys).filter((e) => !e.startsWith('./tasknet')),
    before,
    'dataDir (755) and everything in it unchanged',
  );
  t.same(readdirSync(sys).sort(), ['hostname', 'ssl', 'tasknet'], 'no temp directory left behind');
});

// What tasknet before the marker left: the same layout, all 0700, no marker.
const legacyStore = async (t: Parameters<typeof tempDir>[0]): Promise<string> => {
  const dir = tempDir(t);
  await add(dir, { 'ipv6-subnet': '2001:db8::/64' });
  unlinkSync(join(dir, 'ecs', MARKER));
  return dir;
};

t.test('a store made before the marker (keys/ and subnet directories only, all 0700) is marked and used', async (t) => {
  const dir = await legacyStore(t);
  const before = tree(dir);
  t.same(
    await add(dir, { 'ipv6-subnet': '2001:db8::/64' }),
    ['169.254.172.2/22', '2001:db8::2/64'],
    'the key keeps its addresses',
  );
  t.same(
    tree(dir).filter((e) => !e.startsWith(`./ecs/${MARKER}`)),
    before,
    'only the marker was added',
  );
  t.equal(readFileSync(join(dir, 'ecs', MARKER), 'utf8'), MARKER_TEXT);
});

t.test('an unmarked directory that is not exactly that layout is refused and left as it was', async (t) => {
  const cases: [string, (dir: string) => void, RegExp][] = [
    [
      'a file of someone else in it',
      (dir) => writeFileSync(join(dir, 'ecs', 'notes.txt'), 'mine\n'),
      /it holds "notes.txt", which no ecs-ipam store holds/,
    ],
    ['mode 750', (dir) => chmodSync(join(dir, 'ecs'), 0o750), /its mode is 750, not 700/],
    [
      'a 755 subnet directory',
      (dir) => chmodSync(join(dir, 'ecs', '169.254.172.0_22'), 0o755),
      /its 169.254.172.0_22 is not a directory of mode 700/,
    ],
  ];
  for (const [what, change, why] of cases) {
    const dir = await legacyStore(t);
    change(dir);
    const before = tree(dir);
    t.match(
      parsed(await run('ADD', netconf(dir, { 'ipv6-subnet': '2001:db8::/64' }))).json,
      { code: 7, msg: why },
      what,
    );
    t.same(tree(dir), before, `${what}: unchanged`);
  }
  const empty = tempDir(t);
  mkdirSync(join(empty, 'ecs'), { mode: 0o700 });
  t.match(parsed(await run('ADD', netconf(empty))).json, {
    code: 7,
    msg: /it is empty \(rmdir it if ecs-ipam left it\)/,
  });
  t.same(readdirSync(join(empty, 'ecs')), []);
});

t.test('a marker ecs-ipam did not write is refused', async (t) => {
  const cases: [string, (marker: string) => void, RegExp][] = [
    ['not JSON', (m) => writeFileSync(m, 'hello\n'), /its .tasknet-ipam was not written by ecs-ipam/],
    [
      'a newer format',
      (m) => writeFileSync(m, '{"v":2,"store":"tasknet ecs-ipam"}\n'),
      /made by a newer ecs-ipam \(store format 2; this one knows format 1\)/,
    ],
    ['a symlink', (m) => symlinkSync('/etc/hostname', m), /its .tasknet-ipam is not a regular file \(ELOOP\)/],
  ];
  for (const [what, plant, why] of cases) {
    const dir = tempDir(t);
    mkdirSync(join(dir, 'ecs'), { mode: 0o700 });
    plant(join(dir, 'ecs', MARKER));
    const before = tree(dir);
    t.match(parsed(await run('ADD', netconf(dir))).json, { code: 7, msg: why }, what);
    t.same(tree(dir), before, `${what}: unchanged`);
  }
});

t.test('dataDir and its parents: nobody else may write to them', async (t) => {
  const top = tempDir(t);
  const parent = join(top, 'shared');
  mkdirSync(parent);
  chmodSync(parent, 0o777);
  const out = parsed(await run('ADD', netconf(join(parent, 'store'))));
  t.match(out.json, {
    code: 7,
    msg: `invalid ipam.dataDir "${parent}/store": refusing to use ${parent}/store: others can write to its parent ${parent} (mode 777) and could swap it`,
  });
  t.same(readdirSync(parent), [], 'nothing made');
  chmodSync(parent, 0o1777);
  t.same(await add(join(parent, 'store')), ['169.254.172.2/22'], 'control: a sticky parent like /tmp is fine');

  const open = join(top, 'open');
  mkdirSync(open);
  chmodSync(open, 0o775);
  t.match(parsed(await run('ADD', netconf(open))).json, {
    code: 7,
    msg: `invalid ipam.dataDir "${open}": refusing to use ${open}: others can write to it (mode 775)`,
  });
  t.equal((statSync(open).mode & 0o7777).toString(8), '775', 'not chmodded');
  t.same(readdirSync(open), []);

  writeFileSync(join(top, 'eni-ipam.db'), 'bolt');
  t.match(parsed(await run('ADD', netconf(join(top, 'eni-ipam.db')))).json, {
    code: 7,
    msg: /it is a file, not a directory \(an upstream boltdb file\?\)/,
  });

  if (isRoot) {
    const theirs = join(top, 'theirs');
    mkdirSync(theirs);
    chownSync(theirs, 4242, 4242);
    t.match(parsed(await run('ADD', netconf(join(theirs, 'store')))).json, {
      code: 7,
      msg: `its parent ${theirs} is owned by uid 4242`,
    });
    t.same(readdirSync(theirs), []);
    mkdirSync(join(top, 'net'), { mode: 0o700 });
    mkdirSync(join(top, 'net', 'ecs'), { mode: 0o700 });
    writeFileSync(join(top, 'net', 'ecs', MARKER), MARKER_TEXT);
    chownSync(join(top, 'net', 'ecs'), 4242, 4242);
    t.match(
      parsed(await run('ADD', netconf(join(top, 'net')))).json,
      { code: 7, msg: /ecs \(the store of network "ecs"\): it is owned by uid 4242, not by uid 0/ },
      'a marked directory of another user',
    );
  }
});

t.test('first ADDs at once on a fresh dataDir all succeed and leave only the store', async (t) => {
  const dataDir = join(tempDir(t), 'fresh');
  const conf = netconf(dataDir);
  const adds = await Promise.all(
    Array.from({ length: 8 }, (_, i) => runBin('ADD', conf, { containerId: `first-${i}` }).done),
  );
  t.same(
    adds.filter((r) => r.code !== 0).map((r) => r.stdout),
    [],
    'every ADD succeeded',
  );
  t.equal(
    new Set(adds.map((r) => (JSON.parse(r.stdout) as { ips: { address: string }[] }).ips[0]!.address)).size,
    8,
    '8 distinct addresses',
  );
  t.same(readdirSync(dataDir), ['ecs'], 'no temp directory of a losing ADD is left');
  t.equal(readFileSync(join(dataDir, 'ecs', MARKER), 'utf8'), MARKER_TEXT);
});

// Deterministic: a second ADD opens the store at the worst moment of the first one's making of
// the network directory (its marker being written), then the first one finishes.
t.test('an ADD that arrives while another is making the network directory: both succeed', async (t) => {
  const dataDir = join(tempDir(t), 'fresh');
  const config = loadIpamConfig(JSON.parse(netconf(dataDir)) as { name: string }, {});
  let second: IpamStore | Error | undefined;
  const io: StoreFs = {
    ...nodeStoreFs,
    create: (path, content) => {
      if (second === undefined && path.endsWith(`/${MARKER}`)) {
        try {
          second = IpamStore.open(config);
        } catch (error) {
          second = error as Error;
        }
      }
      nodeStoreFs.create(path, content);
    },
  };
  t.same(await add(dataDir, {}, { containerId: 'first' }, { io }), ['169.254.172.2/22'], 'the first ADD succeeds');
  if (!(second instanceof IpamStore)) return t.fail(`the second ADD failed: ${String(second)}`);
  t.same(
    await second.allocate('second/eth0', { containerId: 'second', ifname: 'eth0' }),
    [0xa9feac03n],
    'so does the second',
  );
  t.same(readdirSync(dataDir), ['ecs'], 'the one that lost the rename removed its temp directory');
  t.same(readdirSync(join(dataDir, 'ecs')).sort(), [MARKER, '169.254.172.0_22', 'keys']);
  t.equal(readFileSync(join(dataDir, 'ecs', MARKER), 'utf8'), MARKER_TEXT);
});
