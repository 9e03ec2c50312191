import t from 'tap';
import { ErrorCode } from '../../src/cni/errors.js';
import { DEFAULT_DATA_DIR, loadIpamConfig } from '../../src/ipam/config.js';
import { formatIp } from '../../src/ipam/ip.js';
import { expectCniError } from '../helpers/cni.js';
import { parsed, run } from './helpers.js';

const load = (ipam: Record<string, unknown> | undefined, env: Record<string, string> = {}) =>
  loadIpamConfig({ cniVersion: '1.1.0', name: 'ecs', ...(ipam === undefined ? {} : { ipam }) }, env);
const v4 = (extra: Record<string, unknown> = {}) => ({ type: 'ecs-ipam', 'ipv4-subnet': '169.254.172.0/22', ...extra });
const v6 = (extra: Record<string, unknown> = {}) => ({ type: 'ecs-ipam', 'ipv6-subnet': '2001:db8::/64', ...extra });

t.test('defaults: gateway is the first address, store under the default dir', async (t) => {
  const c = load(v4());
  t.equal(c.pools.length, 1);
  t.equal(formatIp(4, c.pools[0]!.gateway), '169.254.172.1');
  t.equal(c.pools[0]!.address, undefined);
  t.same(c.pools[0]!.routes, []);
  t.equal(c.dataDir, DEFAULT_DATA_DIR);
  t.equal(c.id, undefined);
  const d = load(v6());
  t.equal(formatIp(6, d.pools[0]!.gateway), '2001:db8::1');
  const both = load({ ...v4(), ...v6() });
  t.same(
    both.pools.map((p) => p.family),
    [4, 6],
    'IPv4 first',
  );
  t.equal(load(v4({ id: '' })).id, undefined, 'an empty id is no id, as upstream');
  t.equal(load(v4({ id: '0a:1b:2c:3d:4e:5f' })).id, '0a:1b:2c:3d:4e:5f');
});

t.test('store location: ipam.dataDir, else IPAM_DB_PATH, else the default', async (t) => {
  t.equal(load(v4({ dataDir: '/srv/a' }), { IPAM_DB_PATH: '/srv/b' }).dataDir, '/srv/a');
  t.equal(load(v4(), { IPAM_DB_PATH: '/srv/b' }).dataDir, '/srv/b');
  expectCniError(
    t,
    () => load(v4({ dataDir: 'relative/dir' })),
    ErrorCode.InvalidNetworkConfig,
    'invalid ipam.dataDir "relative/dir": must be an absolute path',
  );
  expectCniError(
    t,
    () => load(v4(), { IPAM_DB_PATH: 'eni-ipam.db' }),
    ErrorCode.InvalidEnvironment,
    /IPAM_DB_PATH "eni-ipam.db"/,
  );
});

t.test('explicit addresses, gateways and routes', async (t) => {
  const c = load(
    v4({
      'ipv4-address': '169.254.172.9/22',
      'ipv4-gateway': '169.254.172.7',
      'ipv4-routes': [{ dst: '169.254.170.2/32' }, { dst: '10.0.0.0/8', gw: '169.254.172.7' }],
    }),
  );
  const p = c.pools[0]!;
  t.equal(formatIp(4, p.address!), '169.254.172.9');
  t.equal(formatIp(4, p.gateway), '169.254.172.7');
  t.same(p.routes, [{ dst: '169.254.170.2/32' }, { dst: '10.0.0.0/8', gw: '169.254.172.7' }]);
  t.equal(
    formatIp(4, load(v4({ 'ipv4-address': '169.254.172.9' })).pools[0]!.address!),
    '169.254.172.9',
    'plain address accepted',
  );
  const six = load(
    v6({
      'ipv6-address': '2001:DB8::0:9/64',
      'ipv6-routes': [{ dst: '2001:DB8:1::/48', gw: '2001:db8::1', mtu: 1400 }],
    }),
  );
  t.equal(formatIp(6, six.pools[0]!.address!), '2001:db8::9');
  t.same(
    six.pools[0]!.routes,
    [{ dst: '2001:db8:1::/48', gw: '2001:db8::1', mtu: 1400 }],
    'canonical text, extra route fields kept',
  );
  t.ok(load(v4({ 'ipv4-subnet': '20.0.0.0/30' })), 'any first octet (upstream assumed IPv4 keys start with "1")');
  t.ok(load(v6({ 'ipv6-subnet': '2001:db8::/126' })), '/126 is the longest IPv6 prefix');
  // Next to the ranges refused below: still unicast, still taken.
  t.ok(load(v4({ 'ipv4-subnet': '1.0.0.0/8' })), 'right after 0.0.0.0/8');
  t.ok(load(v4({ 'ipv4-subnet': '223.255.255.0/24' })), 'right before multicast');
  t.ok(load(v4({ 'ipv4-subnet': '240.0.0.0/30' })), 'class E: the kernel routes it');
  t.ok(load(v6({ 'ipv6-subnet': '::2:0/112' })), 'past ::1');
  t.ok(load(v6({ 'ipv6-routes': [{ dst: '::/0', gw: 'fe80::1' }] })), 'a link-local route gateway');
});

