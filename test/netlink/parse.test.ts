// ip -j output (captured from iproute2 6.1) to our types, without root.
import t from 'tap';
import { toAddress } from '../../src/netlink/address.js';
import { toLink } from '../../src/netlink/link.js';
import { toRoute } from '../../src/netlink/route.js';

t.test('links', async (t) => {
  const veth = toLink({
    ifindex: 5,
    link_index: 4,
    ifname: 'Z',
    flags: ['BROADCAST', 'MULTICAST', 'UP', 'LOWER_UP'],
    mtu: 1500,
    qdisc: 'noop',
    operstate: 'UP',
    address: '6a:0d:1e:65:f7:89',
    link_netnsid: 0,
    linkinfo: { info_kind: 'veth' },
  });
  t.same(veth, {
    ifindex: 5,
    name: 'Z',
    mtu: 1500,
    operstate: 'UP',
    flags: ['BROADCAST', 'MULTICAST', 'UP', 'LOWER_UP'],
    up: true,
    mac: '6a:0d:1e:65:f7:89',
    kind: 'veth',
    peerIfindex: 4,
    peerNetnsId: 0,
  });
  const port = toLink({
    ifindex: 19,
    link: 'vbp',
    ifname: 'vb',
    flags: ['NO-CARRIER', 'BROADCAST', 'MULTICAST', 'UP', 'M-DOWN'],
    mtu: 1500,
    master: 'br0',
    operstate: 'LOWERLAYERDOWN',
    address: '02:00:00:00:00:01',
    ifalias: 'my-alias',
  });
  t.match(port, { up: true, master: 'br0', alias: 'my-alias', peerName: 'vbp', operstate: 'LOWERLAYERDOWN' });
  t.equal(port.peerIfindex, undefined, 'a same-netns peer comes by name only');
  t.equal(toLink({ ifindex: 1, ifname: 'lo', flags: ['LOOPBACK'], mtu: 65536, operstate: 'DOWN' }).up, false);
});

t.test('addresses', async (t) => {
  t.same(
    toAddress('eth0', 4, {
      family: 'inet6',
      local: 'fd01::1',
      prefixlen: 64,
      scope: 'global',
      nodad: true,
      valid_life_time: 1,
    }),
    {
      dev: 'eth0',
      ifindex: 4,
      family: 6,
      address: 'fd01::1',
      prefixLen: 64,
      cidr: 'fd01::1/64',
      scope: 'global',
      flags: ['nodad'],
    },
  );
  t.match(toAddress('eth0', 4, { family: 'inet', local: '10.1.0.1', prefixlen: 24, scope: 'global', label: 'eth0' }), {
    family: 4,
    cidr: '10.1.0.1/24',
    label: 'eth0',
    flags: [],
  });
  t.equal(toAddress('eth0', 4, { family: 'inet' }), null, 'the empty {} ip prints for a filtered family');
});

t.test('routes: dst normalised, family inferred from a mixed dump', async (t) => {
  t.match(toRoute({ dst: 'default', gateway: '10.1.0.254', dev: 'Xq', flags: ['linkdown'] }), {
    family: 4,
    dst: '0.0.0.0/0',
    gateway: '10.1.0.254',
    type: 'unicast',
    table: 'main',
    flags: ['linkdown'],
  });
  t.match(toRoute({ dst: 'default', gateway: 'fd01::fe', dev: 'Xq', metric: 1024, flags: [], pref: 'medium' }), {
    family: 6,
    dst: '::/0',
    metric: 1024,
  });
  t.match(toRoute({ dst: '169.254.170.2', gateway: '10.1.0.254', dev: 'Xq', flags: [] }), { dst: '169.254.170.2/32' });
  t.match(
    toRoute({
      type: 'local',
      dst: 'fd01::1',
      dev: 'Xq',
      table: 'local',
      protocol: 'kernel',
      metric: 0,
      flags: [],
      pref: 'medium',
    }),
    {
      family: 6,
      dst: 'fd01::1/128',
      type: 'local',
      table: 'local',
      protocol: 'kernel',
    },
  );
  // No gateway and no address in a blackhole default: v6 routes always carry `pref`, v4 never do.
  t.match(toRoute({ type: 'blackhole', dst: 'default', table: '100', flags: [] }), {
    family: 4,
    dst: '0.0.0.0/0',
    table: '100',
  });
  t.match(
    toRoute({ type: 'blackhole', dst: 'default', dev: 'lo', table: '100', metric: 5, flags: [], pref: 'medium' }),
    {
      family: 6,
      dst: '::/0',
    },
  );
  t.match(
    toRoute({ dst: 'default', via: { family: 'inet6', host: 'fe80::1' }, dev: 'eth0', flags: [] }),
    {
      family: 4,
      gateway: 'fe80::1',
    },
    'a v4 route via a v6 next hop stays v4',
  );
  t.match(
    toRoute({ dst: '10.8.0.0/16', gateway: '10.1.0.1', flags: [] }, { family: 4, table: '100', dev: 'eth0' }),
    {
      table: '100',
      dev: 'eth0',
    },
    'what the query fixed is filled in',
  );
});
