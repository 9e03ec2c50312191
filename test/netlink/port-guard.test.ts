// The pieces that pin a bridge port to one MAC and an address to that MAC: static sticky FDB
// entries, the port's learning/locked flags, permanent neighbour entries. Checked by reading the
// kernel back, and by traffic: a locked port passes only the MAC it was given.
import { execFileSync, spawnSync } from 'node:child_process';
import t from 'tap';
import {
  batch,
  createBridge,
  createVeth,
  deleteNeighbour,
  ipCalls,
  IpError,
  isNotFound,
  listNeighbours,
  replacePermanentNeighbour,
  replaceStaticFdb,
  setLink,
} from '../../src/netlink/index.js';
import { needsRoot, withNetns } from '../helpers/netns.js';

const portFlags = (ns: string, dev: string): Record<string, unknown> => {
  const [link] = JSON.parse(
    execFileSync('ip', ['-n', ns, '-j', '-d', 'link', 'show', 'dev', dev], { encoding: 'utf8' }),
  );
  const d = link.linkinfo.info_slave_data;
  return { learning: d.learning, locked: d.locked, isolated: d.isolated };
};
const fdb = (ns: string, dev: string): any[] =>
  JSON.parse(execFileSync('bridge', ['-n', ns, '-j', 'fdb', 'show', 'dev', dev], { encoding: 'utf8' }) || '[]');

// A bridge with 169.254.172.1 and one port whose peer (10.x MAC given) sits in a second netns.
const lab = async (t: Parameters<typeof withNetns>[0]) => {
  const host = await withNetns(t);
  const peer = await withNetns(t);
  await createBridge({ name: 'br0' }, host);
  await createVeth({ name: 'vp0', peerName: 'eth0', peerNetns: peer, peerMac: '02:00:00:00:00:0a' }, host);
  await batch(host)
    .linkSet('vp0', { master: 'br0', up: true })
    .linkSet('br0', { up: true })
    .addrAdd('br0', '169.254.172.1/22')
    .run();
  await batch(peer).linkSet('lo', { up: true }).linkSet('eth0', { up: true }).addrAdd('eth0', '169.254.172.2/22').run();
  return { host, peer };
};

const ping = (ns: string, dst: string): number =>
  spawnSync('ip', ['netns', 'exec', ns, 'ping', '-c1', '-W1', dst], { stdio: 'ignore' }).status ?? -1;

// A ping that is expected to get through, tried until it does (a loaded machine may lose one).
const pingUntil = async (ns: string, dst: string, timeoutMs = 10_000): Promise<number> => {
  const deadline = Date.now() + timeoutMs;
  let status = ping(ns, dst);
  while (status !== 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 200));
    status = ping(ns, dst);
  }
  return status;
};

t.test('static sticky FDB entry, learning off, locked on', { skip: needsRoot }, async (t) => {
  const { host, peer } = await lab(t);
  t.same(portFlags(host, 'vp0'), { learning: true, locked: false, isolated: false }, 'a new port learns and is open');
  await replaceStaticFdb({ mac: '02:00:00:00:00:0A', dev: 'vp0' }, host);
  await setLink('vp0', { bridgePort: { learning: false, locked: true } }, host);
  t.same(portFlags(host, 'vp0'), { learning: false, locked: true, isolated: false });
  const entry = fdb(host, 'vp0').find((e) => e.mac === '02:00:00:00:00:0a');
  t.same(
    { state: entry?.state, flags: entry?.flags, master: entry?.master },
    { state: 'static', flags: ['sticky'], master: 'br0' },
  );
  await replaceStaticFdb({ mac: '02:00:00:00:00:0a', dev: 'vp0' }, host);
  t.equal(fdb(host, 'vp0').filter((e) => e.mac === '02:00:00:00:00:0a').length, 1, 'replace is idempotent');

  t.equal(await pingUntil(peer, '169.254.172.1'), 0, 'the given MAC gets through the locked port');
  execFileSync('ip', ['-n', peer, 'link', 'set', 'eth0', 'address', '02:00:00:00:00:0b']);
  // Neither end may answer from what it learnt of the old MAC: the attack and its control below
  // differ in the lock alone.
  const forget = () => {
    execFileSync('ip', ['-n', host, 'neigh', 'flush', 'dev', 'br0']);
    execFileSync('ip', ['-n', peer, 'neigh', 'flush', 'dev', 'eth0']);
  };
  forget();
  t.not(ping(peer, '169.254.172.1'), 0, 'any other source MAC is dropped');
  t.notOk(
    fdb(host, 'vp0').some((e) => e.mac === '02:00:00:00:00:0b'),
    'and never learnt',
  );
  await setLink('vp0', { bridgePort: { locked: false, learning: true } }, host);
  forget();
  t.equal(await pingUntil(peer, '169.254.172.1'), 0, 'unlocked, the new MAC passes again (the drop was the lock)');

  await t.rejects(replaceStaticFdb({ mac: '02:00:00:00:00:0a', dev: 'nope0' }, host), {
    name: 'IpError',
    kind: 'not-found',
  });
});

