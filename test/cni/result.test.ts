import t from 'tap';
import { CniError, ErrorCode } from '../../src/cni/errors.js';
import { parseResult } from '../../src/cni/result-parse.js';
import { formatResult, type Result } from '../../src/cni/result.js';
import { compareVersions, SUPPORTED_VERSIONS } from '../../src/cni/version.js';
import { expectCniError } from '../helpers/cni.js';

// An ecs-bridge-like dual-stack ADD result that uses every field of the 1.1.0 model.
const DUAL_STACK: Result = {
  cniVersion: '1.1.0',
  interfaces: [
    { name: 'ecs-bridge', mac: '0a:58:a9:fe:ac:01', mtu: 9001 },
    { name: 'veth1a2b3c4d', mac: '0a:58:a9:fe:ac:02', mtu: 9001, sandbox: '' }, // host side: no sandbox
    {
      name: 'eth0',
      mac: '0a:58:a9:fe:ac:03',
      mtu: 9001,
      sandbox: '/var/run/netns/task',
      socketPath: '/run/vhost-user.sock',
      pciID: '0000:00:05.0',
    },
  ],
  ips: [
    { address: '169.254.172.2/22', gateway: '169.254.172.1', interface: 2 },
    { address: '10.0.0.5/24', interface: 0 }, // a second IPv4: 0.2.0 has room for one
    { address: 'fd00:ec2::5/64', gateway: 'fd00:ec2::1', interface: 2 },
  ],
  routes: [
    { dst: '0.0.0.0/0', gw: '169.254.172.1', mtu: 1500, advmss: 1460, priority: 100, table: 254, scope: 0 },
    { dst: '169.254.170.2/32' },
    { dst: '::/0', gw: 'fd00:ec2::1', priority: 1024 },
  ],
  dns: { nameservers: ['169.254.169.253'], domain: 'ec2.internal', search: ['ec2.internal'], options: ['ndots:5'] },
};
const DNS = DUAL_STACK.dns;

// What each spec version's JSON looks like for DUAL_STACK (SPEC.md "Result" of each tag).
const legacyJson = (v: string) => ({
  cniVersion: v,
  ip4: {
    ip: '169.254.172.2/22',
    gateway: '169.254.172.1',
    routes: [{ dst: '0.0.0.0/0', gw: '169.254.172.1' }, { dst: '169.254.170.2/32' }],
  },
  ip6: { ip: 'fd00:ec2::5/64', gateway: 'fd00:ec2::1', routes: [{ dst: '::/0', gw: 'fd00:ec2::1' }] },
  dns: DNS,
});
const interfacesBefore11 = [
  { name: 'ecs-bridge', mac: '0a:58:a9:fe:ac:01' },
  { name: 'veth1a2b3c4d', mac: '0a:58:a9:fe:ac:02' },
  { name: 'eth0', mac: '0a:58:a9:fe:ac:03', sandbox: '/var/run/netns/task' },
];
const routesBefore11 = [
  { dst: '0.0.0.0/0', gw: '169.254.172.1' },
  { dst: '169.254.170.2/32' },
  { dst: '::/0', gw: 'fd00:ec2::1' },
];
const v03Json = (v: string) => ({
  cniVersion: v,
  interfaces: interfacesBefore11,
  ips: [
    { version: '4', address: '169.254.172.2/22', gateway: '169.254.172.1', interface: 2 },
    { version: '4', address: '10.0.0.5/24', interface: 0 },
    { version: '6', address: 'fd00:ec2::5/64', gateway: 'fd00:ec2::1', interface: 2 },
  ],
  routes: routesBefore11,
  dns: DNS,
});
const v10Json = {
  cniVersion: '1.0.0',
  interfaces: interfacesBefore11,
  ips: [
    { address: '169.254.172.2/22', gateway: '169.254.172.1', interface: 2 },
    { address: '10.0.0.5/24', interface: 0 },
    { address: 'fd00:ec2::5/64', gateway: 'fd00:ec2::1', interface: 2 },
  ],
  routes: routesBefore11,
  dns: DNS,
};
const v11Json = {
  cniVersion: '1.1.0',
  interfaces: [
    { name: 'ecs-bridge', mac: '0a:58:a9:fe:ac:01', mtu: 9001 },
    { name: 'veth1a2b3c4d', mac: '0a:58:a9:fe:ac:02', mtu: 9001 },
    {
      name: 'eth0',
      mac: '0a:58:a9:fe:ac:03',
      mtu: 9001,
      sandbox: '/var/run/netns/task',
      socketPath: '/run/vhost-user.sock',
      pciID: '0000:00:05.0',
    },
  ],
  ips: v10Json.ips,
  routes: DUAL_STACK.routes,
  dns: DNS,
};

