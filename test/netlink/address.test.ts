import t from 'tap';
import {
  addAddress,
  createVeth,
  deleteAddress,
  flushAddresses,
  listAddresses,
  listRoutes,
  setLink,
} from '../../src/netlink/index.js';
import { needsRoot, withNetns } from '../helpers/netns.js';

t.test('add, list and delete v4 and v6 addresses', { skip: needsRoot }, async (t) => {
  const ns = await withNetns(t);
  await createVeth({ name: 'eth0', peerName: 'gw0' }, ns);
  await setLink('eth0', { up: true }, ns);
  await addAddress('eth0', '10.0.1.5/24', ns);
  await addAddress('eth0', 'fd00:1::5/64', ns, { noDad: true });
  await addAddress('gw0', '10.0.1.1/24', ns);

  const mine = await listAddresses({ dev: 'eth0' }, ns);
  t.match(
    mine.find((a) => a.family === 4),
    {
      dev: 'eth0',
      family: 4,
      address: '10.0.1.5',
      prefixLen: 24,
      cidr: '10.0.1.5/24',
      scope: 'global',
      label: 'eth0',
    },
  );
  t.match(
    mine.find((a) => a.address === 'fd00:1::5'),
    { family: 6, prefixLen: 64, scope: 'global', flags: ['nodad'] },
  );
  t.same((await listAddresses({ family: 4 }, ns)).map((a) => a.cidr).sort(), ['10.0.1.1/24', '10.0.1.5/24']);
  t.ok((await listAddresses({ family: 6 }, ns)).every((a) => a.family === 6));

  await t.rejects(addAddress('eth0', '10.0.1.5/24', ns), { name: 'IpError', kind: 'exists' });
  await t.rejects(addAddress('eth0', 'fd00:1::5/64', ns), { name: 'IpError', kind: 'exists' });
  await deleteAddress('eth0', '10.0.1.5/24', ns);
  await deleteAddress('eth0', 'fd00:1::5/64', ns);
  await t.rejects(deleteAddress('eth0', '10.0.1.5/24', ns), { name: 'IpError', kind: 'not-found' });
  await t.rejects(deleteAddress('eth0', 'fd00:1::5/64', ns), { name: 'IpError', kind: 'not-found' });
  t.notOk((await listAddresses({ dev: 'eth0' }, ns)).some((a) => a.scope === 'global'));
});

t.test('noprefixroute leaves out the connected-subnet route', { skip: needsRoot }, async (t) => {
  const ns = await withNetns(t);
  await createVeth({ name: 'eth0', peerName: 'gw0' }, ns);
  await setLink('eth0', { up: true }, ns);
  await addAddress('eth0', '10.0.4.5/24', ns, { noPrefixRoute: true });
  await addAddress('eth0', 'fd00:4::5/64', ns, { noPrefixRoute: true, noDad: true });
  t.match(await listAddresses({ dev: 'eth0', family: 4 }, ns), [{ cidr: '10.0.4.5/24', flags: ['noprefixroute'] }]);
  const routes = await listRoutes({ dev: 'eth0' }, ns);
  t.notOk(
    routes.some((r) => r.dst === '10.0.4.0/24' || r.dst === 'fd00:4::/64'),
    'no subnet routes',
  );
});

t.test('flush removes every address of one link only', { skip: needsRoot }, async (t) => {
  const ns = await withNetns(t);
  await createVeth({ name: 'eth0', peerName: 'gw0' }, ns);
  await addAddress('eth0', '10.0.2.5/24', ns);
  await addAddress('eth0', '10.0.3.5/24', ns);
  await addAddress('gw0', '10.0.2.1/24', ns);
  await flushAddresses('eth0', ns);
  t.same(await listAddresses({ dev: 'eth0' }, ns), []);
  t.equal((await listAddresses({ dev: 'gw0' }, ns)).length, 1);
});

t.test('addresses on a missing link are not-found', { skip: needsRoot }, async (t) => {
  const ns = await withNetns(t);
  await t.rejects(addAddress('nope', '10.0.0.1/24', ns), { name: 'IpError', kind: 'not-found' });
  await t.rejects(deleteAddress('nope', '10.0.0.1/24', ns), { name: 'IpError', kind: 'not-found' });
  await t.rejects(flushAddresses('nope', ns), { name: 'IpError', kind: 'not-found' });
  await t.rejects(listAddresses({ dev: 'nope' }, ns), { name: 'IpError', kind: 'not-found' });
});
