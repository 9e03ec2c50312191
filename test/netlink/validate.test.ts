import t from 'tap';
import { IpError } from '../../src/netlink/errors.js';
import {
  parseCidr,
  parseIp,
  validateAlias,
  validateIfName,
  validateMac,
  validateMtu,
  validateNetnsName,
  validateNetnsPath,
  validateRouteTable,
  validateSysctlKey,
  validateToken,
  validateUint,
} from '../../src/netlink/validate.js';

// Whether fn throws IpError kind 'invalid' (the only error validation may raise).
function isRefused(fn: () => unknown): boolean {
  try {
    fn();
    return false;
  } catch (e) {
    return e instanceof IpError && e.kind === 'invalid';
  }
}

t.test('interface names follow the kernel rule', async (t) => {
  for (const ok of ['eth0', 'ecs-eth0', 'a', 'veth1234567890a', 'br.100', 'ünï']) t.equal(validateIfName(ok), ok);
  const bad = [
    '',
    'veth1234567890ab',
    '.',
    '..',
    'a/b',
    'a:b',
    'a b',
    'a\tb',
    'eth0\nlink del lo',
    'x#y',
    '--all',
    '-n',
    'a"b',
    "a'b",
    'a\\b',
    'a\0b',
    'ü'.repeat(8),
  ];
  for (const name of bad)
    t.ok(
      isRefused(() => validateIfName(name)),
      `refuses ${JSON.stringify(name)}`,
    );
});

t.test('netns names and paths', async (t) => {
  t.equal(validateNetnsName('cni-1234'), 'cni-1234');
  t.equal(validateNetnsName('x'.repeat(64)), 'x'.repeat(64));
  for (const bad of ['', '.', '..', 'a/b', 'a b', 'x'.repeat(65), '-all', 'a\nb']) {
    t.ok(
      isRefused(() => validateNetnsName(bad)),
      `refuses ${JSON.stringify(bad)}`,
    );
  }
  t.equal(validateNetnsPath('/proc/1/ns/net'), '/proc/1/ns/net');
  for (const bad of ['proc/1/ns/net', '/a b', '/a\nb', '/a#b']) {
    t.ok(
      isRefused(() => validateNetnsPath(bad)),
      `refuses ${JSON.stringify(bad)}`,
    );
  }
});

t.test('addresses and CIDRs, v4 and v6', async (t) => {
  t.same(parseCidr('10.0.0.1/24'), { address: '10.0.0.1', prefixLen: 24, family: 4, cidr: '10.0.0.1/24' });
  t.same(parseCidr('fd00::1/64'), { address: 'fd00::1', prefixLen: 64, family: 6, cidr: 'fd00::1/64' });
  t.equal(parseCidr('0.0.0.0/0').prefixLen, 0);
  t.equal(parseCidr('::/0').family, 6);
  t.equal(parseCidr('2001:db8::ffff:10.0.0.1/128').prefixLen, 128);
  const bad = [
    '10.0.0.1',
    '10.0.0.1/33',
    'fd00::1/129',
    '10.0.0.300/24',
    '10.0.0.1/-1',
    '10.0.0.1/2 4',
    '10.0.0.1 /24',
    '10.0.0.1/24/1',
    'fe80::1%eth0/64',
    '10.0.0.01/24',
    '10.0.0.1/024x',
    'default',
    '',
    '10.0.0.1/24\nlink del lo',
  ];
  for (const c of bad)
    t.ok(
      isRefused(() => parseCidr(c)),
      `refuses ${JSON.stringify(c)}`,
    );
  t.same(parseIp('169.254.170.2'), { address: '169.254.170.2', family: 4 });
  t.same(parseIp('fe80::1'), { address: 'fe80::1', family: 6 });
  for (const a of ['10.0.0.1/32', 'fe80::1%eth0', '1.2.3', 'x', ' 10.0.0.1']) {
    t.ok(
      isRefused(() => parseIp(a)),
      `refuses ${JSON.stringify(a)}`,
    );
  }
});

t.test('MACs are normalised to lower case', async (t) => {
  t.equal(validateMac('02:AB:cd:00:00:01'), '02:ab:cd:00:00:01');
  for (const m of ['02:ab:cd:00:00', '02-ab-cd-00-00-01', '02:ab:cd:00:00:0g', '02:ab:cd:00:00:01 ', 'zz']) {
    t.ok(
      isRefused(() => validateMac(m)),
      `refuses ${JSON.stringify(m)}`,
    );
  }
});

t.test('numbers, tables, aliases, tokens, sysctl keys', async (t) => {
  t.equal(validateUint('metric', 0), '0');
  t.equal(validateUint('metric', 4294967295), '4294967295');
  for (const n of [-1, 1.5, NaN, Infinity, 2 ** 32]) {
    t.ok(
      isRefused(() => validateUint('metric', n)),
      `refuses ${n}`,
    );
  }
  t.equal(validateMtu(9001), '9001');
  t.ok(
    isRefused(() => validateMtu(10)),
    'refuses mtu 10',
  );
  t.equal(validateRouteTable('main'), 'main');
  t.equal(validateRouteTable(254), 'main');
  t.equal(validateRouteTable('100'), '100');
  for (const bad of ['0', 'foo', '1 2', -1, '99999999999']) {
    t.ok(
      isRefused(() => validateRouteTable(bad)),
      `refuses ${JSON.stringify(bad)}`,
    );
  }
  t.equal(validateAlias('task-1234'), 'task-1234');
  for (const bad of ['a b', 'x'.repeat(256), 'a#b']) {
    t.ok(
      isRefused(() => validateAlias(bad)),
      `refuses ${JSON.stringify(bad).slice(0, 20)}`,
    );
  }
  for (const bad of ['', 'a b', 'a"b', "a'b", 'a#b', 'a\\b', 'a\nb', 'a\rb', 'a\0b']) {
    t.ok(
      isRefused(() => validateToken('t', bad)),
      `refuses ${JSON.stringify(bad)}`,
    );
  }
  t.equal(validateSysctlKey('net.ipv4.ip_forward'), 'net.ipv4.ip_forward');
  t.equal(validateSysctlKey('net/ipv4/conf/eth0.100/rp_filter'), 'net/ipv4/conf/eth0.100/rp_filter');
  for (const bad of ['net..ipv4', '../etc/passwd', 'net/../../etc', '/proc/sys/x', 'a b', 'a=b', '']) {
    t.ok(
      isRefused(() => validateSysctlKey(bad)),
      `refuses ${JSON.stringify(bad)}`,
    );
  }
});