const EXPECTED_JSON: Record<string, object> = {
  '0.1.0': legacyJson('0.1.0'),
  '0.2.0': legacyJson('0.2.0'),
  '0.3.0': v03Json('0.3.0'),
  '0.3.1': v03Json('0.3.1'),
  '0.4.0': v03Json('0.4.0'),
  '1.0.0': v10Json,
  '1.1.0': v11Json,
};

t.test("formatResult renders each spec version's shape (items D27, D28)", async (t) => {
  t.same(Object.keys(EXPECTED_JSON), SUPPORTED_VERSIONS, 'every supported version is covered');
  for (const v of SUPPORTED_VERSIONS) {
    const json = formatResult(DUAL_STACK, v);
    t.strictSame(json, EXPECTED_JSON[v], v);
    t.strictSame(JSON.parse(JSON.stringify(json)), json, `${v} survives JSON`);
  }
});

t.test('0.1.0/0.2.0: first address of each family, routes by family, one family alone is fine', async (t) => {
  const v6only: Result = {
    cniVersion: '1.1.0',
    ips: [{ address: 'fd00::2/64' }, { address: 'fd00::3/64' }],
    routes: [{ dst: '::/0' }, { dst: '0.0.0.0/0' }],
  };
  t.strictSame(
    formatResult(v6only, '0.2.0'),
    { cniVersion: '0.2.0', ip6: { ip: 'fd00::2/64', routes: [{ dst: '::/0' }] } },
    'no ip4 key, and the IPv4 route has nowhere to go',
  );
  const v4first: Result = { cniVersion: '1.1.0', ips: [{ address: '10.0.0.9/8' }, { address: '10.0.0.2/8' }] };
  t.strictSame(
    formatResult(v4first, '0.1.0'),
    { cniVersion: '0.1.0', ip4: { ip: '10.0.0.9/8' } },
    'the first one, not the lowest',
  );
});

t.test('a result without addresses cannot be written as 0.1.0/0.2.0, and can as 0.3.0+', async (t) => {
  const noIps: Result = {
    cniVersion: '1.1.0',
    interfaces: [{ name: 'eth0', sandbox: '/x' }],
    routes: [{ dst: '0.0.0.0/0' }],
  };
  for (const v of ['0.1.0', '0.2.0']) {
    expectCniError(
      t,
      () => formatResult(noIps, v),
      ErrorCode.IncompatibleVersion,
      /cannot convert result to version .*no IP addresses/,
    );
    expectCniError(
      t,
      () => formatResult({ cniVersion: '1.1.0', ips: [] }, v),
      ErrorCode.IncompatibleVersion,
      /no IP addresses/,
    );
  }
  t.strictSame(formatResult(noIps, '0.3.1'), {
    cniVersion: '0.3.1',
    interfaces: [{ name: 'eth0', sandbox: '/x' }],
    routes: [{ dst: '0.0.0.0/0' }],
  });
  t.strictSame(
    formatResult({ cniVersion: '1.1.0' }, '1.0.0'),
    { cniVersion: '1.0.0' },
    'an empty result is just its version',
  );
});

t.test('falsy-but-set values survive, empty ones are omitted', async (t) => {
  const r: Result = {
    cniVersion: '1.1.0',
    interfaces: [{ name: 'eth0', mtu: 0, sandbox: '', mac: '' }],
    ips: [{ address: '10.0.0.2/24', interface: 0, gateway: '' }],
    routes: [{ dst: '0.0.0.0/0', priority: 0, table: 0, scope: 0 }],
    dns: { nameservers: [], search: [] },
  };
  t.strictSame(
    formatResult(r, '1.1.0'),
    {
      cniVersion: '1.1.0',
      interfaces: [{ name: 'eth0', mtu: 0 }],
      ips: [{ address: '10.0.0.2/24', interface: 0 }],
      routes: [{ dst: '0.0.0.0/0', priority: 0, table: 0, scope: 0 }],
    },
    'interface index 0 and route fields 0 are real values; empty dns is no dns',
  );
});

