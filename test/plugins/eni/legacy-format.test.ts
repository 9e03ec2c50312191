// ecs-eni's pre-2020 keys (ipv4-address, ipv6-address, subnetgateway-ipv4-address), as ECS agents of
// 2017-2019 wrote them: an ADD gives the task exactly what the same config in today's keys gives,
// the plugin log says the format is the old one, and a bad value is code 7 naming the old key.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { getLink, listAddresses } from '../../../src/netlink/index.js';
import { needsRoot } from '../../helpers/netns.js';
import { ADDR4, ADDR6, cni, ecsConfig, GW4, makeLab, ping, leavesNothingBehind, type Lab } from './lab.js';
import { assertEniHome, taskRoutes } from './state.js';

const legacyConfig = (lab: Lab, extra: object): Record<string, unknown> => ({
  cniVersion: '1.0.0',
  name: 'task-eni',
  type: 'ecs-eni',
  eni: 'eni-0123456789abcdef0',
  mac: lab.mac,
  ...extra,
});

// The plugin log of one in-process call, at the default level (warn), through ECS_CNI_LOG_FILE.
const withLog = async <T>(t: Test, fn: () => Promise<T>): Promise<{ value: T; log: string }> => {
  const dir = mkdtempSync(join(tmpdir(), 'tasknet-eni-log-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'eni.log');
  const saved = process.env.ECS_CNI_LOG_FILE;
  process.env.ECS_CNI_LOG_FILE = file;
  try {
    const value = await fn();
    let log = '';
    try {
      log = readFileSync(file, 'utf8');
    } catch {
      /* nothing logged */
    }
    return { value, log };
  } finally {
    if (saved === undefined) delete process.env.ECS_CNI_LOG_FILE;
    else process.env.ECS_CNI_LOG_FILE = saved;
  }
};

// What the task netns looks like after an ADD.
const taskState = async (lab: Lab) => ({
  eth0: await getLink('eth0', lab.task).then((l) => l && { mac: l.mac, up: l.up, mtu: l.mtu }),
  addresses: (await listAddresses({ dev: 'eth0' }, lab.task))
    .filter((a) => !a.cidr.startsWith('fe80:'))
    .map((a) => a.cidr)
    .sort(),
  routes: await taskRoutes(lab),
});

// [label, the old keys, today's keys for the same thing]
const EQUIVALENT: Array<[string, object, object]> = [
  [
    "the ECS agent's form: a bare address, the gateway with the subnet's prefix",
    { 'ipv4-address': '10.0.1.5', 'subnetgateway-ipv4-address': '10.0.1.1/24' },
    { 'ip-addresses': [ADDR4], 'gateway-ip-addresses': [GW4] },
  ],
  [
    'a CIDR address, the subnet itself (gateway = network + 1)',
    { 'ipv4-address': ADDR4, 'subnetgateway-ipv4-address': '10.0.1.0/24' },
    { 'ip-addresses': [ADDR4], 'gateway-ip-addresses': [GW4] },
  ],
  [
    'dual stack: a bare IPv6 address is a /64, its default route left to router advertisements',
    {
      'ipv4-address': '10.0.1.5',
      'ipv6-address': '2001:db8:1::5',
      'subnetgateway-ipv4-address': '10.0.1.0/24',
      'block-instance-metadata': true,
    },
    { 'ip-addresses': [ADDR4, ADDR6], 'gateway-ip-addresses': [GW4], 'block-instance-metadata': true },
  ],
];

t.test("an old-format ADD gives what the same config in today's keys gives", { skip: needsRoot }, async (t) => {
  for (const [label, old, today] of EQUIVALENT) {
    await t.test(label, async (t) => {
      const lab = await makeLab(t);
      const { value: oldAdd, log } = await withLog(t, () => cni('ADD', lab, legacyConfig(lab, old)));
      t.equal(oldAdd.exitCode, 0, `old format: ADD succeeds ${JSON.stringify(oldAdd.out)}`);
      const oldState = await taskState(lab);
      t.ok(await ping(lab, GW4), 'the task reaches the gateway (network + 1)');
      t.match(
        log,
        /\[WARN\] ecs-eni: the config uses the pre-2020 ecs-eni format \("ipv4-address"/,
        'the log says it is the old format',
      );
      t.notMatch(log, /no IPv\d gateway/, 'and no missing-gateway warning');
      t.equal((await cni('DEL', lab, legacyConfig(lab, old))).exitCode, 0, 'old format: DEL succeeds');
      await assertEniHome(t, lab);

      const newAdd = await cni('ADD', lab, ecsConfig(lab, today));
      t.equal(newAdd.exitCode, 0, "today's format: ADD succeeds");
      t.same(oldAdd.out, newAdd.out, 'the same result');
      t.same(oldState, await taskState(lab), 'the same addresses and routes in the task netns');
      t.equal((await cni('DEL', lab, ecsConfig(lab, today))).exitCode, 0);
      await assertEniHome(t, lab);
    });
  }
});

t.test(
  "the default route of an old-format ADD is via the subnet's network address + 1",
  { skip: needsRoot },
  async (t) => {
    const lab = await makeLab(t);
    const add = await cni(
      'ADD',
      lab,
      legacyConfig(lab, { 'ipv4-address': '10.0.1.5', 'subnetgateway-ipv4-address': '10.0.1.0/24' }),
    );
    t.same(add.out, {
      cniVersion: '1.0.0',
      interfaces: [{ name: 'eth0', mac: lab.mac, sandbox: lab.taskPath }],
      ips: [{ interface: 0, address: ADDR4, gateway: GW4 }],
      routes: [{ dst: '0.0.0.0/0', gw: GW4 }],
    });
    t.same(await taskRoutes(lab), ['unicast 0.0.0.0/0 via 10.0.1.1 dev eth0', 'unicast 10.0.1.0/24 dev eth0']);
    t.equal((await cni('DEL', lab, legacyConfig(lab, {}))).exitCode, 0, 'a DEL needs no addresses');
    await assertEniHome(t, lab);
  },
);

// Refused before any netns is touched: the netns need not exist.
const call = async (config: object) => {
  const r = await cni('ADD', { host: 'teni-unused', taskPath: '/var/run/netns/teni-unused' } as Lab, config);
  return r;
};
const conf = (extra: object) => ({
  cniVersion: '1.0.0',
  name: 'task-eni',
  type: 'ecs-eni',
  mac: '0e:11:22:33:44:55',
  ...extra,
});

t.test("old and today's address keys together: code 7 naming both", async (t) => {
  t.match(await call(conf({ 'ipv4-address': ADDR4, 'ip-addresses': [ADDR4] })), {
    exitCode: 1,
    out: {
      code: 7,
      msg: 'invalid config: it has the pre-2020 ecs-eni key "ipv4-address" and today\'s "ip-addresses"; use one format (docs/ecs-eni.md)',
    },
  });
  t.match(
    await call(
      conf({ 'ipv4-address': ADDR4, 'subnetgateway-ipv4-address': '10.0.1.0/24', 'gateway-ip-addresses': [GW4] }),
    ),
    {
      exitCode: 1,
      out: {
        code: 7,
        msg: /pre-2020 ecs-eni keys "ipv4-address", "subnetgateway-ipv4-address" and today's "gateway-ip-addresses"/,
      },
    },
  );
  t.match(
    await call({ ...conf({ 'ipv4-address': ADDR4 }), mac: undefined, eniMACAddress: '0e:11:22:33:44:55' }),
    {
      exitCode: 1,
      out: { code: 7, msg: /mixes ecs-eni fields \("ipv4-address"\) with vpc-eni fields \("eniMACAddress"\)/ },
    },
    'with vpc-eni keys: the dialects are mixed',
  );
});

// [old keys, the message]: code 7, naming the key and its value.
const MALFORMED: Array<[object, string | RegExp]> = [
  [
    { 'ipv4-address': '10.0.1.300' },
    'invalid ipv4-address "10.0.1.300": must be an IPv4 address, with or without its prefix length',
  ],
  [
    { 'ipv4-address': '2001:db8::5/64' },
    'invalid ipv4-address "2001:db8::5/64": must be an IPv4 address, with or without its prefix length',
  ],
  [{ 'ipv4-address': 7 }, 'invalid ipv4-address 7: must be a string'],
  [
    { 'ipv4-address': '10.0.1.5' },
    /^invalid ipv4-address "10.0.1.5": has no prefix length: give it one \(10.0.1.5\/24\) or add subnetgateway-ipv4-address/,
  ],
  [{ 'ipv4-address': '10.0.1.0/24' }, 'invalid ipv4-address "10.0.1.0/24": is the network address of its subnet'],
  [
    { 'ipv4-address': '10.0.2.5/24', 'subnetgateway-ipv4-address': '10.0.1.1/24' },
    'invalid ipv4-address "10.0.2.5/24": is not in the subnet of subnetgateway-ipv4-address "10.0.1.1/24"',
  ],
  [
    { 'ipv4-address': ADDR4, 'subnetgateway-ipv4-address': '10.0.1.1' },
    /^invalid subnetgateway-ipv4-address "10.0.1.1": must be an IPv4 subnet with its prefix length/,
  ],
  [
    { 'ipv4-address': ADDR4, 'subnetgateway-ipv4-address': '10.0.1.9/24' },
    'invalid subnetgateway-ipv4-address "10.0.1.9/24": must be the subnet (10.0.1.0/24) or its gateway (10.0.1.1/24), the network address + 1',
  ],
  [
    { 'ipv4-address': '10.0.1.1', 'subnetgateway-ipv4-address': '10.0.1.1/24' },
    'invalid subnetgateway-ipv4-address "10.0.1.1/24": gives gateway 10.0.1.1, which is one of the ENI\'s own addresses',
  ],
  [
    { 'ipv4-address': ADDR4, 'ipv6-address': '10.0.1.6' },
    'invalid ipv6-address "10.0.1.6": must be an IPv6 address, with or without its prefix length',
  ],
  [{ 'ipv4-address': ADDR4, 'ipv6-address': 'ff02::1' }, 'invalid ipv6-address "ff02::1": is a multicast address'],
  [
    { 'ipv6-address': ADDR6 },
    /^missing required parameter ipv4-address \(the pre-2020 ecs-eni format, which "ipv6-address" belongs to, requires it\)$/,
  ],
];

t.test('a malformed old key: code 7 naming the key and the value', async (t) => {
  for (const [old, msg] of MALFORMED) {
    const r = await call(conf(old));
    t.match(r, { exitCode: 1, out: { code: 7, msg } }, JSON.stringify(old));
    t.notMatch(r.out?.msg ?? '', /\n\s+at /, 'no stack trace');
  }
});

leavesNothingBehind(t);
