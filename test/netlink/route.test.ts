import t from 'tap';
import {
  addAddress,
  addRoute,
  createVeth,
  deleteRoute,
  execInNetns,
  listNeighbours,
  listRoutes,
  replaceRoute,
  setLink,
  type Route,
} from '../../src/netlink/index.js';
import { needsRoot, withNetns, type Teardown } from '../helpers/netns.js';

// A task-like netns: eth0 10.0.1.5/24 + fd00:1::5/64, its peer up so routes are not linkdown.
async function taskNetns(t: Teardown): Promise<string> {
  const ns = await withNetns(t);
  await createVeth({ name: 'eth0', peerName: 'gw0' }, ns);
  await setLink('eth0', { up: true }, ns);
  await setLink('gw0', { up: true }, ns);
  await addAddress('eth0', '10.0.1.5/24', ns);
  await addAddress('eth0', 'fd00:1::5/64', ns, { noDad: true });
  return ns;
}

const find = (routes: Route[], dst: string) => routes.find((r) => r.dst === dst);

t.test('routes: via gateway, default, blackhole, host /32, v4 and v6', { skip: needsRoot }, async (t) => {
  const ns = await taskNetns(t);
  await addRoute({ dst: 'default', via: '10.0.1.1' }, ns);
  await addRoute({ dst: 'default', via: 'fd00:1::1', metric: 100 }, ns);
  await addRoute({ dst: '169.254.170.2', via: '10.0.1.1', dev: 'eth0' }, ns);
  await addRoute({ dst: '10.9.0.0/16', via: '10.0.1.1', metric: 50 }, ns);
  await addRoute({ dst: '169.254.169.254/32', type: 'blackhole' }, ns);
  await addRoute({ dst: 'fd00:9::/64', type: 'blackhole' }, ns);
  await addRoute({ dst: '10.8.0.0/16', via: '10.0.1.1', table: 100 }, ns);

  const routes = await listRoutes({}, ns);
  t.match(find(routes, '0.0.0.0/0'), { family: 4, gateway: '10.0.1.1', dev: 'eth0', type: 'unicast', table: 'main' });
  t.match(find(routes, '::/0'), { family: 6, gateway: 'fd00:1::1', dev: 'eth0', metric: 100 });
  t.match(find(routes, '169.254.170.2/32'), { family: 4, gateway: '10.0.1.1', dev: 'eth0' });
  t.match(find(routes, '10.9.0.0/16'), { metric: 50 });
  t.match(find(routes, '10.0.1.0/24'), { protocol: 'kernel', scope: 'link', prefsrc: '10.0.1.5' });
  t.match(find(routes, '169.254.169.254/32'), { family: 4, type: 'blackhole' });
  t.match(find(routes, 'fd00:9::/64'), { family: 6, type: 'blackhole' });
  t.equal(find(routes, '10.8.0.0/16'), undefined, 'other tables are not listed by default');
  t.notOk(
    routes.some((r) => r.table !== 'main'),
    'the local table is filtered out',
  );

  const v4 = await listRoutes({ family: 4 }, ns);
  t.ok(v4.length > 0 && v4.every((r) => r.family === 4));
  t.ok((await listRoutes({ family: 6, dev: 'eth0' }, ns)).every((r) => r.family === 6 && r.dev === 'eth0'));
  t.match(await listRoutes({ table: 100 }, ns), [{ dst: '10.8.0.0/16', table: '100' }]);
  t.match(await listRoutes({ table: 100, family: 4 }, ns), [{ dst: '10.8.0.0/16', table: '100' }]);
  t.ok((await listRoutes({ table: 'all' }, ns)).some((r) => r.table === 'local'));
});

t.test('replace, delete, exists and not-found', { skip: needsRoot }, async (t) => {
  const ns = await taskNetns(t);
  await addRoute({ dst: '169.254.170.2/32', via: '10.0.1.1' }, ns);
  await t.rejects(addRoute({ dst: '169.254.170.2/32', via: '10.0.1.1' }, ns), { name: 'IpError', kind: 'exists' });
  await replaceRoute({ dst: '169.254.170.2/32', via: '10.0.1.2' }, ns);
  t.equal(find(await listRoutes({}, ns), '169.254.170.2/32')?.gateway, '10.0.1.2');
  await replaceRoute({ dst: '169.254.170.2/32', via: '10.0.1.2' }, ns);
  await deleteRoute({ dst: '169.254.170.2/32' }, ns);
  await t.rejects(deleteRoute({ dst: '169.254.170.2/32' }, ns), { name: 'IpError', kind: 'not-found' });
  await t.rejects(deleteRoute({ dst: 'fd00:7::/64' }, ns), { name: 'IpError', kind: 'not-found' });
  await t.rejects(deleteRoute({ dst: '10.7.0.0/16', type: 'blackhole' }, ns), { name: 'IpError', kind: 'not-found' });
  await t.rejects(
    addRoute({ dst: '10.6.0.0/16', via: '10.99.0.1' }, ns),
    { name: 'IpError', kind: 'invalid' },
    'gateway not on a link',
  );
  await addRoute({ dst: '10.6.0.0/16', via: '10.99.0.1', dev: 'eth0', onlink: true }, ns);
  t.match(find(await listRoutes({}, ns), '10.6.0.0/16'), { gateway: '10.99.0.1', flags: ['onlink'] });
  await t.rejects(addRoute({ dst: '10.5.0.0/16', dev: 'nope' }, ns), { name: 'IpError', kind: 'not-found' });
  await t.rejects(listRoutes({ dev: 'nope' }, ns), { name: 'IpError', kind: 'not-found' });
});

t.test('route specs are checked before running', async (t) => {
  await t.rejects(addRoute({ dst: '10.0.0.0/8', via: 'fd00::1' }, 'tn-never'), { name: 'IpError', kind: 'invalid' });
  await t.rejects(addRoute({ dst: '10.0.0.0/8', type: 'blackhole', via: '10.0.0.1' }, 'tn-never'), {
    name: 'IpError',
    kind: 'invalid',
  });
  await t.rejects(addRoute({ dst: '10.0.0.0/8', table: 'all' }, 'tn-never'), { name: 'IpError', kind: 'invalid' });
  await t.rejects(addRoute({ dst: '10.0.0.0/8', type: 'nat' as 'unicast' }, 'tn-never'), {
    name: 'IpError',
    kind: 'invalid',
  });
});

t.test('neighbours', { skip: needsRoot }, async (t) => {
  const ns = await taskNetns(t);
  const r = await execInNetns(ns, 'ip', ['neigh', 'add', '10.0.1.1', 'lladdr', '02:00:00:00:0e:01', 'dev', 'eth0']);
  t.equal(r.exitCode, 0, r.stderr);
  t.match(await listNeighbours({ dev: 'eth0' }, ns), [
    { dst: '10.0.1.1', family: 4, dev: 'eth0', lladdr: '02:00:00:00:0e:01', state: ['PERMANENT'], router: false },
  ]);
  t.same(await listNeighbours({ family: 6 }, ns), []);
});
