import t from 'tap';
import {
  createBridge,
  createVeth,
  deleteLink,
  findLinkByMac,
  getLink,
  ipCalls,
  isNotFound,
  listLinks,
  onIpCall,
  setLink,
} from '../../src/netlink/index.js';
import { makeNetns, needsRoot, netnsHolder, netnsName, withNetns } from '../helpers/netns.js';

t.test('create, list and get links', { skip: needsRoot }, async (t) => {
  const ns = await withNetns(t);
  await createBridge({ name: 'br0', mtu: 1400, mac: '02:00:00:00:0a:01' }, ns);
  const links = await listLinks(ns);
  t.same(links.map((l) => l.name).sort(), ['br0', 'lo']);
  const br = await getLink('br0', ns);
  t.match(br, { name: 'br0', mtu: 1400, mac: '02:00:00:00:0a:01', up: false, operstate: 'DOWN' });
  t.equal(br?.kind, undefined, 'no -d, no kind');
  t.equal((await getLink('br0', ns, { details: true }))?.kind, 'bridge');
  t.equal(await getLink('nope', ns), null);
  const lo = links.find((l) => l.name === 'lo');
  t.match(lo, { ifindex: 1, flags: ['LOOPBACK'] });
});

t.test('veth with its peer created directly in another netns', { skip: needsRoot }, async (t) => {
  const [a, b] = await makeNetns(t, 2);
  await createVeth(
    {
      name: 'veth0',
      peerName: 'ecs-eth0',
      peerNetns: b,
      mtu: 9000,
      mac: '02:00:00:00:0b:01',
      peerMac: '02:00:00:00:0b:02',
    },
    a,
  );
  t.equal(await getLink('ecs-eth0', a), null, 'peer is not in the creating netns');
  const host = await getLink('veth0', a, { details: true });
  const task = await getLink('ecs-eth0', b, { details: true });
  t.match(host, { kind: 'veth', mtu: 9000, mac: '02:00:00:00:0b:01' });
  t.match(task, { kind: 'veth', mtu: 9000, mac: '02:00:00:00:0b:02' });
  t.equal(host?.peerIfindex, task?.ifindex, 'host side points at the task side');
  t.equal(task?.peerIfindex, host?.ifindex, 'and back');
  t.type(host?.peerNetnsId, 'number');

  await createVeth({ name: 'p0', peerName: 'p1' }, a);
  const [p0, p1] = [
    (await listLinks(a)).find((l) => l.name === 'p0'),
    (await listLinks(a)).find((l) => l.name === 'p1'),
  ];
  t.equal(p0?.peerName, 'p1', 'same-netns peer comes by name');
  t.equal(p0?.peerIfindex, p1?.ifindex, 'listLinks resolves it to an index');

  await deleteLink('veth0', a);
  t.equal(await getLink('ecs-eth0', b), null, 'deleting one end removes the peer');
});

t.test('bridge and master', { skip: needsRoot }, async (t) => {
  const ns = await withNetns(t);
  await createBridge({ name: 'br0' }, ns);
  await createVeth({ name: 'v0', peerName: 'v1' }, ns);
  await setLink('v0', { master: 'br0', up: true }, ns);
  t.match(await getLink('v0', ns), { master: 'br0', up: true });
  await setLink('v0', { master: null }, ns);
  t.equal((await getLink('v0', ns))?.master, undefined, 'nomaster');
  await t.rejects(setLink('v0', { master: 'nobridge' }, ns), { name: 'IpError', kind: 'not-found' });
});

t.test('set up/down, MTU, MAC and alias in one process', { skip: needsRoot }, async (t) => {
  const ns = await withNetns(t);
  await createVeth({ name: 'v0', peerName: 'v1' }, ns);
  const before = ipCalls();
  await setLink('v0', { up: true, mtu: 1300, mac: '02:AA:00:00:00:01', alias: 'task-1' }, ns);
  t.equal(ipCalls() - before, 1, 'one ip process');
  t.match(await getLink('v0', ns), { up: true, mtu: 1300, mac: '02:aa:00:00:00:01', alias: 'task-1' });
  await setLink('v0', { up: false }, ns);
  t.match(await getLink('v0', ns), { up: false, operstate: 'DOWN' });
  const idle = ipCalls();
  await setLink('v0', {}, ns);
  t.equal(ipCalls(), idle, 'no change, no process');
  await t.rejects(setLink('v0', { mtu: 70000 }, ns), { name: 'IpError', kind: 'invalid' });
});

t.test('find a link by MAC, case-insensitively', { skip: needsRoot }, async (t) => {
  const ns = await withNetns(t);
  await createVeth({ name: 'eni0', peerName: 'vpc0', mac: '0a:1b:2c:3d:4e:5f' }, ns);
  t.equal((await findLinkByMac('0A:1B:2C:3D:4E:5F', ns))?.name, 'eni0');
  t.equal((await findLinkByMac('0a:1b:2c:3d:4e:5f', ns, { details: true }))?.kind, 'veth');
  t.equal(await findLinkByMac('02:00:00:00:00:99', ns), null);
});