// The model fields a version can carry; the round trip loses exactly the others.
const visibleAt = (r: Result, v: string): Result => {
  const nonEmpty = <T>(list: T[] | undefined): T[] | undefined => (list?.length ? list : undefined);
  const clean = <T extends object>(o: T): T =>
    Object.fromEntries(Object.entries(o).filter(([, x]) => x !== undefined && x !== '')) as T;
  const dns =
    r.dns && (r.dns.nameservers?.length || r.dns.domain || r.dns.search?.length || r.dns.options?.length)
      ? r.dns
      : undefined;
  if (compareVersions(v, '0.3.0') < 0) {
    const first = (family: 4 | 6) => r.ips?.find((ip) => ip.address.includes(':') === (family === 6));
    const ips = [first(4), first(6)]
      .filter((ip) => ip !== undefined)
      .map((ip) => clean({ address: ip.address, gateway: ip.gateway }));
    const routes = [4, 6].flatMap((family) =>
      first(family as 4 | 6)
        ? (r.routes ?? [])
            .filter((rt) => rt.dst.includes(':') === (family === 6))
            .map((rt) => clean({ dst: rt.dst, gw: rt.gw }))
        : [],
    );
    return clean({ cniVersion: v, ips: nonEmpty(ips), routes: nonEmpty(routes), dns });
  }
  const v11 = compareVersions(v, '1.1.0') >= 0;
  return clean({
    cniVersion: v,
    interfaces: nonEmpty(
      r.interfaces?.map((i) => clean(v11 ? { ...i } : { name: i.name, mac: i.mac, sandbox: i.sandbox })),
    ),
    ips: nonEmpty(r.ips?.map((ip) => clean({ ...ip }))),
    routes: nonEmpty(r.routes?.map((rt) => clean(v11 ? { ...rt } : { dst: rt.dst, gw: rt.gw }))),
    dns,
  });
};

// parseResult's legacy path always yields both lists; an empty list and no list mean the same.
const dropEmptyLists = (r: Result): Result =>
  Object.fromEntries(Object.entries(r).filter(([, x]) => !(Array.isArray(x) && x.length === 0))) as Result;

const roundTrip = (r: Result, v: string): Result =>
  dropEmptyLists(parseResult(JSON.parse(JSON.stringify(formatResult(r, v))), v));

t.test('parseResult reads every shape back: parse(format(r, v), v) = r minus what v lacks', async (t) => {
  for (const v of SUPPORTED_VERSIONS) t.strictSame(roundTrip(DUAL_STACK, v), visibleAt(DUAL_STACK, v), v);
  t.strictSame(
    roundTrip(DUAL_STACK, '1.1.0'),
    { ...DUAL_STACK, interfaces: v11Json.interfaces },
    '1.1.0 loses nothing but the empty sandbox',
  );
  // Spot-check the helper against a literal, so the property cannot be vacuous.
  t.strictSame(visibleAt(DUAL_STACK, '0.2.0'), {
    cniVersion: '0.2.0',
    ips: [
      { address: '169.254.172.2/22', gateway: '169.254.172.1' },
      { address: 'fd00:ec2::5/64', gateway: 'fd00:ec2::1' },
    ],
    routes: [
      { dst: '0.0.0.0/0', gw: '169.254.172.1' },
      { dst: '169.254.170.2/32' },
      { dst: '::/0', gw: 'fd00:ec2::1' },
    ],
    dns: DNS,
  });
});

// A small seeded generator (mulberry32) so a failure reproduces.
const random = (seed: number) => () => {
  seed = (seed + 0x6d2b79f5) | 0;
  let x = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
  return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
};

