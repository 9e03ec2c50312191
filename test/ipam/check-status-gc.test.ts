import { readFileSync, readlinkSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { keyDirName } from '../../src/ipam/store/layout.js';
import { add, dangling, netconf, parsed, problems, run, snapshot, tempDir } from './helpers.js';

const DUAL = { 'ipv6-subnet': '2001:db8::/64' };

t.test('CHECK: the allocation exists and prevResult lists it', async (t) => {
  const dir = tempDir(t);
  const result = parsed(await run('ADD', netconf(dir, DUAL))).json!;
  const ok = await run('CHECK', netconf(dir, DUAL, { extra: { prevResult: result } }));
  t.same(ok, { exitCode: 0, stdout: '' }, 'success prints nothing');

  const upper = { ...result, ips: [{ address: '169.254.172.2/22' }, { address: '2001:DB8:0::2/64' }] };
  t.equal(
    (await run('CHECK', netconf(dir, DUAL, { extra: { prevResult: upper } }))).exitCode,
    0,
    'addresses compared canonically',
  );

  const missing = parsed(await run('CHECK', netconf(dir, DUAL)));
  t.match(missing.json, { code: 7, msg: /required prevResult missing/ });

  const wrong = { ...result, ips: [{ address: '169.254.172.9/22' }, { address: '2001:db8::2/64' }] };
  t.match(parsed(await run('CHECK', netconf(dir, DUAL, { extra: { prevResult: wrong } }))).json, {
    code: 100,
    msg: /key "c1\/eth0" holds 169.254.172.2\/22, but prevResult lists/,
  });

  await run('DEL', netconf(dir, DUAL));
  t.match(parsed(await run('CHECK', netconf(dir, DUAL, { extra: { prevResult: result } }))).json, {
    code: 100,
    msg: 'ecs-ipam CHECK: key "c1/eth0" holds no address in 169.254.172.0/22',
  });

  t.match(
    parsed(
      await run('CHECK', netconf(dir, DUAL, { cniVersion: '0.3.1', extra: { prevResult: result } }), {
        cniVersion: '0.3.1',
      }),
    ).json,
    { code: 1, msg: 'config version does not allow CHECK' },
  );
});

t.test('CHECK with an explicit address wants exactly that address', async (t) => {
  const dir = tempDir(t);
  const result = parsed(await run('ADD', netconf(dir))).json!;
  const fixed = { 'ipv4-address': '169.254.172.77/22' };
  t.match(parsed(await run('CHECK', netconf(dir, fixed, { extra: { prevResult: result } }))).json, {
    code: 100,
    msg: 'ecs-ipam CHECK: key "c1/eth0" holds not 169.254.172.77 in 169.254.172.0/22',
  });
});

t.test('STATUS: ready, exhausted (50), store unusable (50)', async (t) => {
  const dir = tempDir(t);
  const small = { 'ipv4-subnet': '169.254.172.0/30' }; // one usable address: .2
  t.same(await run('STATUS', netconf(dir, small), {}), { exitCode: 0, stdout: '' });
  await add(dir, small);
  t.match(parsed(await run('STATUS', netconf(dir, small))).json, {
    code: 50,
    msg: 'no free address in 169.254.172.0/30 on network ecs: all 1 usable addresses are held',
  });
  t.equal(
    (await run('STATUS', netconf(dir, { ...small, 'ipv4-address': '169.254.172.2/30' }))).exitCode,
    0,
    'a fixed address does not need a free pool',
  );
  t.same(
    await run('STATUS', netconf(tempDir(t)), { env: { CNI_CONTAINERID: '', CNI_IFNAME: '', CNI_NETNS: '' } }),
    { exitCode: 0, stdout: '' },
    'STATUS needs no container variables',
  );

  const file = join(tempDir(t), 'eni-ipam.db');
  writeFileSync(file, 'bolt');
  const onFile = parsed(await run('STATUS', netconf(file)));
  t.match(onFile.json, {
    code: 50,
    msg: /^ecs-ipam store unusable: invalid ipam.dataDir ".*eni-ipam.db": refusing to use .*eni-ipam.db: it is a file, not a directory/,
  });

  const link = join(tempDir(t), 'link');
  symlinkSync('/tmp', link);
  t.match(parsed(await run('STATUS', netconf(link))).json, { code: 50, msg: /it is a symbolic link/ });
  t.match(parsed(await run('STATUS', netconf(dir, {}, { cniVersion: '1.0.0' }))).json, {
    code: 1,
    msg: 'config version does not allow STATUS',
  });
});

const gcConf = (
  dir: string,
  ipam: Record<string, unknown>,
  valid: { containerID: string; ifname: string }[] | undefined,
  key = 'cni.dev/valid-attachments',
) => netconf(dir, ipam, { extra: valid === undefined ? {} : { [key]: valid } });

t.test('GC keeps the valid attachments and frees the rest, in every family', async (t) => {
  for (const key of ['cni.dev/valid-attachments', 'cni.dev/attachments']) {
    const dir = tempDir(t);
    for (const c of ['a', 'b', 'c']) await add(dir, DUAL, { containerId: c });
    const kept = await add(dir, DUAL, { containerId: 'a', ifname: 'eth1' });
    const out = await run(
      'GC',
      gcConf(
        dir,
        DUAL,
        [
          { containerID: 'a', ifname: 'eth0' },
          { containerID: 'a', ifname: 'eth1' },
        ],
        key,
      ),
      { env: { CNI_CONTAINERID: '', CNI_IFNAME: '', CNI_NETNS: '' } },
    );
    t.same(out, { exitCode: 0, stdout: '' }, key);
    const snap = snapshot(join(dir, 'ecs'));
    t.same([...snap.allocations.values()].map((r) => `${r!.containerId}/${r!.ifname}`).sort(), [
      'a/eth0',
      'a/eth0',
      'a/eth1',
      'a/eth1',
    ]);
    t.same(await add(dir, DUAL, { containerId: 'a', ifname: 'eth1' }), kept, 'a kept allocation is intact');
    t.same(problems(snap), []);
    t.same(dangling(snap), []);
    t.same([...snap.index.keys()].map((k) => k.split('-')[0]).sort(), ['a_eth0', 'a_eth1']);
  }
});

t.test('GC matches attachments, not keys: with `id`, the recorded container and ifname count', async (t) => {
  const dir = tempDir(t);
  await add(dir, { id: 'mac-1' }, { containerId: 'pause-1' });
  await add(dir, { id: 'mac-2' }, { containerId: 'pause-2' });
  await run('GC', gcConf(dir, {}, [{ containerID: 'pause-2', ifname: 'eth0' }]));
  t.same(
    [...snapshot(join(dir, 'ecs')).allocations.values()].map((r) => r!.key),
    ['mac-2'],
  );
});

t.test('GC without the key releases everything; an empty list too; a bad list is code 7', async (t) => {
  const dir = tempDir(t);
  await add(dir, {}, { containerId: 'a' });
  await run('GC', gcConf(dir, {}, []));
  t.equal(snapshot(join(dir, 'ecs')).allocations.size, 0, 'empty list: nothing is valid');
  await add(dir, {}, { containerId: 'a' });
  await run('GC', gcConf(dir, {}, undefined));
  t.equal(snapshot(join(dir, 'ecs')).allocations.size, 0, 'no list: libcni DELed every attachment before');
  t.match(
    parsed(await run('GC', netconf(dir, {}, { extra: { 'cni.dev/valid-attachments': [{ containerID: 1 }] } }))).json,
    { code: 7, msg: /^invalid cni.dev\/valid-attachments.0.containerID 1: must be a string/ },
  );
  t.match(parsed(await run('GC', netconf(dir, {}, { cniVersion: '1.0.0' }))).json, {
    code: 1,
    msg: 'config version does not allow GC',
  });
});

t.test(
  'GC sweeps what crashes leave: temp files, dead gates, dangling entries; it restores lost entries',
  async (t) => {
    const dir = tempDir(t);
    await add(dir, {}, { containerId: 'live' });
    await add(dir, {}, { containerId: 'gone' });
    const net = join(dir, 'ecs');
    const pool = join(net, '169.254.172.0_22');
    writeFileSync(join(pool, '.tmp-999999-0-abc'), 'half');
    writeFileSync(join(net, 'keys', '.tmp-999999-1-abc'), '');
    writeFileSync(
      join(net, 'keys', `${keyDirName('x/eth0')}.lock`),
      JSON.stringify({ pid: 999999, start: '1', pidns: readlinkSync('/proc/self/ns/pid'), at: Date.now(), op: 'ADD' }),
    );
    // a dangling entry (crash between intent and claim) and a lost one (manual damage)
    writeFileSync(join(net, 'keys', keyDirName('live/eth0'), '169.254.172.99'), '');
    unlinkSync(join(net, 'keys', keyDirName('gone/eth0'), '169.254.172.3'));
    const before = snapshot(net);
    t.same(problems(before), ['169.254.172.0_22/169.254.172.3: held by gone/eth0 but not in its index']);
    await run(
      'GC',
      gcConf(dir, {}, [
        { containerID: 'live', ifname: 'eth0' },
        { containerID: 'gone', ifname: 'eth0' },
      ]),
    );
    const after = snapshot(net);
    t.same(after.temps, []);
    t.same(after.gates, []);
    t.same(dangling(after), []);
    t.same(problems(after), [], 'the lost entry is back');
    t.equal(after.allocations.size, 2);
  },
);

t.test('GC leaves alone an allocation whose key a live process is working on', async (t) => {
  const dir = tempDir(t);
  await add(dir, {}, { containerId: 'busy' });
  const stat = readFileSync(`/proc/${process.ppid}/stat`, 'latin1');
  const start = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  const gate = join(dir, 'ecs', 'keys', `${keyDirName('busy/eth0')}.lock`);
  writeFileSync(
    gate,
    JSON.stringify({ pid: process.ppid, start, pidns: readlinkSync('/proc/self/ns/pid'), at: Date.now(), op: 'ADD' }),
  );
  await run('GC', gcConf(dir, {}, []));
  t.equal(snapshot(join(dir, 'ecs')).allocations.size, 1, 'kept while gated');
  unlinkSync(gate);
  await run('GC', gcConf(dir, {}, []));
  t.equal(snapshot(join(dir, 'ecs')).allocations.size, 0, 'released once the gate is gone');
});
