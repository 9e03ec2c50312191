import t from 'tap';
import {
  canonicalCidr,
  canonicalIp,
  gatewayProblem,
  hostAddressProblem,
  inSubnet,
  isLinkLocal,
} from '../../../src/plugins/eni/ip.js';
import { fallbackName } from '../../../src/plugins/eni/move.js';
import { encodeAlias, parseAlias } from '../../../src/plugins/eni/record.js';

t.test('one spelling per address (RFC 5952)', async (t) => {
  t.equal(canonicalIp('2001:DB8:0:0:0:0:0:1'), '2001:db8::1');
  t.equal(canonicalIp('2001:db8:0:1:0:0:0:1'), '2001:db8:0:1::1', 'the longest zero run');
  t.equal(canonicalIp('2001:0:0:1:0:0:0:1'), '2001:0:0:1::1', 'the longest, not the first');
  t.equal(canonicalIp('2001:db8:1:0:1:0:1:0'), '2001:db8:1:0:1:0:1:0', 'no run of two');
  t.equal(canonicalIp('::'), '::');
  t.equal(canonicalIp('::1'), '::1');
  t.equal(canonicalIp('fe80::'), 'fe80::');
  t.equal(canonicalIp('::ffff:10.0.0.1'), '::ffff:a00:1');
  t.equal(canonicalIp('10.0.0.1'), '10.0.0.1');
  t.equal(canonicalCidr('FD00:EC2:0::254/128'), 'fd00:ec2::254/128');
});

t.test('subnet membership', async (t) => {
  t.ok(inSubnet('10.0.1.1', '10.0.1.5/24'));
  t.notOk(inSubnet('10.0.2.1', '10.0.1.5/24'));
  t.notOk(inSubnet('10.0.1.1', '10.0.1.5/32'));
  t.ok(inSubnet('2001:db8:1::1', '2001:db8:1::5/64'));
  t.notOk(inSubnet('2001:db8:2::1', '2001:db8:1::5/64'));
  t.notOk(inSubnet('10.0.1.1', '2001:db8:1::5/64'), 'families differ');
  t.ok(inSubnet('1.2.3.4', '0.0.0.0/0'));
});

t.test('host address and gateway problems', async (t) => {
  t.equal(hostAddressProblem('10.0.1.5/24'), undefined);
  t.equal(hostAddressProblem('10.0.1.0/31'), undefined, '/31 has no network address');
  t.equal(hostAddressProblem('10.0.1.0/32'), undefined);
  t.match(hostAddressProblem('10.0.1.0/30'), /network address/);
  t.match(hostAddressProblem('10.0.1.3/30'), /broadcast/);
  t.equal(hostAddressProblem('2001:db8::/64'), undefined, 'IPv6 has no broadcast');
  t.match(hostAddressProblem('10.0.1.5'), /CIDR/);
  t.match(hostAddressProblem('255.255.255.255/32'), /broadcast/);
  t.equal(gatewayProblem('fe80::1'), undefined);
  t.match(gatewayProblem('::1'), /loopback/);
  t.match(gatewayProblem('10.0.0.1/24'), /must be/);
  t.ok(isLinkLocal('fe80::1'));
  t.ok(isLinkLocal('febf::1'));
  t.notOk(isLinkLocal('fec0::1'));
  t.notOk(isLinkLocal('10.0.0.1'));
});

t.test('alias and fallback name', async (t) => {
  const plain = { name: 'eth1', mtu: 9001, alias: undefined, blackholes: [] };
  t.equal(encodeAlias(plain), 'tasknet-eni:eth1:mtu=9001');
  t.same(
    parseAlias('tasknet-eni:eth1:mtu=9001'),
    plain,
    'no previous alias, no blackholes (also how an older record reads)',
  );
  t.equal(parseAlias('eth1'), undefined, 'host-device style alias is not ours');
  t.equal(parseAlias(undefined), undefined);
  t.equal(fallbackName('0E:AA:BB:CC:DD:EE'), 'eni0eaabbccddee');
  t.equal(fallbackName('0e:aa:bb:cc:dd:ee').length, 15, 'the longest name the kernel takes');
});

t.test('the record keeps the previous alias and the blackholes ADD added, as one batch token', async (t) => {
  const previous = 'uplink "A" #1: 50% \\ (ok) \'s ü';
  const record = { name: 'ens6', mtu: 1500, alias: previous, blackholes: ['169.254.169.254/32', 'fd00:ec2::254/128'] };
  const alias = encodeAlias(record);
  t.match(
    alias,
    /^tasknet-eni:ens6:mtu=1500:imds=4,6:alias=[A-Za-z0-9%._~-]+$/,
    'no spaces, quotes, "#", "\\" or extra ":"',
  );
  t.same(parseAlias(alias), record, 'round trip');
  t.same(parseAlias('tasknet-eni:ens6:mtu=1500:imds=6')?.blackholes, ['fd00:ec2::254/128']);
  t.equal(parseAlias('tasknet-eni:ens6:mtu=1500:alias=%E0%A4'), undefined, 'a broken encoding is not ours');
  t.equal(parseAlias('tasknet-eni:ens6:mtu=1500:alias=a b'), undefined);
});
