// Config and CNI_ARGS validation: every failure is code 7 (config) or 4 (CNI_ARGS) and names
// the field and the value. No namespaces needed.
import t from 'tap';
import { parseCniArgs } from '../../../src/cni/args.js';
import type { NetConfObject } from '../../../src/cni/config.js';
import { runPlugin } from '../../../src/cni/skel.js';
import { missingGatewayWarnings, parseEniConfig } from '../../../src/plugins/eni/config.js';
import { eniPlugin } from '../../../src/plugins/eni/plugin.js';
import { expectCniError } from '../../helpers/cni.js';

const MAC = '0e:11:22:33:44:55';
const base = { cniVersion: '1.0.0', name: 'net', type: 'ecs-eni' };
const vpc = { ...base, eniMACAddress: MAC, eniIPAddresses: ['10.0.1.5/24'], gatewayIPAddresses: ['10.0.1.1'] };
const ecs = { ...base, eni: 'eni-1', mac: MAC, 'ip-addresses': ['10.0.1.5/24'], 'gateway-ip-addresses': ['10.0.1.1'] };

const parse = (conf: object, args = '', requireEni = true) =>
  parseEniConfig(
    conf as NetConfObject,
    parseCniArgs(args, ['ENIName', 'ENIMACAddress', 'ENIIPAddresses', 'GatewayIPAddresses']),
    { requireEni },
  );

t.test('both dialects read into one model', async (t) => {
  const model = {
    eniId: undefined,
    name: undefined,
    mac: MAC,
    addresses: ['10.0.1.5/24'],
    gateways: ['10.0.1.1'],
    blockInstanceMetadata: false,
    stayDown: false,
    mtu: 0,
  };
  t.same(parse(vpc), { ...model, dialect: 'vpc-eni' });
  t.same(parse(ecs), { ...model, dialect: 'ecs-eni', eniId: 'eni-1' });
  t.same(parse({ ...ecs, 'block-instance-metadata': true, 'stay-down': true, mtu: 9001 }), {
    ...model,
    dialect: 'ecs-eni',
    eniId: 'eni-1',
    blockInstanceMetadata: true,
    stayDown: true,
    mtu: 9001,
  });
  t.same(parse({ ...vpc, blockInstanceMetadata: true, opStateDown: true, eniName: 'eth1' }), {
    ...model,
    dialect: 'vpc-eni',
    name: 'eth1',
    blockInstanceMetadata: true,
    stayDown: true,
  });
  t.equal(parse({ ...vpc, eniMACAddress: '0E-AA-BB-CC-DD-EE' }).mac, '0e:aa:bb:cc:dd:ee', 'MAC normalised');
  t.equal(parse({ ...ecs, eni: undefined }).eniId, undefined, 'the ENI id is optional (upstream never used it)');
  t.equal(parse({ ...vpc, useExistingNetwork: false, extra: 1 }).dialect, 'vpc-eni', 'unknown fields are ignored');
});

t.test('mixing the dialects is code 7 naming the fields', async (t) => {
  expectCniError(
    t,
    () => parse({ ...vpc, mac: MAC }),
    7,
    /mixes ecs-eni fields \("mac"\) with vpc-eni fields \("eniMACAddress", "eniIPAddresses", "gatewayIPAddresses"\)/,
  );
  expectCniError(t, () => parse({ ...ecs, opStateDown: true }), 7, /"opStateDown"/);
  t.equal(parse({ ...ecs, mtu: 1500 }).mtu, 1500, 'mtu belongs to both');
});

