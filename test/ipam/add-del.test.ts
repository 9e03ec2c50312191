import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { add, netconf, parsed, problems, run, snapshot, tempDir } from './helpers.js';

const V6 = { 'ipv4-subnet': undefined, 'ipv6-subnet': '2001:db8::/64' };
const SMALL = { 'ipv4-subnet': '169.254.172.0/29' }; // .2-.6 usable: .0 network, .1 gateway, .7 broadcast

t.test('IPv4 only: the IPAM result of 1.1.0', async (t) => {
  const dir = tempDir(t);
  const out = parsed(await run('ADD', netconf(dir, { 'ipv4-routes': [{ dst: '169.254.170.2/32' }] })));
  t.equal(out.exitCode, 0);
  t.same(out.json, {
    cniVersion: '1.1.0',
    ips: [{ address: '169.254.172.2/22', gateway: '169.254.172.1' }],
    routes: [{ dst: '169.254.170.2/32' }],
  });
  t.notOk('interfaces' in out.json!, 'an IPAM result has no interfaces');
});

t.test('IPv6 only: the network address (subnet-router anycast) and the gateway are skipped', async (t) => {
  const dir = tempDir(t);
  t.same(await add(dir, V6), ['2001:db8::2/64']);
  t.same(await add(dir, V6, { containerId: 'c2' }), ['2001:db8::3/64']);
  const small = { 'ipv4-subnet': undefined, 'ipv6-subnet': 'fd00::/126', dataDir: join(dir, 'b') };
  t.same(await add(dir, small, { containerId: 'a' }), ['fd00::2/126']);
  t.same(await add(dir, small, { containerId: 'b' }), ['fd00::3/126']);
  const full = parsed(await run('ADD', netconf(dir, small, { containerId: 'c' }), { containerId: 'c' }));
  t.match(full.json, {
    code: 100,
    msg: 'no free address in fd00::/126 on network ecs: all 2 usable addresses are held',
  });
});

t.test('dual stack: one address per family, IPv4 first, routes of both', async (t) => {
  const dir = tempDir(t);
  const out = parsed(
    await run(
      'ADD',
      netconf(dir, {
        'ipv6-subnet': '2001:db8::/64',
        'ipv4-routes': [{ dst: '169.254.170.2/32' }],
        'ipv6-routes': [{ dst: '::/0', gw: '2001:db8::1' }],
      }),
    ),
  );
  t.same(out.json, {
    cniVersion: '1.1.0',
    ips: [
      { address: '169.254.172.2/22', gateway: '169.254.172.1' },
      { address: '2001:db8::2/64', gateway: '2001:db8::1' },
    ],
    routes: [{ dst: '169.254.170.2/32' }, { dst: '::/0', gw: '2001:db8::1' }],
  });
});

t.test('round robin: a freed address is not handed out again at once; wrap-around; exhaustion', async (t) => {
  const dir = tempDir(t);
  const got: string[] = [];
  for (const c of ['a', 'b', 'c', 'd', 'e']) got.push(...(await add(dir, SMALL, { containerId: c })));
  t.same(got, ['169.254.172.2/29', '169.254.172.3/29', '169.254.172.4/29', '169.254.172.5/29', '169.254.172.6/29']);
  const exhausted = parsed(await run('ADD', netconf(dir, SMALL, { containerId: 'f' }), { containerId: 'f' }));
  t.equal(exhausted.exitCode, 1);
  t.match(exhausted.json, {
    code: 100,
    msg: 'no free address in 169.254.172.0/29 on network ecs: all 5 usable addresses are held',
  });
  t.equal((await run('DEL', netconf(dir, SMALL, { containerId: 'b' }), { containerId: 'b' })).exitCode, 0);
  t.equal((await run('DEL', netconf(dir, SMALL, { containerId: 'd' }), { containerId: 'd' })).exitCode, 0);
  t.same(
    await add(dir, SMALL, { containerId: 'f' }),
    ['169.254.172.3/29'],
    'wraps past broadcast, network and gateway to the oldest free',
  );
  t.same(await add(dir, SMALL, { containerId: 'g' }), ['169.254.172.5/29'], 'then continues from there');
  t.same(problems(snapshot(join(dir, 'ecs'))), []);

  const other = join(dir, 'gw');
  const gw4 = { ...SMALL, 'ipv4-gateway': '169.254.172.4', dataDir: other };
  const seq: string[] = [];
  for (const c of ['a', 'b', 'c', 'd', 'e']) seq.push(...(await add(dir, gw4, { containerId: c })));
  t.same(
    seq,
    ['169.254.172.1/29', '169.254.172.2/29', '169.254.172.3/29', '169.254.172.5/29', '169.254.172.6/29'],
    'a configured gateway is skipped wherever it is; .1 is then an ordinary address',
  );
});

