import {
  chmodSync,
  chownSync,
  lstatSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { nodeStoreFs, type StoreFs } from '../../src/ipam/store/fs.js';
import { keyDirName } from '../../src/ipam/store/layout.js';
import { add, netconf, parsed, problems, run, snapshot, tempDir } from './helpers.js';

const walk = (dir: string): string[] =>
  readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return lstatSync(p).isDirectory() ? [p, ...walk(p)] : [p];
  });

t.test('files are 0600 and directories 0700, whatever the umask', async (t) => {
  const dir = tempDir(t);
  const old = process.umask(0o002);
  try {
    await add(dir, { 'ipv6-subnet': '2001:db8::/64', dataDir: join(dir, 'store') });
  } finally {
    process.umask(old);
  }
  const paths = [join(dir, 'store'), ...walk(join(dir, 'store'))];
  t.ok(paths.length >= 9);
  for (const p of paths) {
    const st = lstatSync(p);
    t.equal((st.mode & 0o777).toString(8), st.isDirectory() ? '700' : '600', p);
  }
});

// Where the store may live at all (dataDir, <dataDir>/<name>) is store-location.test.ts; here,
// what is found inside a store of ours: refused (code 102), never tightened or followed.
t.test('a directory inside the store with a wider mode is refused, not tightened', async (t) => {
  const dir = tempDir(t);
  await add(dir);
  const pool = join(dir, 'ecs', '169.254.172.0_22');
  chmodSync(pool, 0o775);
  t.match(parsed(await run('ADD', netconf(dir), { containerId: 'c2' })).json, {
    code: 102,
    msg: `refusing to use the ecs-ipam store at ${pool}: others can write to it (mode 775)`,
  });
  t.equal((statSync(pool).mode & 0o7777).toString(8), '775', 'its mode is left as it is');

  if (process.geteuid?.() === 0) {
    const foreign = tempDir(t);
    await add(foreign);
    chownSync(join(foreign, 'ecs', 'keys'), 4242, 4242);
    t.match(parsed(await run('ADD', netconf(foreign), { containerId: 'c2' })).json, {
      code: 102,
      msg: /ecs\/keys: it is owned by uid 4242, not by uid 0/,
    });
  }
});

t.test('planted symlinks are refused where the store writes', async (t) => {
  const victim = tempDir(t, { passwd: 'root:x:0:0\n' });
  // The network directory itself: not the store's (code 7, store-location.test.ts has the rest).
  const top = tempDir(t);
  symlinkSync(victim, join(top, 'ecs'));
  t.match(parsed(await run('ADD', netconf(top))).json, {
    code: 7,
    msg: `invalid ipam.dataDir ${JSON.stringify(top)}: refusing to use ${join(top, 'ecs')} (the store of network "ecs"): it is a symbolic link`,
  });
  // Inside a store of ours (made by an ADD and emptied by its DEL), in place of what it would make.
  for (const where of ['ecs/169.254.172.0_22', 'ecs/keys', `ecs/keys/${keyDirName('c1/eth0')}`]) {
    const dir = tempDir(t);
    await add(dir);
    await run('DEL', netconf(dir));
    rmSync(join(dir, where), { recursive: true, force: true });
    symlinkSync(victim, join(dir, where));
    const out = parsed(await run('ADD', netconf(dir)));
    t.match(
      out.json,
      { code: 102, msg: `refusing to use the ecs-ipam store at ${join(dir, where)}: it is a symbolic link` },
      where,
    );
  }
  t.same(readdirSync(victim), ['passwd'], 'nothing was written through them');
});

t.test('a planted symlink at an address or the cursor is never followed', async (t) => {
  const dir = tempDir(t);
  const victim = join(tempDir(t, { target: 'keep me\n' }), 'target');
  await add(dir, {}, { containerId: 'first' });
  const pool = join(dir, 'ecs', '169.254.172.0_22');
  symlinkSync(victim, join(pool, '169.254.172.3'));
  writeFileSync(join(pool, 'cursor'), '169.254.172.2\n');
  t.same(await add(dir, {}, { containerId: 'second' }), ['169.254.172.4/22'], 'the planted name counts as taken');
  t.match(
    parsed(await run('ADD', netconf(dir, { 'ipv4-address': '169.254.172.3/22' }), { containerId: 'third' })).json,
    {
      code: 100,
      msg: /169.254.172.3 is already held by something that is not an allocation \(it is not a regular file \(ELOOP\)\)/,
    },
  );
  symlinkSync(victim, join(pool, 'planted'));
  const cursorLink = join(pool, 'cursor');
  unlinkSync(cursorLink);
  symlinkSync(victim, cursorLink);
  t.same(
    await add(dir, {}, { containerId: 'fourth' }),
    ['169.254.172.5/22'],
    'a symlinked cursor is ignored (the round restarts)...',
  );
  t.notOk(lstatSync(cursorLink).isSymbolicLink(), '...and replaced, not written through');
  t.equal(readFileSync(victim, 'utf8'), 'keep me\n');
  await run('GC', netconf(dir, {}, { extra: { 'cni.dev/valid-attachments': [] } }));
  t.same(readdirSync(pool).sort(), ['cursor', 'planted'], 'GC removes the planted address, never its target');
  t.equal(readFileSync(victim, 'utf8'), 'keep me\n');
});