// [config, field, message] for each invalid value; the message also shows the value.
const INVALID: Array<[object, string, RegExp]> = [
  [{ ...vpc, eniMACAddress: 'zz' }, 'eniMACAddress "zz"', /must be a MAC address/],
  [{ ...vpc, eniMACAddress: '0e:11:22:33:44' }, 'eniMACAddress "0e:11:22:33:44"', /must be a MAC address/],
  [{ ...vpc, eniMACAddress: '0e:11-22:33:44:55' }, 'eniMACAddress', /must be a MAC address/],
  [{ ...vpc, eniMACAddress: '01:00:5e:00:00:01' }, 'eniMACAddress "01:00:5e:00:00:01"', /multicast/],
  [{ ...vpc, eniMACAddress: '00:00:00:00:00:00' }, 'eniMACAddress', /all-zero/],
  [{ ...ecs, mac: 5 }, 'mac 5', /must be a string/],
  [{ ...ecs, eni: '' }, 'eni ""', /must not be empty/],
  [{ ...ecs, eni: 7 }, 'eni 7', /must be a string/],
  [{ ...vpc, eniName: 'a/b' }, 'eniName "a/b"', /"\/"/],
  [{ ...vpc, eniName: 'x'.repeat(16) }, 'eniName', /longer than 15 bytes/],
  [{ ...vpc, eniName: '-x' }, 'eniName "-x"', /starts with "-"/],
  [{ ...vpc, eniName: '' }, 'eniName ""', /empty/],
  [{ ...vpc, eniIPAddresses: '10.0.1.5/24' }, 'eniIPAddresses "10.0.1.5/24"', /must be an array/],
  [{ ...vpc, eniIPAddresses: [5] }, 'eniIPAddresses.0 5', /must be a string/],
  [{ ...vpc, eniIPAddresses: ['10.0.1.5'] }, 'eniIPAddresses.0 "10.0.1.5"', /CIDR/],
  [{ ...ecs, 'ip-addresses': ['10.0.1.5/24', '10.0.1.300/24'] }, 'ip-addresses.1 "10.0.1.300/24"', /CIDR/],
  [{ ...vpc, eniIPAddresses: ['10.0.1.5/33'] }, 'eniIPAddresses.0', /CIDR/],
  [{ ...vpc, eniIPAddresses: ['10.0.1.5/024x'] }, 'eniIPAddresses.0', /CIDR/],
  [{ ...vpc, eniIPAddresses: ['fe80::1%eth0/64'] }, 'eniIPAddresses.0', /CIDR/],
  [{ ...vpc, eniIPAddresses: ['10.0.1.0/24'] }, 'eniIPAddresses.0 "10.0.1.0/24"', /network address/],
  [{ ...vpc, eniIPAddresses: ['10.0.1.255/24'] }, 'eniIPAddresses.0', /broadcast address of its subnet/],
  [{ ...vpc, eniIPAddresses: ['0.0.0.0/0'] }, 'eniIPAddresses.0', /unspecified/],
  [{ ...vpc, eniIPAddresses: ['127.0.0.2/8'] }, 'eniIPAddresses.0', /loopback/],
  [{ ...vpc, eniIPAddresses: ['224.0.0.5/24'] }, 'eniIPAddresses.0', /multicast/],
  [{ ...vpc, eniIPAddresses: ['::/64'] }, 'eniIPAddresses.0', /unspecified/],
  [{ ...vpc, eniIPAddresses: ['ff02::1/64'] }, 'eniIPAddresses.0', /multicast/],
  [
    { ...vpc, eniIPAddresses: ['10.0.1.5/24', '10.0.1.5/16'] },
    'eniIPAddresses.1 "10.0.1.5/16"',
    /repeats the address of entry 0/,
  ],
  [{ ...vpc, eniIPAddresses: ['2001:db8::5/64', '2001:DB8:0::5/64'] }, 'eniIPAddresses.1', /repeats/],
  [
    { ...vpc, gatewayIPAddresses: ['10.0.1.1/24'] },
    'gatewayIPAddresses.0 "10.0.1.1/24"',
    /must be an IPv4 or IPv6 address/,
  ],
  [{ ...vpc, gatewayIPAddresses: ['10.0.1.1', '10.0.1.2'] }, 'gatewayIPAddresses.1 "10.0.1.2"', /second IPv4 gateway/],
  [{ ...vpc, gatewayIPAddresses: ['2001:db8::1'] }, 'gatewayIPAddresses.0 "2001:db8::1"', /no ENI address is IPv6/],
  [{ ...vpc, gatewayIPAddresses: ['10.0.1.5'] }, 'gatewayIPAddresses.0', /own addresses/],
  [{ ...vpc, gatewayIPAddresses: ['224.0.0.1'] }, 'gatewayIPAddresses.0', /multicast/],
  [{ ...ecs, 'gateway-ip-addresses': ['x'] }, 'gateway-ip-addresses.0 "x"', /must be an IPv4 or IPv6 address/],
  [{ ...vpc, blockInstanceMetadata: 'true' }, 'blockInstanceMetadata "true"', /must be a boolean/],
  [{ ...ecs, 'block-instance-metadata': 1 }, 'block-instance-metadata 1', /must be a boolean/],
  [{ ...vpc, opStateDown: 'yes' }, 'opStateDown "yes"', /must be a boolean/],
  [{ ...ecs, 'stay-down': null }, 'stay-down', /must be a boolean/],
  [{ ...vpc, mtu: 1.5 }, 'mtu 1.5', /must be an integer/],
  [{ ...vpc, mtu: 50 }, 'mtu 50', /must be an integer, 0 \(leave unchanged\) or between 68 and 65535/],
  [{ ...vpc, mtu: '9001' }, 'mtu "9001"', /must be a number/],
  [
    { ...vpc, eniIPAddresses: ['2001:db8::5/64'], gatewayIPAddresses: [], mtu: 1000 },
    'mtu 1000',
    /at least 1280 with an IPv6 address/,
  ],
];