t.test('round robin across DEL: the next ADD continues after the last allocation', async (t) => {
  const dir = tempDir(t);
  for (const c of ['a', 'b', 'c']) await add(dir, {}, { containerId: c });
  await run('DEL', netconf(dir), { containerId: 'b' });
  t.same(await add(dir, {}, { containerId: 'd' }), ['169.254.172.5/22']);
});

t.test('ADD is idempotent per key', async (t) => {
  const dir = tempDir(t);
  const first = await add(dir, { 'ipv6-subnet': '2001:db8::/64' });
  t.same(await add(dir, { 'ipv6-subnet': '2001:db8::/64' }), first, 'same container + ifname: same addresses');
  t.not((await add(dir, {}, { ifname: 'eth1' }))[0], first[0], 'another ifname is another key');

  const id = { id: '0a:1b:2c:3d:4e:5f' };
  const a = await add(dir, id, { containerId: 'pause1' });
  t.same(await add(dir, id, { containerId: 'pause2' }), a, 'with id, the id is the key');
  const record = JSON.parse(readFileSync(join(dir, 'ecs', '169.254.172.0_22', a[0]!.split('/')[0]!), 'utf8')) as Record<
    string,
    string
  >;
  t.match(
    record,
    { key: '0a:1b:2c:3d:4e:5f', containerId: 'pause2', ifname: 'eth0' },
    'the record follows the newest attachment',
  );
});

t.test('explicit address: held by the key, refused for another key', async (t) => {
  const dir = tempDir(t);
  const fixed = { 'ipv4-address': '169.254.172.50/22' };
  t.same(await add(dir, fixed), ['169.254.172.50/22']);
  t.same(await add(dir, fixed), ['169.254.172.50/22'], 'idempotent');
  const taken = parsed(await run('ADD', netconf(dir, fixed, { containerId: 'c2' }), { containerId: 'c2' }));
  t.equal(taken.exitCode, 1);
  t.match(taken.json, {
    code: 100,
    msg: /^ipam.ipv4-address 169.254.172.50 is already held by key "c1\/eth0" \(container c1, interface eth0\)$/,
  });
  t.same(
    await add(dir, {}, { containerId: 'c3' }),
    ['169.254.172.2/22'],
    'an explicit address does not move the cursor',
  );
});

t.test('DEL: idempotent, releases every family, leaves no trace of the key', async (t) => {
  const dir = tempDir(t);
  const ipam = { 'ipv6-subnet': '2001:db8::/64' };
  await add(dir, ipam);
  await add(dir, ipam, { containerId: 'other' });
  for (let i = 0; i < 3; i++) t.equal((await run('DEL', netconf(dir, ipam))).exitCode, 0, `DEL #${i + 1}`);
  t.equal(
    (await run('DEL', netconf(dir, ipam), { containerId: 'never-added' })).exitCode,
    0,
    'DEL of a key never added',
  );
  const snap = snapshot(join(dir, 'ecs'));
  t.same([...snap.allocations.keys()].sort(), ['169.254.172.0_22/169.254.172.3', '2001:db8::_64/2001:db8::3']);
  t.same(
    [...snap.index.keys()].map((k) => k.split('-')[0]),
    ['other_eth0'],
    'the key directory is gone',
  );
  t.same(problems(snap), []);
  t.equal((await run('DEL', netconf(tempDir(t)))).exitCode, 0, 'DEL against a store that does not exist yet');
});

t.test('DEL by explicit address frees it for the same attachment under another key', async (t) => {
  const dir = tempDir(t);
  const fixed = { 'ipv4-address': '169.254.172.50/22' };
  await add(dir, { ...fixed, id: 'old-id' });
  t.equal((await run('DEL', netconf(dir, { ...fixed, id: 'new-id' }))).exitCode, 0);
  t.same([...snapshot(join(dir, 'ecs')).allocations.keys()], [], 'released by address');
  await add(dir, { ...fixed, id: 'old-id' });
  await run('DEL', netconf(dir, { ...fixed, id: 'new-id' }), { containerId: 'someone-else' });
  t.same(
    [...snapshot(join(dir, 'ecs')).allocations.keys()],
    ['169.254.172.0_22/169.254.172.50'],
    "another attachment's address is left alone",
  );
});