const randomResult = (rnd: () => number): Result => {
  const int = (n: number) => Math.floor(rnd() * n);
  const maybe = <T>(value: T): T | undefined => (rnd() < 0.5 ? value : undefined);
  const addr = (v6: boolean, n: number) => (v6 ? `fd00::${n.toString(16)}` : `10.${int(256)}.${int(256)}.${n}`);
  const clean = <T extends object>(o: T): T =>
    Object.fromEntries(Object.entries(o).filter(([, x]) => x !== undefined)) as T;
  const interfaces = Array.from({ length: int(4) }, (_, i) =>
    clean({
      name: `if${i}`,
      mac: maybe(`0a:58:00:00:00:0${i}`),
      mtu: maybe(1500 + i),
      sandbox: maybe('/var/run/netns/x'),
      socketPath: maybe(`/run/s${i}`),
      pciID: maybe(`0000:00:0${i}.0`),
    }),
  );
  const ips = Array.from({ length: int(4) }, (_, i) => {
    const v6 = rnd() < 0.5;
    return clean({
      address: `${addr(v6, i + 2)}/${v6 ? 64 : 24}`,
      gateway: maybe(addr(v6, 1)),
      interface: interfaces.length && rnd() < 0.7 ? int(interfaces.length) : undefined,
    });
  });
  const routes = Array.from({ length: int(4) }, () => {
    const v6 = rnd() < 0.5;
    return clean({
      dst: v6 ? '::/0' : '0.0.0.0/0',
      gw: maybe(addr(v6, 1)),
      mtu: maybe(int(9000)),
      advmss: maybe(int(9000)),
      priority: maybe(int(2000)),
      table: maybe(int(255)),
      scope: maybe(int(255)),
    });
  });
  const dns =
    rnd() < 0.5
      ? undefined
      : clean({
          nameservers: [addr(false, 53)],
          domain: maybe('example.com'),
          search: maybe(['a.example']),
          options: maybe(['ndots:2']),
        });
  return clean({ cniVersion: '1.1.0', interfaces, ips, routes, dns });
};

t.test('round-trip property over 300 random results and every version', async (t) => {
  const rnd = random(20260823);
  let legacyRefusals = 0;
  let checked = 0;
  for (let n = 0; n < 300; n++) {
    const r = randomResult(rnd);
    for (const v of SUPPORTED_VERSIONS) {
      if (compareVersions(v, '0.3.0') < 0 && !r.ips?.length) {
        expectCniError(t, () => formatResult(r, v), ErrorCode.IncompatibleVersion);
        legacyRefusals++;
        continue;
      }
      const got = roundTrip(r, v);
      const want = visibleAt(r, v);
      if (JSON.stringify(sortKeys(got)) !== JSON.stringify(sortKeys(want))) {
        t.strictSame(got, want, `result #${n} at ${v}: ${JSON.stringify(r)}`);
        return;
      }
      checked++;
    }
  }
  t.ok(checked > 1500, `${checked} round trips matched`);
  t.ok(legacyRefusals > 0, 'the generator also produced results without addresses');
});

const sortKeys = (value: unknown): unknown => {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([k, v]) => [k, sortKeys(v)]),
    );
  }
  return value;
};

t.test('a result without cniVersion is read as the fallback version (item E37)', async (t) => {
  t.strictSame(parseResult({ ips: [{ address: '10.0.0.2/24' }] }, '1.0.0'), {
    cniVersion: '1.0.0',
    ips: [{ address: '10.0.0.2/24' }],
  });
  t.strictSame(parseResult({ ip4: { ip: '10.0.0.2/24', gateway: '10.0.0.1' } }, '0.2.0'), {
    cniVersion: '0.2.0',
    ips: [{ address: '10.0.0.2/24', gateway: '10.0.0.1' }],
    routes: [],
  });
  // The document's own version wins over the fallback.
  t.equal(
    parseResult({ cniVersion: '0.4.0', ips: [{ version: '4', address: '10.0.0.2/24' }] }, '1.1.0').cniVersion,
    '0.4.0',
  );
  // A legacy-shaped document labelled 0.3.x is still read by its shape.
  t.strictSame(parseResult({ cniVersion: '0.3.1', ip6: { ip: 'fd00::2/64' } }, '1.0.0'), {
    cniVersion: '0.3.1',
    ips: [{ address: 'fd00::2/64' }],
    routes: [],
  });
  // Unknown fields are tolerated (other implementations add their own).
  t.strictSame(
    parseResult({ cniVersion: '1.0.0', ips: [{ address: '10.0.0.2/24', extra: 1 }], 'x-vendor': true }, '1.0.0'),
    { cniVersion: '1.0.0', ips: [{ address: '10.0.0.2/24' }] },
  );
});