t.test('every invalid value is code 7 naming the field and the value', async (t) => {
  for (const [conf, field, why] of INVALID) {
    expectCniError(t, () => parse(conf), 7, new RegExp(`^invalid ${field.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}.*: `));
    expectCniError(t, () => parse(conf), 7, why);
  }
});

t.test('required fields, in the words of the dialect in use', async (t) => {
  expectCniError(
    t,
    () => parse({ ...vpc, eniMACAddress: undefined }),
    7,
    'missing required parameter eniMACAddress or eniName (or CNI_ARGS ENIMACAddress or ENIName)',
  );
  expectCniError(
    t,
    () => parse({ ...ecs, mac: undefined }),
    7,
    'missing required parameter mac (or CNI_ARGS ENIMACAddress or ENIName)',
  );
  expectCniError(
    t,
    () => parse({ ...vpc, eniIPAddresses: [], gatewayIPAddresses: [] }),
    7,
    'missing required parameter eniIPAddresses (or CNI_ARGS ENIIPAddresses)',
  );
  expectCniError(
    t,
    () => parse({ ...ecs, 'ip-addresses': undefined, 'gateway-ip-addresses': undefined }),
    7,
    /ip-addresses/,
  );
  expectCniError(t, () => parse(base), 7, /missing required parameter mac, eniMACAddress or eniName/);
  t.equal(
    parse({ ...vpc, eniIPAddresses: undefined, gatewayIPAddresses: undefined, opStateDown: true }).stayDown,
    true,
    'a link that stays down needs no addresses',
  );
  t.equal(parse({ ...vpc, eniName: 'eth1', eniMACAddress: undefined }).name, 'eth1', 'a name instead of a MAC');
  t.same(parse(base, '', false).addresses, [], 'DEL, CHECK, STATUS take a config without the ENI');
});

t.test('CNI_ARGS override config fields; a bad value is code 4 naming the key', async (t) => {
  const over = parse(
    vpc,
    'ENIMACAddress=0E:AA:BB:CC:DD:EE;ENIIPAddresses=10.0.2.5/24, 2001:db8::5/64;GatewayIPAddresses=10.0.2.1;ENIName=ens6',
  );
  t.match(over, {
    mac: '0e:aa:bb:cc:dd:ee',
    addresses: ['10.0.2.5/24', '2001:db8::5/64'],
    gateways: ['10.0.2.1'],
    name: 'ens6',
  });
  t.match(
    parse(base, `ENIMACAddress=${MAC};ENIIPAddresses=10.0.1.5/24`),
    { dialect: undefined, mac: MAC, addresses: ['10.0.1.5/24'] },
    'a config with no ENI fields at all, everything per container',
  );
  t.equal(parse(vpc, 'ENIMACAddress=').mac, MAC, 'an empty value does not override');
  expectCniError(
    t,
    () => parse(vpc, 'ENIMACAddress=zz'),
    4,
    'invalid CNI_ARGS ENIMACAddress "zz": must be a MAC address (xx:xx:xx:xx:xx:xx)',
  );
  expectCniError(
    t,
    () => parse(vpc, 'ENIIPAddresses=10.0.1.5/24,bad'),
    4,
    /^invalid CNI_ARGS ENIIPAddresses "bad": .*CIDR/,
  );
  expectCniError(
    t,
    () => parse(vpc, 'GatewayIPAddresses=10.0.9.1,10.0.9.2'),
    4,
    /^invalid CNI_ARGS GatewayIPAddresses "10.0.9.2": a second IPv4 gateway/,
  );
  expectCniError(t, () => parse(vpc, 'ENIName=a:b'), 4, /^invalid CNI_ARGS ENIName "a:b"/);
});