t.test('move to another netns and rename in one call', { skip: needsRoot }, async (t) => {
  const [host, task] = await makeNetns(t, 2);
  await createVeth({ name: 'eni1', peerName: 'vpc1', mac: '02:00:00:00:0c:01' }, host);
  const before = ipCalls();
  await setLink('eni1', { netns: task, newName: 'eth0', mtu: 1400, up: true }, host);
  t.equal(ipCalls() - before, 1, 'one ip process');
  t.equal(await getLink('eni1', host), null, 'gone from the host');
  t.match(await getLink('eth0', task), { mac: '02:00:00:00:0c:01', mtu: 1400, up: true });

  // and back, to the host under its old name (the ENI DEL path), this time by netns path
  await setLink('eth0', { netns: `/var/run/netns/${host}`, newName: 'eni1' }, task);
  t.match(await getLink('eni1', host), { mac: '02:00:00:00:0c:01' });
});

t.test('move + rename onto a taken name: exists, and the link stays where it was', { skip: needsRoot }, async (t) => {
  const [host, task] = await makeNetns(t, 2);
  await createBridge({ name: 'eth0' }, task);
  await createVeth({ name: 'eni2', peerName: 'vpc2', mac: '02:00:00:00:0d:01' }, host);

  // The kernel moves the link first and renames after, so ip fails only once the link is in
  // `task` as eni2; setLink sends it back.
  const seen: string[] = [];
  const unhook = onIpCall((argv) => {
    seen.push(argv.join(' '));
  });
  const e = await setLink('eni2', { netns: task, newName: 'eth0' }, host).catch((e: unknown) => e);
  unhook();
  t.match(e, { name: 'IpError', kind: 'exists' });
  t.same(
    seen,
    [
      `ip -n ${host} link set dev eni2 netns ${task} name eth0`,
      `ip -n ${host} -j link show dev eni2`,
      `ip -n ${task} link set dev eni2 netns ${host}`,
    ],
    'failed, looked, moved back',
  );
  t.match(await getLink('eni2', host), { mac: '02:00:00:00:0d:01' }, 'still in the host netns');
  t.equal(await getLink('eni2', task), null, 'not left behind in the target');
  t.equal((await getLink('eth0', task, { details: true }))?.kind, 'bridge', 'the existing eth0 is untouched');

  // When both names are taken in the target, the kernel refuses before moving anything.
  await createBridge({ name: 'eni2' }, task);
  await t.rejects(setLink('eni2', { netns: task, newName: 'eth0' }, host), { name: 'IpError', kind: 'exists' });
  t.match(await getLink('eni2', host), { mac: '02:00:00:00:0d:01' });
  t.equal((await getLink('eni2', task, { details: true }))?.kind, 'bridge');
});

t.test('netns given as a path: /proc/PID/ns/net and /var/run/netns/NAME', { skip: needsRoot }, async (t) => {
  const [a, b] = await makeNetns(t, 2);
  const procPath = await netnsHolder(t, b);
  await createVeth({ name: 'h0', peerName: 't0', peerNetns: procPath }, `/var/run/netns/${a}`);
  t.ok(await getLink('t0', b), 'peer created in the netns behind /proc/PID/ns/net');
  await setLink('h0', { netns: procPath, newName: 'h9' }, a);
  t.same((await listLinks(procPath)).map((l) => l.name).sort(), ['h9', 'lo', 't0']);
});

t.test('typed failures: exists, not-found, no-netns', { skip: needsRoot }, async (t) => {
  const ns = await withNetns(t);
  await createBridge({ name: 'br0' }, ns);
  await t.rejects(createBridge({ name: 'br0' }, ns), {
    name: 'IpError',
    kind: 'exists',
    message: /^ip -n tn-[\w-]+ link add name br0 type bridge failed: RTNETLINK answers: File exists$/,
  });
  await t.rejects(createVeth({ name: 'br0', peerName: 'x1' }, ns), { name: 'IpError', kind: 'exists' });
  const gone = await deleteLink('nope', ns).catch((e: unknown) => e);
  t.match(gone, { kind: 'not-found', exitCode: 1, stderr: /Cannot find device "nope"/ });
  t.ok(isNotFound(gone));
  await t.rejects(setLink('nope', { up: true }, ns), { name: 'IpError', kind: 'not-found' });

  const missing = netnsName();
  const argv = ['ip', '-n', missing, '-j', 'link', 'show'];
  await t.rejects(listLinks(missing), { name: 'IpError', kind: 'no-netns', argv });
  await t.rejects(
    getLink('lo', missing),
    { name: 'IpError', kind: 'no-netns' },
    'getLink returns null only for a missing link',
  );
  await t.rejects(listLinks(`/var/run/netns/${missing}`), { name: 'IpError', kind: 'no-netns' });
  await t.rejects(listLinks('/etc/hostname'), { name: 'IpError', kind: 'no-netns' }, 'a file that is not a netns');
  await t.rejects(setLink('br0', { netns: missing }, ns), { name: 'IpError', kind: 'no-netns' });
  t.ok(isNotFound(await deleteLink('x', missing).catch((e: unknown) => e)), 'DEL in a gone netns counts as done');
});
