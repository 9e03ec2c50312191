import { execFileSync } from 'node:child_process';
import t from 'tap';
import {
  addAddress,
  batch,
  createVeth,
  deleteLink,
  getLink,
  ipCalls,
  IpError,
  listAddresses,
  listRoutes,
  parseLinkWithAddresses,
  setLink,
} from '../../src/netlink/index.js';
import { makeNetns, needsRoot, netnsHolder, withNetns } from '../helpers/netns.js';

t.test('a batch of several changes runs in one process', { skip: needsRoot }, async (t) => {
  const [host, task] = await makeNetns(t, 2);
  const before = ipCalls();
  const b = batch(host)
    .createBridge({ name: 'ecs-br0', mtu: 1500 })
    .linkSet('ecs-br0', { up: true })
    .addrAdd('ecs-br0', '169.254.172.1/22')
    .createVeth({ name: 'veth-t1', peerName: 'ecs-eth0', peerNetns: task })
    .linkSet('veth-t1', { master: 'ecs-br0', up: true })
    .routeAdd({ dst: '10.99.0.0/16', via: '169.254.172.2' })
    .routeAdd({ dst: 'fd00:99::/64', type: 'blackhole' });
  t.equal(b.commands.length, 7);
  t.equal(b.commands[3], `link add name veth-t1 type veth peer name ecs-eth0 netns ${task}`);
  await b.run();
  t.equal(ipCalls() - before, 1, 'one ip process');
  t.match(await getLink('veth-t1', host), { master: 'ecs-br0', up: true });
  t.ok(await getLink('ecs-eth0', task));
  t.match(await listAddresses({ dev: 'ecs-br0' }, host), [{ cidr: '169.254.172.1/22' }]);
  const routes = await listRoutes({}, host);
  t.ok(routes.some((r) => r.dst === '10.99.0.0/16' && r.gateway === '169.254.172.2'));
  t.ok(routes.some((r) => r.dst === 'fd00:99::/64' && r.type === 'blackhole'));

  // and the task side, by path
  const holder = await netnsHolder(t, task);
  await batch(holder)
    .linkSet('ecs-eth0', { up: true })
    .addrAdd('ecs-eth0', '169.254.172.2/22')
    .routeAdd({ dst: '169.254.170.2', via: '169.254.172.1' })
    .run();
  t.match(await listRoutes({ dev: 'ecs-eth0' }, task), [{ dst: '169.254.170.2/32' }, { dst: '169.254.172.0/22' }]);

  const idle = ipCalls();
  await batch(host).run();
  await batch(host).linkSet('ecs-br0', {}).run();
  t.equal(ipCalls(), idle, 'an empty batch spawns nothing');
});

t.test('a failing batch names the failing command and stops there', { skip: needsRoot }, async (t) => {
  const ns = await withNetns(t);
  await createVeth({ name: 'eth0', peerName: 'gw0' }, ns);
  await addAddress('eth0', '10.0.0.5/24', ns);
  const e = await batch(ns)
    .linkSet('eth0', { mtu: 1400 })
    .addrAdd('eth0', '10.0.0.5/24')
    .linkSet('eth0', { mtu: 1300 })
    .run()
    .catch((e: unknown) => e);
  t.ok(e instanceof IpError);
  t.match(e, {
    kind: 'exists',
    batchIndex: 1,
    batchCommand: 'addr add 10.0.0.5/24 dev eth0',
    message:
      /-batch - failed at command 2 of 3 \(addr add 10\.0\.0\.5\/24 dev eth0\): Error: ipv4: Address already assigned\.$/,
  });
  t.equal((await getLink('eth0', ns))?.mtu, 1400, 'commands before it ran, after it did not');

  const parse = await batch(ns)
    .linkSet('eth0', { up: true })
    .linkSet('gw0', { master: 'nobr' })
    .run()
    .catch((e: unknown) => e);
  const command = 'link set dev gw0 master nobr';
  t.match(parse, { kind: 'not-found', batchIndex: 1, batchCommand: command }, 'refused while ip parsed the line');

  await t.rejects(batch(ns).linkDel('nope').run(), { name: 'IpError', kind: 'not-found', batchIndex: 0 });
  await t.rejects(batch('tn-neverexisted').linkDel('x').run(), { name: 'IpError', kind: 'no-netns' });
});