t.test('addresses without a gateway: accepted as upstream does, with a warning naming the field', async (t) => {
  const warnings = (conf: object, args = '') => missingGatewayWarnings(conf as NetConfObject, parse(conf, args));
  t.same(warnings({ ...vpc, gatewayIPAddresses: undefined }), [
    'no IPv4 gateway in gatewayIPAddresses (or CNI_ARGS GatewayIPAddresses) for 10.0.1.5/24: the task gets no IPv4 default route from ecs-eni',
  ]);
  t.same(
    warnings({ ...ecs, 'gateway-ip-addresses': undefined, 'gateway-ip-address': ['10.0.1.1'] }),
    [
      'no IPv4 gateway in gateway-ip-addresses (or CNI_ARGS GatewayIPAddresses) for 10.0.1.5/24: the task gets no IPv4 default route from ecs-eni; the config has "gateway-ip-address", which ecs-eni does not read: misspelt?',
    ],
    'a misspelt key is named',
  );
  t.match(
    warnings({ ...vpc, gatewayIPAddresses: undefined, gatewayIpAddresses: ['10.0.1.1'] })[0],
    /the config has "gatewayIpAddresses", which ecs-eni does not read: misspelt\?$/,
  );
  t.match(warnings({ ...vpc, gatewayIPAddresses: undefined, eniIPAddresses: ['2001:db8::5/64'] }), [
    /^no IPv6 gateway .*for 2001:db8::5\/64: .*\(only router advertisements can give it one\)$/,
  ]);
  t.match(warnings({ ...base, eniMACAddress: undefined }, `ENIMACAddress=${MAC};ENIIPAddresses=10.0.1.5/24`), [
    /^no IPv4 gateway in gateway-ip-addresses or gatewayIPAddresses \(or CNI_ARGS GatewayIPAddresses\)/,
  ]);
  t.same(warnings(vpc), [], 'a gateway: no warning');
  t.same(
    warnings({ ...vpc, eniIPAddresses: ['10.0.1.5/24', '2001:db8::5/64'] }),
    [],
    "the ECS agent's dual-stack config: the IPv6 default route comes from router advertisements",
  );
  t.match(
    warnings({ ...vpc, eniIPAddresses: ['10.0.1.5/24', '2001:db8::5/64'], gatewayIPAddresses: ['2001:db8::1'] }),
    [/^no IPv4 gateway/],
    'IPv4 has no such fallback',
  );
  t.same(
    warnings({ ...vpc, gatewayIPAddresses: undefined, opStateDown: true }),
    [],
    'a link left down gets no route anyway',
  );
});

const call = async (command: string, config: object, env: Record<string, string> = {}) => {
  const r = await runPlugin(eniPlugin({ hostNs: 'teni-unused' }), {
    env: {
      CNI_COMMAND: command,
      CNI_CONTAINERID: 'c1',
      CNI_NETNS: '/var/run/netns/teni-unused',
      CNI_IFNAME: 'eth0',
      ...env,
    },
    stdin: JSON.stringify(config),
  });
  return { exitCode: r.exitCode, out: r.stdout === '' ? undefined : JSON.parse(r.stdout) };
};

t.test('through the skel: codes reach stdout before any netns is touched', async (t) => {
  t.match(await call('ADD', { ...vpc, mac: MAC }), { exitCode: 1, out: { code: 7, msg: /mixes/ } });
  t.match(await call('ADD', { ...vpc, eniIPAddresses: ['nope'] }), {
    exitCode: 1,
    out: { code: 7, msg: /^invalid eniIPAddresses.0 "nope"/ },
  });
  t.match(await call('ADD', vpc, { CNI_ARGS: 'FOO=1' }), {
    exitCode: 1,
    out: { code: 4, msg: /unknown CNI_ARGS key "FOO"/ },
  });
  t.match(await call('ADD', vpc, { CNI_ARGS: 'IgnoreUnknown=1;FOO=1;ENIMACAddress=x' }), {
    out: { code: 4, msg: /CNI_ARGS ENIMACAddress "x"/ },
  });
});

t.test('STATUS: ready unless the config cannot serve an ADD (code 50); GC has nothing to collect', async (t) => {
  const v11 = { ...vpc, cniVersion: '1.1.0' };
  t.same(await call('STATUS', v11), { exitCode: 0, out: undefined });
  t.same(
    await call('STATUS', { ...base, cniVersion: '1.1.0' }),
    { exitCode: 0, out: undefined },
    'a static config is fine',
  );
  t.match(await call('STATUS', { ...v11, mac: MAC }), {
    exitCode: 1,
    out: { code: 50, msg: /^cannot serve ADD: invalid config: it mixes/ },
  });
  t.match(await call('STATUS', { ...v11, mtu: 5 }), {
    exitCode: 1,
    out: { code: 50, msg: /^cannot serve ADD: invalid mtu 5/ },
  });
  t.same(await call('GC', { ...v11, 'cni.dev/valid-attachments': [] }), { exitCode: 0, out: undefined });
});