t.test('IPAM_DB_PATH is the store directory when ipam.dataDir is absent', async (t) => {
  const dir = tempDir(t);
  const out = parsed(await run('ADD', netconf(dir, { dataDir: undefined }), { env: { IPAM_DB_PATH: dir } }));
  t.equal(out.exitCode, 0);
  t.ok(statSync(join(dir, 'ecs', '169.254.172.0_22', '169.254.172.2')).isFile());
});

t.test('I/O failures are code 5 and name the call and the path', async (t) => {
  const dir = tempDir(t);
  const full: StoreFs = {
    ...nodeStoreFs,
    create: () => {
      throw Object.assign(new Error(`ENOSPC: no space left on device, open '${dir}/x'`), { code: 'ENOSPC' });
    },
  };
  t.match(parsed(await run('ADD', netconf(dir), {}, { io: full })).json, {
    code: 5,
    msg: /^ecs-ipam store: ENOSPC: no space left on device, open/,
  });
});

const gateFile = (dir: string, key: string) => join(dir, 'ecs', 'keys', `${keyDirName(key)}.lock`);
const startOf = (pid: number) => {
  const s = readFileSync(`/proc/${pid}/stat`, 'latin1');
  return s.slice(s.lastIndexOf(')') + 2).split(' ')[19];
};

t.test('per-key gates: a dead holder is ignored, a live one waited for, then code 11', async (t) => {
  const dir = tempDir(t);
  await add(dir, {}, { containerId: 'warmup' });
  const pidns = readlinkSync('/proc/self/ns/pid');
  writeFileSync(
    gateFile(dir, 'c1/eth0'),
    JSON.stringify({ pid: 999999, start: '5', pidns, at: Date.now(), op: 'ADD' }),
  );
  t.same(await add(dir), ['169.254.172.3/22'], 'a gate of a dead process is broken at once');
  t.same(snapshot(join(dir, 'ecs')).gates, []);

  writeFileSync(
    gateFile(dir, 'c2/eth0'),
    JSON.stringify({ pid: process.ppid, start: startOf(process.ppid), pidns, at: Date.now(), op: 'DEL' }),
  );
  const t0 = Date.now();
  const busy = parsed(await run('ADD', netconf(dir), { containerId: 'c2' }, { gateWaitMs: 150 }));
  t.match(busy.json, {
    code: 11,
    msg: `ecs-ipam: DEL by pid ${process.ppid} is still working on key "c2/eth0"; try again`,
  });
  t.ok(Date.now() - t0 >= 150, 'it waited first');
  t.equal(
    (await run('ADD', netconf(dir), { containerId: 'c3' }, { gateWaitMs: 150 })).exitCode,
    0,
    'other keys do not wait',
  );

  writeFileSync(
    gateFile(dir, 'c4/eth0'),
    JSON.stringify({ pid: 1, start: '1', pidns: 'pid:[1]', at: Date.now(), op: 'ADD' }),
  );
  t.match(
    parsed(await run('ADD', netconf(dir), { containerId: 'c4' }, { gateWaitMs: 50 })).json,
    { code: 11 },
    'a holder in another pid namespace is trusted while the gate is young',
  );
  writeFileSync(
    gateFile(dir, 'c4/eth0'),
    JSON.stringify({ pid: 1, start: '1', pidns: 'pid:[1]', at: Date.now() - 120_000, op: 'ADD' }),
  );
  t.equal(
    (await run('ADD', netconf(dir), { containerId: 'c4' }, { gateWaitMs: 50 })).exitCode,
    0,
    '...and not after a minute',
  );
  writeFileSync(gateFile(dir, 'c5/eth0'), 'garbage');
  t.equal((await run('ADD', netconf(dir), { containerId: 'c5' })).exitCode, 0, 'an unreadable gate is no gate');
  t.same(problems(snapshot(join(dir, 'ecs'))), []);
});