t.test('a bad interface index is code 6 (item D28: ips[].interface must index interfaces)', async (t) => {
  expectCniError(
    t,
    () =>
      parseResult(
        { cniVersion: '1.0.0', interfaces: [{ name: 'eth0' }], ips: [{ address: '10.0.0.2/24', interface: 1 }] },
        '1.0.0',
      ),
    ErrorCode.DecodeFailure,
    'invalid prevResult.ips.0.interface 1: no such interface in the result',
  );
  expectCniError(
    t,
    () =>
      parseResult(
        { cniVersion: '1.0.0', ips: [{ address: '10.0.0.2/24' }, { address: '10.0.0.3/24', interface: 0 }] },
        '1.0.0',
      ),
    ErrorCode.DecodeFailure,
    /ips\.1\.interface 0/,
  );
  for (const bad of [-1, 0.5, '0']) {
    expectCniError(
      t,
      () =>
        parseResult(
          { cniVersion: '1.0.0', interfaces: [{ name: 'eth0' }], ips: [{ address: '10.0.0.2/24', interface: bad }] },
          '1.0.0',
        ),
      ErrorCode.DecodeFailure,
      /prevResult\.ips\.0\.interface/,
    );
  }
  t.equal(
    parseResult(
      { cniVersion: '1.0.0', interfaces: [{ name: 'eth0' }], ips: [{ address: '10.0.0.2/24', interface: 0 }] },
      '1.0.0',
    ).ips?.[0]?.interface,
    0,
  );
});

t.test('malformed fields are code 6 and the message names the field and value', async (t) => {
  const cases: [unknown, string, RegExp][] = [
    [
      { cniVersion: '1.0.0', ips: [{ address: '10.0.0.2' }] },
      '1.0.0',
      /^invalid prevResult\.ips\.0\.address "10\.0\.0\.2": .*CIDR/,
    ],
    [{ cniVersion: '1.0.0', ips: [{ address: '10.0.0.2/33' }] }, '1.0.0', /ips\.0\.address "10\.0\.0\.2\/33"/],
    [{ cniVersion: '1.0.0', ips: [{ address: 'fd00::2/129' }] }, '1.0.0', /ips\.0\.address/],
    [{ cniVersion: '1.0.0', ips: [{ address: 'x/24' }] }, '1.0.0', /ips\.0\.address/],
    [
      { cniVersion: '1.0.0', ips: [{ address: '10.0.0.2/24', gateway: '10.0.0.1/24' }] },
      '1.0.0',
      /ips\.0\.gateway "10\.0\.0\.1\/24": must be an IP address/,
    ],
    [{ cniVersion: '1.0.0', routes: [{ dst: '0.0.0.0/0' }, { dst: 'default' }] }, '1.0.0', /routes\.1\.dst "default"/],
    [{ cniVersion: '1.1.0', routes: [{ dst: '0.0.0.0/0', gw: 'router' }] }, '1.1.0', /routes\.0\.gw "router"/],
    [{ cniVersion: '1.1.0', routes: [{ dst: '0.0.0.0/0', table: -1 }] }, '1.1.0', /routes\.0\.table/],
    [{ cniVersion: '0.4.0', ips: [{ version: '5', address: '10.0.0.2/24' }] }, '0.4.0', /ips\.0\.version "5"/],
    [{ cniVersion: '1.0.0', interfaces: [{ mac: '0a:58:00:00:00:01' }] }, '1.0.0', /interfaces\.0\.name: is required/],
    [{ cniVersion: '1.0.0', interfaces: {} }, '1.0.0', /interfaces.*must be an array/],
    [{ cniVersion: '0.2.0', ip4: { ip: '10.0.0.2' } }, '0.2.0', /prevResult\.ip4\.ip "10\.0\.0\.2"/],
    [
      { cniVersion: '0.2.0', ip6: { ip: 'fd00::2/64', routes: [{ dst: 'fd00::/200' }] } },
      '0.2.0',
      /ip6\.routes\.0\.dst/,
    ],
  ];
  for (const [doc, v, message] of cases) {
    expectCniError(t, () => parseResult(doc, v), ErrorCode.DecodeFailure, message);
  }
  for (const bad of [null, [], 'x', 3]) {
    expectCniError(
      t,
      () => parseResult(bad, '1.0.0'),
      ErrorCode.DecodeFailure,
      'invalid prevResult: must be a JSON object',
    );
  }
  // The caller's label is the prefix, so a delegate's bad output names the delegate.
  try {
    parseResult({ cniVersion: '1.0.0', ips: [{ address: 'nope' }] }, '1.0.0', 'ecs-ipam result');
    t.fail('should throw');
  } catch (error) {
    t.ok(error instanceof CniError);
    t.match((error as Error).message, /^invalid ecs-ipam result\.ips\.0\.address "nope"/);
  }
});