t.test('permanent neighbours: pinned against ARP, deleted, not-found', { skip: needsRoot }, async (t) => {
  const { host, peer } = await lab(t);
  await replacePermanentNeighbour({ dst: '169.254.172.2', lladdr: '02:00:00:00:00:0A', dev: 'br0' }, host);
  const pinned = async () =>
    (await listNeighbours({ dev: 'br0', family: 4 }, host)).find((n) => n.dst === '169.254.172.2');
  t.same(await pinned(), {
    dst: '169.254.172.2',
    family: 4,
    dev: 'br0',
    lladdr: '02:00:00:00:00:0a',
    state: ['PERMANENT'],
    router: false,
  });

  // The peer changes its MAC and talks (ARP request with itself as sender): a learnt entry would follow.
  execFileSync('ip', ['-n', peer, 'link', 'set', 'eth0', 'address', '02:00:00:00:00:0b']);
  ping(peer, '169.254.172.1');
  t.equal((await pinned())?.lladdr, '02:00:00:00:00:0a', 'ARP from a new MAC does not move a permanent entry');

  await replacePermanentNeighbour({ dst: '169.254.172.2', lladdr: '02:00:00:00:00:0b', dev: 'br0' }, host);
  t.equal((await pinned())?.lladdr, '02:00:00:00:00:0b', 'replace overwrites');
  await batch(host)
    .neighDel('169.254.172.2', 'br0')
    .neighReplace({ dst: '169.254.172.3', lladdr: '02:00:00:00:00:0c', dev: 'br0' })
    .run();
  t.same(
    (await listNeighbours({ dev: 'br0', family: 4 }, host))
      .filter((n) => n.state.includes('PERMANENT'))
      .map((n) => n.dst),
    ['169.254.172.3'],
    'batch del + replace',
  );
  await deleteNeighbour('169.254.172.3', 'br0', host);
  const gone = await deleteNeighbour('169.254.172.3', 'br0', host).catch((e: unknown) => e);
  t.ok(isNotFound(gone), `deleting a missing entry is not-found: ${(gone as Error).message}`);
});

t.test('bad input is refused before any process starts', async (t) => {
  const before = ipCalls();
  const bad: [string, () => Promise<unknown>][] = [
    ['address', () => replacePermanentNeighbour({ dst: '169.254.172.300', lladdr: '02:00:00:00:00:0a', dev: 'br0' })],
    ['MAC', () => replacePermanentNeighbour({ dst: '169.254.172.2', lladdr: '02:00:00:00:0a', dev: 'br0' })],
    ['device', () => deleteNeighbour('169.254.172.2', 'br0 nud')],
    ['fdb MAC', () => replaceStaticFdb({ mac: 'ff:ff', dev: 'vp0' })],
    ['fdb device', () => replaceStaticFdb({ mac: '02:00:00:00:00:0a', dev: '../x' })],
  ];
  for (const [what, call] of bad) {
    const error = await call().then(
      () => undefined,
      (e: unknown) => e,
    );
    t.ok(error instanceof IpError && error.kind === 'invalid', `${what}: ${(error as Error)?.message}`);
  }
  t.throws(() => batch().neighReplace({ dst: '10.0.0.1', lladdr: 'zz:00:00:00:00:0a', dev: 'br0' }), {
    name: 'IpError',
    kind: 'invalid',
  });
  t.equal(ipCalls(), before, 'nothing spawned');
});