// [config, field quoted in the message, why]
const invalid: [string, Record<string, unknown> | undefined, RegExp][] = [
  ['no ipam section', undefined, /^invalid ipam: is required$/],
  ['ipam not an object', 'x' as unknown as Record<string, unknown>, /^invalid ipam "x": must be an? object$/],
  [
    'no subnet at all',
    { type: 'ecs-ipam' },
    /at least one subnet is required \(ipam.ipv4-subnet or ipam.ipv6-subnet\)/,
  ],
  ['subnet not a string', v4({ 'ipv4-subnet': 22 }), /^invalid ipam.ipv4-subnet 22: must be a string$/],
  [
    'subnet without prefix',
    v4({ 'ipv4-subnet': '169.254.172.0' }),
    /^invalid ipam.ipv4-subnet "169.254.172.0": must be an address with a prefix length/,
  ],
  [
    'subnet garbage',
    v4({ 'ipv4-subnet': '169.254.172.0/33' }),
    /^invalid ipam.ipv4-subnet "169.254.172.0\/33": must be an address with a prefix length/,
  ],
  [
    'IPv6 in ipv4-subnet',
    v4({ 'ipv4-subnet': '2001:db8::/64' }),
    /^invalid ipam.ipv4-subnet "2001:db8::\/64": must be an IPv4 subnet/,
  ],
  [
    'IPv4 in ipv6-subnet',
    v6({ 'ipv6-subnet': '10.0.0.0/8' }),
    /^invalid ipam.ipv6-subnet "10.0.0.0\/8": must be an IPv6 subnet/,
  ],
  [
    '/31',
    v4({ 'ipv4-subnet': '10.0.0.0/31' }),
    /^invalid ipam.ipv4-subnet "10.0.0.0\/31": leaves no address to allocate: the longest usable prefix is \/30/,
  ],
  ['/32', v4({ 'ipv4-subnet': '10.0.0.1/32' }), /leaves no address to allocate/],
  [
    '/127',
    v6({ 'ipv6-subnet': '2001:db8::/127' }),
    /^invalid ipam.ipv6-subnet "2001:db8::\/127": leaves no address to allocate: the longest usable prefix is \/126/,
  ],
  [
    'host bits set',
    v4({ 'ipv4-subnet': '169.254.172.5/22' }),
    /^invalid ipam.ipv4-subnet "169.254.172.5\/22": has host bits set: the subnet is 169.254.172.0\/22/,
  ],
  [
    'gateway outside',
    v4({ 'ipv4-gateway': '169.254.176.1' }),
    /^invalid ipam.ipv4-gateway "169.254.176.1": is not within the subnet 169.254.172.0\/22/,
  ],
  [
    'gateway = network',
    v4({ 'ipv4-gateway': '169.254.172.0' }),
    /^invalid ipam.ipv4-gateway "169.254.172.0": is the network address of 169.254.172.0\/22/,
  ],
  [
    'gateway = broadcast',
    v4({ 'ipv4-gateway': '169.254.175.255' }),
    /^invalid ipam.ipv4-gateway "169.254.175.255": is the broadcast address/,
  ],
  [
    'gateway a CIDR',
    v4({ 'ipv4-gateway': '169.254.172.1/22' }),
    /^invalid ipam.ipv4-gateway "169.254.172.1\/22": must be an IP address$/,
  ],
  [
    'gateway wrong family',
    v4({ 'ipv4-gateway': '2001:db8::1' }),
    /^invalid ipam.ipv4-gateway "2001:db8::1": must be an IPv4 address/,
  ],
  [
    'IPv6 gateway = network',
    v6({ 'ipv6-gateway': '2001:db8::' }),
    /^invalid ipam.ipv6-gateway "2001:db8::": is the network address/,
  ],
  [
    'address outside',
    v4({ 'ipv4-address': '10.0.0.1/22' }),
    /^invalid ipam.ipv4-address "10.0.0.1\/22": is not within the subnet 169.254.172.0\/22/,
  ],
  [
    'address = network',
    v4({ 'ipv4-address': '169.254.172.0/22' }),
    /^invalid ipam.ipv4-address "169.254.172.0\/22": is the network address/,
  ],
  ['address = broadcast', v4({ 'ipv4-address': '169.254.175.255/22' }), /is the broadcast address/],
  [
    'address = gateway',
    v4({ 'ipv4-address': '169.254.172.1/22' }),
    /^invalid ipam.ipv4-address "169.254.172.1\/22": is the gateway of 169.254.172.0\/22/,
  ],
  [
    'address prefix differs',
    v4({ 'ipv4-address': '169.254.172.9/24' }),
    /^invalid ipam.ipv4-address "169.254.172.9\/24": has prefix \/24 but the subnet 169.254.172.0\/22 has \/22/,
  ],
  [
    'address garbage',
    v4({ 'ipv4-address': 'ten' }),
    /^invalid ipam.ipv4-address "ten": must be an IP address, with or without a prefix length/,
  ],
  [
    'IPv6 address = network',
    v6({ 'ipv6-address': '2001:db8::/64' }),
    /^invalid ipam.ipv6-address "2001:db8::\/64": is the network address/,
  ],
  ['IPv6 address wrong family', v6({ 'ipv6-address': '10.0.0.1' }), /must be an IPv6 address/],
  [
    'address without subnet',
    v6({ 'ipv4-address': '10.0.0.1/24' }),
    /^invalid ipam.ipv4-address "10.0.0.1\/24": needs ipam.ipv4-subnet$/,
  ],
  [
    'gateway without subnet',
    v4({ 'ipv6-gateway': '2001:db8::1' }),
    /^invalid ipam.ipv6-gateway "2001:db8::1": needs ipam.ipv6-subnet$/,
  ],
  ['routes without subnet', v4({ 'ipv6-routes': [] }), /^invalid ipam.ipv6-routes \[\]: needs ipam.ipv6-subnet$/],
  [
    'routes not an array',
    v4({ 'ipv4-routes': { dst: '0.0.0.0/0' } }),
    /^invalid ipam.ipv4-routes .*: must be an array$/,
  ],
  [
    'route without dst',
    v4({ 'ipv4-routes': [{ gw: '169.254.172.1' }] }),
    /^invalid ipam.ipv4-routes.0.dst: is required$/,
  ],
  [
    'route dst not a CIDR',
    v4({ 'ipv4-routes': [{ dst: '169.254.172.1' }] }),
    /^invalid ipam.ipv4-routes.0.dst "169.254.172.1": must be an address with a prefix length/,
  ],
  [
    'route dst wrong family',
    v4({ 'ipv4-routes': [{ dst: '::/0' }] }),
    /^invalid ipam.ipv4-routes.0.dst "::\/0": must be an IPv4 destination/,
  ],
  [
    'route dst host bits',
    v4({ 'ipv4-routes': [{ dst: '10.1.2.3/8' }] }),
    /^invalid ipam.ipv4-routes.0.dst "10.1.2.3\/8": has host bits set: did you mean 10.0.0.0\/8\?/,
  ],
  [
    'route gw wrong family',
    v4({ 'ipv4-routes': [{ dst: '10.0.0.0/8', gw: 'fe80::1' }] }),
    /^invalid ipam.ipv4-routes.0.gw "fe80::1": must be an IPv4 address/,
  ],
  ['route mtu negative', v4({ 'ipv4-routes': [{ dst: '10.0.0.0/8', mtu: -1 }] }), /^invalid ipam.ipv4-routes.0.mtu -1/],
  ['id not a string', v4({ id: 42 }), /^invalid ipam.id 42: must be a string$/],
  ['id too long', v4({ id: 'x'.repeat(1025) }), /^invalid ipam.id "x+.*: must be at most 1024/],
  ['dataDir not a string', v4({ dataDir: true }), /^invalid ipam.dataDir true: must be a string$/],
  // Subnets and gateways that reached `ip` (issue 15 item 7): refused here, not by the kernel later.
  [
    'IPv4 /0',
    v4({ 'ipv4-subnet': '0.0.0.0/0' }),
    /^invalid ipam.ipv4-subnet "0.0.0.0\/0": is every address \(a default route\), not a subnet$/,
  ],
  ['IPv6 /0', v6({ 'ipv6-subnet': '::/0' }), /^invalid ipam.ipv6-subnet "::\/0": is every address/],
  [
    '"this network"',
    v4({ 'ipv4-subnet': '0.0.0.0/30' }),
    /^invalid ipam.ipv4-subnet "0.0.0.0\/30": overlaps 0.0.0.0\/8 \(unspecified\): a task subnet must be unicast$/,
  ],
  [
    'IPv4 loopback',
    v4({ 'ipv4-subnet': '127.0.0.0/8' }),
    /^invalid ipam.ipv4-subnet "127.0.0.0\/8": overlaps 127.0.0.0\/8 \(loopback\)/,
  ],
  [
    'IPv4 multicast',
    v4({ 'ipv4-subnet': '239.1.0.0/16' }),
    /^invalid ipam.ipv4-subnet "239.1.0.0\/16": overlaps 224.0.0.0\/4 \(multicast\)/,
  ],
  [
    'holding a multicast range',
    v4({ 'ipv4-subnet': '128.0.0.0/1' }),
    /^invalid ipam.ipv4-subnet "128.0.0.0\/1": overlaps 224.0.0.0\/4 \(multicast\)/,
  ],
  [
    'holding the broadcast address',
    v4({ 'ipv4-subnet': '255.255.255.0/24' }),
    /overlaps 255.255.255.255\/32 \(broadcast\)/,
  ],
  [
    'IPv6 unspecified and loopback',
    v6({ 'ipv6-subnet': '::/126' }),
    /^invalid ipam.ipv6-subnet "::\/126": overlaps ::\/128 \(unspecified\)/,
  ],
  ['IPv4-mapped', v6({ 'ipv6-subnet': '::ffff:0:0/120' }), /overlaps ::ffff:0:0\/96 \(IPv4-mapped\)/],
  [
    'IPv6 multicast',
    v6({ 'ipv6-subnet': 'ff02::/64' }),
    /^invalid ipam.ipv6-subnet "ff02::\/64": overlaps ff00::\/8 \(multicast\)/,
  ],
  [
    'route via an unspecified gateway',
    v4({ 'ipv4-routes': [{ dst: '10.0.0.0/8', gw: '0.0.0.0' }] }),
    /^invalid ipam.ipv4-routes.0.gw "0.0.0.0": is in 0.0.0.0\/8 \(unspecified\): a gateway must be unicast$/,
  ],
  [
    'route via loopback',
    v4({ 'ipv4-routes': [{ dst: '10.0.0.0/8', gw: '127.0.0.1' }] }),
    /^invalid ipam.ipv4-routes.0.gw "127.0.0.1": is in 127.0.0.0\/8 \(loopback\)/,
  ],
  [
    'route via multicast',
    v4({ 'ipv4-routes': [{ dst: '10.0.0.0/8', gw: '224.0.0.1' }] }),
    /is in 224.0.0.0\/4 \(multicast\)/,
  ],
  [
    'route via broadcast',
    v4({ 'ipv4-routes': [{ dst: '10.0.0.0/8', gw: '255.255.255.255' }] }),
    /is in 255.255.255.255\/32 \(broadcast\)/,
  ],
  [
    'IPv6 route via ::',
    v6({ 'ipv6-routes': [{ dst: '::/0', gw: '::' }] }),
    /^invalid ipam.ipv6-routes.0.gw "::": is in ::\/128 \(unspecified\)/,
  ],
  [
    'IPv6 route via multicast',
    v6({ 'ipv6-routes': [{ dst: '::/0', gw: 'ff02::1' }] }),
    /is in ff00::\/8 \(multicast\)/,
  ],
];

t.test('every rule is code 7 naming the field and the value', async (t) => {
  for (const [what, ipam, message] of invalid) {
    t.test(what, async (t) => expectCniError(t, () => load(ipam), ErrorCode.InvalidNetworkConfig, message));
  }
});

t.test('the executable answers a bad config with the error JSON, code 7', async (t) => {
  const out = parsed(
    await run('ADD', JSON.stringify({ cniVersion: '0.3.0', name: 'ecs', ipam: v4({ 'ipv4-subnet': '10.0.0.0/31' }) })),
  );
  t.equal(out.exitCode, 1);
  t.equal(out.json!.code, 7);
  t.equal(out.json!.cniVersion, '0.3.0');
  t.match(out.json!.msg, 'invalid ipam.ipv4-subnet "10.0.0.0/31"');
  const del = parsed(await run('DEL', JSON.stringify({ cniVersion: '1.0.0', name: 'ecs' })));
  t.equal(del.json!.code, 7, 'DEL validates the config too');
});