t.test('any IPv4 subnet works for DEL by key (upstream only scanned keys starting with "1")', async (t) => {
  const dir = tempDir(t);
  const ipam = { 'ipv4-subnet': '20.0.0.0/24', id: 'task-1' };
  t.same(await add(dir, ipam), ['20.0.0.2/24']);
  await run('DEL', netconf(dir, ipam));
  t.same([...snapshot(join(dir, 'ecs')).allocations.keys()], []);
});

t.test('a changed subnet starts a new pool; DEL still frees the old allocation', async (t) => {
  const dir = tempDir(t);
  await add(dir, {}, { containerId: 'old' });
  const moved = { 'ipv4-subnet': '10.9.0.0/24' };
  t.same(await add(dir, moved, { containerId: 'new' }), ['10.9.0.2/24'], 'the old cursor is not consulted');
  t.equal((await run('DEL', netconf(dir, moved), { containerId: 'old' })).exitCode, 0);
  t.same([...snapshot(join(dir, 'ecs')).allocations.keys()], ['10.9.0.0_24/10.9.0.2']);
});

t.test('a cursor that is garbage or outside the subnet restarts the round', async (t) => {
  const dir = tempDir(t);
  await add(dir, SMALL, { containerId: 'a' });
  const cursor = join(dir, 'ecs', '169.254.172.0_29', 'cursor');
  t.equal(readFileSync(cursor, 'utf8'), '169.254.172.2\n', 'the cursor names the last allocation');
  for (const junk of ['10.0.0.1\n', 'garbage', '', '169.254.172.7']) {
    writeFileSync(cursor, junk);
    const got = await add(dir, SMALL, { containerId: `k${junk.length}` });
    t.equal(got.length, 1, `cursor ${JSON.stringify(junk)}`);
  }
  t.same(problems(snapshot(join(dir, 'ecs'))), []);
});

t.test('dual stack ADD is all or nothing: an exhausted family releases the other', async (t) => {
  const dir = tempDir(t);
  const ipam = { 'ipv6-subnet': 'fd00::/126' };
  await add(dir, ipam, { containerId: 'a' });
  await add(dir, ipam, { containerId: 'b' });
  const out = parsed(await run('ADD', netconf(dir, ipam, { containerId: 'c' }), { containerId: 'c' }));
  t.match(out.json, { code: 100, msg: /no free address in fd00::\/126/ });
  const snap = snapshot(join(dir, 'ecs'));
  t.equal(snap.allocations.size, 4, 'c holds nothing');
  t.notOk(
    [...snap.index.keys()].some((k) => k.startsWith('c_eth0')),
    'and has no index directory',
  );
  t.same(snap.temps, []);
});

const VERSIONS = ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'];

t.test('results in every spec version', async (t) => {
  for (const cniVersion of VERSIONS) {
    const dir = tempDir(t);
    const ipam = { 'ipv6-subnet': '2001:db8::/64', 'ipv4-routes': [{ dst: '169.254.170.2/32' }] };
    const out = parsed(await run('ADD', netconf(dir, ipam, { cniVersion }), { cniVersion }));
    const modern = cniVersion.startsWith('1.');
    t.same(
      out.json,
      {
        cniVersion,
        ips: [
          { ...(modern ? {} : { version: '4' }), address: '169.254.172.2/22', gateway: '169.254.172.1' },
          { ...(modern ? {} : { version: '6' }), address: '2001:db8::2/64', gateway: '2001:db8::1' },
        ],
        routes: [{ dst: '169.254.170.2/32' }],
      },
      cniVersion,
    );
    t.equal((await run('DEL', netconf(dir, ipam, { cniVersion }))).exitCode, 0, `DEL ${cniVersion}`);
  }
  const dir = tempDir(t);
  const legacy = parsed(
    await run('ADD', netconf(dir, { 'ipv4-routes': [{ dst: '169.254.170.2/32' }] }, { cniVersion: '0.2.0' })),
  );
  t.same(
    legacy.json,
    {
      cniVersion: '0.2.0',
      ip4: { ip: '169.254.172.2/22', gateway: '169.254.172.1', routes: [{ dst: '169.254.170.2/32' }] },
    },
    '0.2.0 too',
  );
});
