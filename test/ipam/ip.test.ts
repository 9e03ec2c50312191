import t from 'tap';
import { formatIp, parseCidr, parseIp } from '../../src/cni/ip.js';
import { contains, hostBitsSet, subnetOf, subnetSize } from '../../src/ipam/ip.js';
import { parsePoolDirName, poolDirName } from '../../src/ipam/store/layout.js';

t.test('IPv4 round trip', async (t) => {
  for (const a of ['0.0.0.0', '169.254.172.1', '255.255.255.255', '10.0.0.10']) {
    const ip = parseIp(a)!;
    t.equal(ip.family, 4);
    t.equal(formatIp(4, ip.value), a);
  }
  t.equal(parseIp('169.254.172.1')!.value, 0xa9feac01n);
  t.equal(parseIp('01.2.3.4'), undefined, 'no leading zeros');
  t.equal(parseIp('1.2.3'), undefined);
  t.equal(parseIp('fe80::1%eth0'), undefined, 'no zone');
});

t.test('IPv6 parses every spelling and prints RFC 5952', async (t) => {
  const cases: [string, string][] = [
    ['2001:DB8:0:0:0:0:0:1', '2001:db8::1'],
    ['2001:db8::', '2001:db8::'],
    ['::', '::'],
    ['::1', '::1'],
    ['2001:db8:0:1:0:0:0:1', '2001:db8:0:1::1'],
    ['2001:0:0:1:0:0:0:1', '2001:0:0:1::1'], // longest run wins
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'], // first of equal runs
    ['2001:db8:1:1:1:1:0:1', '2001:db8:1:1:1:1:0:1'], // a single zero group stays
    ['::ffff:1.2.3.4', '::ffff:102:304'],
    ['fd00::10', 'fd00::10'],
  ];
  for (const [input, canonical] of cases) t.equal(formatIp(6, parseIp(input)!.value), canonical, input);
});

t.test('CIDR and subnet arithmetic', async (t) => {
  t.same(parseCidr('10.1.2.3/8'), { family: 4, value: 0x0a010203n, prefix: 8 });
  t.equal(parseCidr('10.0.0.0/33'), undefined);
  t.equal(parseCidr('10.0.0.0/'), undefined);
  t.equal(parseCidr('::/129'), undefined);
  t.ok(hostBitsSet(4, 0x0a010203n, 8));
  const s = subnetOf(4, 0xa9feac05n, 22);
  t.equal(formatIp(4, s.network), '169.254.172.0');
  t.equal(subnetSize(s), 1024n);
  t.ok(contains(s, parseIp('169.254.175.255')!.value));
  t.notOk(contains(s, parseIp('169.254.176.0')!.value));
});

t.test('pool directory names round-trip', async (t) => {
  for (const cidr of ['169.254.172.0/22', '2001:db8::/64', '::/0']) {
    const c = parseCidr(cidr)!;
    const subnet = subnetOf(c.family, c.value, c.prefix);
    t.same(parsePoolDirName(poolDirName(subnet)), subnet, cidr);
  }
  t.equal(poolDirName(subnetOf(4, 0xa9feac00n, 22)), '169.254.172.0_22');
  t.equal(parsePoolDirName('keys'), undefined);
  t.equal(parsePoolDirName('169.254.172.5_22'), undefined, 'not a masked subnet');
});