t.test('injection attempts are refused before anything runs', async (t) => {
  const ns = 'tn-never';
  const attempts: Array<[string, () => unknown]> = [
    ['newline in a name', () => batch(ns).linkDel('eth0\nlink del lo')],
    ['space in a name', () => batch(ns).linkSet('a b', { up: true })],
    ['comment in a name', () => batch(ns).linkDel('x#y')],
    ['option as a name', () => batch(ns).linkDel('--all')],
    ['quote in a name', () => batch(ns).linkDel('a"b')],
    ['backslash in a name', () => batch(ns).linkDel('a\\')],
    ['16-byte name', () => batch(ns).linkDel('abcdefghijklmnop')],
    ['space in an address', () => batch(ns).addrAdd('eth0', '10.0.0.1/24 dev lo')],
    ['newline in an address', () => batch(ns).addrAdd('eth0', '10.0.0.1/24\nlink del lo')],
    ['bad prefix', () => batch(ns).addrAdd('eth0', '10.0.0.1/33')],
    ['space in a gateway', () => batch(ns).routeAdd({ dst: 'default', via: '10.0.0.1 dev lo' })],
    ['route dst with a word', () => batch(ns).routeDel({ dst: 'default table all' })],
    ['metric that is not a number', () => batch(ns).routeAdd({ dst: '10.0.0.0/8', metric: Number('1 2') })],
    ['mtu that is not an integer', () => batch(ns).linkSet('eth0', { mtu: 1500.5 })],
    ['mac with a newline', () => batch(ns).linkSet('eth0', { mac: '02:00:00:00:00:01\nlink del lo' })],
    ['alias with a space', () => batch(ns).linkSet('eth0', { alias: 'a b' })],
    ['alias with a comment', () => batch(ns).linkSet('eth0', { alias: 'a#b' })],
    ['master with a newline', () => batch(ns).linkSet('eth0', { master: 'br0\nlink del lo' })],
    ['target netns with a space', () => batch(ns).linkSet('eth0', { netns: 'x y' })],
    ['peer netns path with a newline', () => batch(ns).createVeth({ name: 'a', peerName: 'b', peerNetns: '/x\nlink' })],
    ['batch netns name with a slash', () => batch('a/b')],
    ['batch netns "-all"', () => batch('-all')],
  ];
  const before = ipCalls();
  for (const [what, fn] of attempts) {
    t.throws(fn, { name: 'IpError', kind: 'invalid' }, what);
  }
  // The single-call functions share the same checks (argv cannot be shell-injected, but a token
  // can still be read by ip as a keyword or option).
  await t.rejects(deleteLink('--all', ns), { name: 'IpError', kind: 'invalid' });
  await t.rejects(setLink('eth0', { newName: 'help' + ' me' }, ns), { name: 'IpError', kind: 'invalid' });
  await t.rejects(addAddress('eth0', '10.0.0.1/24', 'bad ns'), { name: 'IpError', kind: 'invalid' });
  await t.rejects(getLink('eth0', 'a/b'), { name: 'IpError', kind: 'invalid' });
  t.equal(ipCalls(), before, 'nothing was spawned');
});

t.test('a bridge port can be isolated on the line after it joins the bridge', { skip: needsRoot }, async (t) => {
  const [host] = await makeNetns(t, 1);
  await batch(host)
    .createBridge({ name: 'br0' })
    .createVeth({ name: 'p1', peerName: 'p1-peer' })
    .linkSet('p1', { master: 'br0', up: true })
    .linkSet('p1', { bridgePort: { isolated: true } })
    .run();
  const [port] = JSON.parse(execFileSync('ip', ['-d', '-j', '-n', host, 'link', 'show', 'p1'], { encoding: 'utf8' }));
  t.equal(port.linkinfo.info_slave_data.isolated, true);
  t.same(batch(host).linkSet('p1', { bridgePort: { isolated: false } }).commands, [
    'link set dev p1 type bridge_slave isolated off',
  ]);
});

t.test(
  'a batch reads between changes: one process, outputs in order, a missing object stops it',
  { skip: needsRoot },
  async (t) => {
    const ns = await withNetns(t);
    await batch(ns).createBridge({ name: 'br0' }).addrAdd('br0', '10.9.0.1/24').run();
    const before = ipCalls();
    const outputs = await batch(ns)
      .createVeth({ name: 'v0', peerName: 'v1' })
      .showLinkWithAddresses('br0')
      .linkSet('v0', { master: 'br0', up: true })
      .showLinkWithAddresses('v0')
      .run();
    t.equal(ipCalls() - before, 1, 'one ip process');
    t.equal(outputs.length, 2, 'one output per read');
    const br = parseLinkWithAddresses(outputs[0]);
    t.match(br, { link: { name: 'br0', kind: 'bridge' }, addresses: [{ cidr: '10.9.0.1/24' }] });
    t.match(
      parseLinkWithAddresses(outputs[1]),
      { link: { name: 'v0', master: 'br0' } },
      'the read after a change sees it',
    );

    // The read of a missing link stops the batch there: the changes before it are done, none after.
    const e = await batch(ns)
      .createVeth({ name: 'v2', peerName: 'v3' })
      .showLinkWithAddresses('nosuch')
      .linkSet('v2', { up: true })
      .run()
      .catch((error: unknown) => error);
    t.type(e, IpError);
    t.match(e, { kind: 'not-found', batchIndex: 1, batchOutputs: [] });
    t.ok(await getLink('v2', ns), 'the change before the read was made');
    t.equal((await getLink('v2', ns))?.up, false, 'the change after it was not');

    // A change failing after a read: the read's output comes with the error.
    const f = await batch(ns)
      .showLinkWithAddresses('v2')
      .linkSet('v2', { master: 'v0' })
      .run()
      .catch((error: unknown) => error);
    t.type(f, IpError);
    t.match(f, { batchIndex: 1 });
    t.match(parseLinkWithAddresses((f as IpError).batchOutputs[0]), { link: { name: 'v2', kind: 'veth' } });
  },
);
