// schemas/*.json under a standard validator (Ajv, draft 2020-12, strict mode) and stock ajv-cli:
// the example conflists validate; the schemas load as a set by their $ids; and the schema and
// the plugins cannot disagree: each config of a table of bad ones is refused by the schema and by
// the built plugins (run through `tasknet cni add`, as a runtime runs a conflist), each of a table
// of good edge cases passes both. The patterns are also compared with the plugins' own parsers.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import t from 'tap';
import { interfaceNameProblem } from '../../src/cni/env.js';
import { CniError } from '../../src/cni/errors.js';
import { parseCidr, parseIp } from '../../src/cni/ip.js';
import { PATTERNS } from '../../src/cni/json-schema.js';
import { parseConflist } from '../../src/cni/runtime.js';
import { ifNameProblem } from '../../src/netlink/validate.js';
import { SCHEMA_BASE, SCHEMA_DIR } from '../../scripts/gen-schemas.js';
import { childEnv, REPO, run, unbuiltExecutables } from '../cni/process.js';
import { tempDir } from '../cni/temp.js';
import { makeNetns, needsRoot } from '../helpers/netns.js';

type Json = Record<string, any>;

const SCHEMA_FILES = ['conflist.json', 'ecs-bridge.json', 'ecs-eni.json', 'ecs-ipam.json'];
const schemas = Object.fromEntries(
  SCHEMA_FILES.map((f) => [f, JSON.parse(readFileSync(join(SCHEMA_DIR, f), 'utf8')) as Json]),
);

// As a user would load them: every file added, the conflist schema compiled by its $id. Strict
// mode refuses unknown keywords and keywords of the wrong type for their schema.
const ajv = new Ajv2020({ allErrors: true, strict: true });
for (const schema of Object.values(schemas)) ajv.addSchema(schema);
const validate = ajv.getSchema(`${SCHEMA_BASE}conflist.json`)!;
// Of the conflist as a file holds it (JSON.stringify drops the undefined fields of the tables).
const schemaErrors = (conflist: unknown): string =>
  validate(JSON.parse(JSON.stringify(conflist))) ? '' : ajv.errorsText(validate.errors);

t.test('each schema has an absolute $id, and the $refs resolve against it to the other files', async (t) => {
  for (const [file, schema] of Object.entries(schemas)) {
    t.equal(schema.$id, new URL(file, SCHEMA_BASE).href, `${file}: $id`);
    t.equal(schema.$schema, 'https://json-schema.org/draft/2020-12/schema');
  }
  const refs = JSON.stringify(schemas).match(/"\$ref":"[^"]+"/g) ?? [];
  t.ok(refs.length >= 3, 'conflist -> ecs-eni, ecs-bridge; ecs-bridge -> ecs-ipam');
  for (const ref of refs) t.ok(SCHEMA_FILES.includes(JSON.parse(`{${ref}}`).$ref), `${ref} names a file of schemas/`);
  t.ok(validate, 'Ajv compiled conflist.json with the other three loaded by $id');
});

const exampleConflists = (dir = join(REPO, 'examples')): string[] =>
  readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? exampleConflists(join(dir, e.name)) : e.name.endsWith('.conflist') ? [join(dir, e.name)] : [],
  );

t.test('every example conflist validates against schemas/conflist.json', async (t) => {
  const files = exampleConflists();
  t.ok(files.length >= 3, files.join(' '));
  for (const file of files) t.equal(schemaErrors(JSON.parse(readFileSync(file, 'utf8'))), '', file.slice(REPO.length));
});

// Patterns and parsers, side by side: every prefix of one to four digits, and addresses built
// from pieces that make valid and near-valid spellings (a seeded generator: the same run each time).
t.test("the address patterns accept exactly what the plugins' parsers accept", async (t) => {
  const re = (source: string) => new RegExp(source, 'u');
  const [cidr4, cidr6, pool4, pool6, ip] = [
    PATTERNS.ipv4Cidr,
    PATTERNS.ipv6Cidr,
    PATTERNS.ipv4Pool,
    PATTERNS.ipv6Pool,
    PATTERNS.ip,
  ].map(re);
  let mismatches: string[] = [];
  for (let digits = 1; digits <= 4; digits++) {
    for (let n = 0; n < 10 ** digits; n++) {
      const p = String(n).padStart(digits, '0');
      const usable = (max: number) => /^\d{1,3}$/.test(p) && n >= 1 && n <= max;
      if (cidr4!.test(`10.0.0.0/${p}`) !== (parseCidr(`10.0.0.0/${p}`) !== undefined)) mismatches.push(`10.0.0.0/${p}`);
      if (cidr6!.test(`fd00::/${p}`) !== (parseCidr(`fd00::/${p}`) !== undefined)) mismatches.push(`fd00::/${p}`);
      if (pool4!.test(`10.0.0.0/${p}`) !== usable(30)) mismatches.push(`pool 10.0.0.0/${p}`);
      if (pool6!.test(`fd00::/${p}`) !== usable(126)) mismatches.push(`pool fd00::/${p}`);
    }
  }
  t.same(mismatches, [], 'prefix lengths');

  let seed = 16;
  const random = (n: number) => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  const pieces = [
    '',
    '0',
    '1',
    '00',
    'ff',
    'FFFF',
    'fffff',
    'g1',
    '1.2.3.4',
    '255.255.255.255',
    '256.0.0.1',
    '01.2.3.4',
    'abcd',
    '%eth0',
    ' ',
  ];
  const separators = [':', ':', ':', '.', '::'];
  mismatches = [];
  let valid = 0;
  for (let i = 0; i < 40000; i++) {
    const parts = Array.from({ length: random(11) }, () => pieces[random(pieces.length)]);
    const text = ['', '', ':', '::'][random(4)] + parts.join(separators[random(separators.length)]);
    const parses = parseIp(text) !== undefined;
    if (parses) valid++;
    if (ip!.test(text) !== parses) mismatches.push(text);
  }
  t.same(mismatches.slice(0, 20), [], 'addresses');
  t.ok(valid > 500, `${valid} valid addresses among them`);
});

t.test('the interface name pattern accepts exactly the ASCII names ecs-bridge accepts', async (t) => {
  const re = new RegExp(PATTERNS.ifName, 'u');
  const chars = ['a', 'Z', '0', '.', '-', '_', '/', ':', ' ', '\t', '%', '"', "'", '#', '\\', '\x00', '\x7f', '@', '+'];
  let seed = 7;
  const random = (n: number) => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  const names = ['', '.', '..', '...', 'a'.repeat(15), 'a'.repeat(16)];
  for (let i = 0; i < 20000; i++)
    names.push(Array.from({ length: random(18) }, () => chars[random(random(3) === 0 ? chars.length : 6)]).join(''));
  const mismatches = names.filter(
    (name) => re.test(name) !== ((interfaceNameProblem(name) ?? ifNameProblem(name)) === undefined),
  );
  t.same(
    mismatches.slice(0, 20).map((n) => JSON.stringify(n)),
    [],
  );
});

// The tables. Each case is a change to a small valid conflist (one plugin); `refusal` is what
// the plugin (or, for the list's own fields, tasknet's runtime) says, code and a part of the message.
interface Case {
  name: string;
  list: Json;
  refusal?: { code: number; msg: RegExp };
}

const MAC = '0e:74:6e:aa:00:09';
const bridgeList = (plugin: Json = {}, ipam: Json = {}, list: Json = {}): Json => ({
  cniVersion: '1.0.0',
  name: 'schema-test',
  ...list,
  plugins: [
    {
      type: 'ecs-bridge',
      bridge: 'tnschema0',
      ...plugin,
      ipam: { type: 'ecs-ipam', 'ipv4-subnet': '10.99.0.0/24', ...ipam },
    },
  ],
});
const eniList = (plugin: Json): Json => ({
  cniVersion: '1.0.0',
  name: 'schema-test',
  plugins: [{ type: 'ecs-eni', ...plugin }],
});
const vpc = (fields: Json = {}): Json =>
  eniList({ eniMACAddress: MAC, eniIPAddresses: ['10.0.1.5/24'], gatewayIPAddresses: ['10.0.1.1'], ...fields });

const refused = (code: number, msg: RegExp) => ({ refusal: { code, msg } });
const BAD: Case[] = [
  { name: 'bridge mtu -5', list: bridgeList({ mtu: -5 }), ...refused(7, /invalid mtu -5/) },
  { name: 'bridge mtu 67', list: bridgeList({ mtu: 67 }), ...refused(7, /invalid mtu 67/) },
  { name: 'bridge mtu 65536', list: bridgeList({ mtu: 65536 }), ...refused(7, /invalid mtu 65536/) },
  { name: 'bridge mtu 1500.5', list: bridgeList({ mtu: 1500.5 }), ...refused(7, /invalid mtu 1500.5/) },
  { name: 'bridge mtu "1500"', list: bridgeList({ mtu: '1500' }), ...refused(7, /invalid mtu "1500"/) },
  {
    name: 'a 27-character bridge name',
    list: bridgeList({ bridge: 'tasknet-bridge-with-27-char' }),
    ...refused(7, /invalid bridge .*longer than 15 bytes/),
  },
  { name: 'bridge name with ":"', list: bridgeList({ bridge: 'br:0' }), ...refused(7, /invalid bridge/) },
  { name: 'bridge name with a space', list: bridgeList({ bridge: 'br 0' }), ...refused(7, /invalid bridge/) },
  { name: 'bridge name starting with "-"', list: bridgeList({ bridge: '-br0' }), ...refused(7, /invalid bridge/) },
  { name: 'bridge name with "#"', list: bridgeList({ bridge: 'br#0' }), ...refused(7, /invalid bridge/) },
  { name: 'empty bridge name', list: bridgeList({ bridge: '' }), ...refused(7, /invalid bridge/) },
  { name: 'bridge name ".."', list: bridgeList({ bridge: '..' }), ...refused(7, /invalid bridge/) },
  {
    name: 'ipv4-subnet /33',
    list: bridgeList({}, { 'ipv4-subnet': '10.99.0.0/33' }),
    ...refused(7, /ipam.ipv4-subnet "10.99.0.0\/33"/),
  },
  {
    name: 'ipv4-subnet /31',
    list: bridgeList({}, { 'ipv4-subnet': '10.99.0.0/31' }),
    ...refused(7, /ipam.ipv4-subnet .*longest usable prefix is \/30/),
  },
  {
    name: 'ipv4-subnet /0',
    list: bridgeList({}, { 'ipv4-subnet': '0.0.0.0/0' }),
    ...refused(7, /ipam.ipv4-subnet "0.0.0.0\/0"/),
  },
  {
    name: 'ipv4-subnet without a prefix',
    list: bridgeList({}, { 'ipv4-subnet': '10.99.0.0' }),
    ...refused(7, /ipam.ipv4-subnet .*CIDR/),
  },
  {
    name: 'ipv4-subnet an IPv6 one',
    list: bridgeList({}, { 'ipv4-subnet': 'fd00::/64' }),
    ...refused(7, /must be an IPv4 subnet/),
  },
  {
    name: 'ipv4-subnet 10.99.0.256/24',
    list: bridgeList({}, { 'ipv4-subnet': '10.99.0.256/24' }),
    ...refused(7, /ipam.ipv4-subnet/),
  },
  {
    name: 'ipv6-subnet /127',
    list: bridgeList({}, { 'ipv6-subnet': 'fd00::/127' }),
    ...refused(7, /ipam.ipv6-subnet .*\/126/),
  },
  {
    name: 'ipv4-address not an address',
    list: bridgeList({}, { 'ipv4-address': '10.99.0.300' }),
    ...refused(7, /ipam.ipv4-address/),
  },
  {
    name: 'ipv4-gateway with a prefix',
    list: bridgeList({}, { 'ipv4-gateway': '10.99.0.1/24' }),
    ...refused(7, /ipam.ipv4-gateway .*must be an IP address/),
  },
  {
    name: 'ipv4-routes dst without a prefix',
    list: bridgeList({}, { 'ipv4-routes': [{ dst: '169.254.170.2' }] }),
    ...refused(7, /ipam.ipv4-routes.0.dst/),
  },
  {
    name: 'ipv4-routes dst an IPv6 one',
    list: bridgeList({}, { 'ipv4-routes': [{ dst: '::/0' }] }),
    ...refused(7, /must be an IPv4 destination/),
  },
  {
    name: 'ipv4-routes gw an IPv6 one',
    list: bridgeList({}, { 'ipv4-routes': [{ dst: '0.0.0.0/0', gw: 'fd00::1' }] }),
    ...refused(7, /ipam.ipv4-routes.0.gw/),
  },
  {
    name: 'relative dataDir',
    list: bridgeList({}, { dataDir: 'var/lib/x' }),
    ...refused(7, /ipam.dataDir .*absolute/),
  },
  {
    name: 'dataDir with ".."',
    list: bridgeList({}, { dataDir: '/var/lib/../x' }),
    ...refused(7, /ipam.dataDir .*"\.\."/),
  },
  {
    name: 'ipam id of 1025 characters',
    list: bridgeList({}, { id: 'x'.repeat(1025) }),
    ...refused(7, /invalid ipam.id/),
  },
  {
    name: 'bridge mtu 1279 with an ipv6-subnet',
    list: bridgeList({ mtu: 1279 }, { 'ipv6-subnet': 'fd00:99::/64' }),
    ...refused(7, /invalid mtu 1279: IPv6/),
  },
  {
    name: 'MAC of five octets',
    list: vpc({ eniMACAddress: '0e:74:6e:aa:00' }),
    ...refused(7, /invalid eniMACAddress .*must be a MAC address/),
  },
  {
    name: 'MAC with a non-hex digit',
    list: vpc({ eniMACAddress: '0e:74:6e:aa:00:0g' }),
    ...refused(7, /invalid eniMACAddress/),
  },
  {
    name: 'MAC with mixed separators',
    list: vpc({ eniMACAddress: '0e:74-6e:aa:00:09' }),
    ...refused(7, /invalid eniMACAddress/),
  },
  {
    name: 'multicast MAC',
    list: vpc({ eniMACAddress: '01:00:5e:00:00:01' }),
    ...refused(7, /is a multicast MAC address/),
  },
  {
    name: 'all-zero MAC',
    list: vpc({ eniMACAddress: '00-00-00-00-00-00' }),
    ...refused(7, /is the all-zero MAC address/),
  },
  {
    name: 'ecs-eni mac without colons',
    list: eniList({ mac: '0e746eaa0009', 'ip-addresses': ['10.0.1.5/24'] }),
    ...refused(7, /invalid mac /),
  },
  {
    name: 'ENI address without a prefix',
    list: vpc({ eniIPAddresses: ['10.0.1.5'] }),
    ...refused(7, /invalid eniIPAddresses.0/),
  },
  {
    name: 'ENI address /33',
    list: vpc({ eniIPAddresses: ['10.0.1.5/33'] }),
    ...refused(7, /invalid eniIPAddresses.0/),
  },
  {
    name: 'ENI address twice',
    list: vpc({ eniIPAddresses: ['10.0.1.5/24', '10.0.1.5/24'] }),
    ...refused(7, /repeats the address/),
  },
  {
    name: 'gateway with a prefix',
    list: vpc({ gatewayIPAddresses: ['10.0.1.1/24'] }),
    ...refused(7, /invalid gatewayIPAddresses.0/),
  },
  {
    name: 'three gateways',
    list: vpc({
      eniIPAddresses: ['10.0.1.5/24', '2001:db8::5/64'],
      gatewayIPAddresses: ['10.0.1.1', '2001:db8::1', '10.0.1.2'],
    }),
    ...refused(7, /a second IPv4 gateway/),
  },
  {
    name: 'ENI name of 16 characters',
    list: vpc({ eniMACAddress: undefined, eniName: 'eni0123456789abc' }),
    ...refused(7, /invalid eniName/),
  },
  {
    name: 'ENI name with "/"',
    list: vpc({ eniMACAddress: undefined, eniName: 'eni/0' }),
    ...refused(7, /invalid eniName/),
  },
  { name: 'ecs-eni and vpc-eni fields mixed', list: vpc({ mac: MAC }), ...refused(7, /mixes ecs-eni fields/) },
  {
    name: 'empty ecs-eni eni id',
    list: eniList({ eni: '', mac: MAC, 'ip-addresses': ['10.0.1.5/24'] }),
    ...refused(7, /invalid eni "": must not be empty/),
  },
  { name: 'ENI mtu 67', list: vpc({ mtu: 67 }), ...refused(7, /invalid mtu 67/) },
  { name: 'ENI mtu -5', list: vpc({ mtu: -5 }), ...refused(7, /invalid mtu -5/) },
  {
    name: 'ENI mtu 1000 with an IPv6 address',
    list: vpc({ mtu: 1000, eniIPAddresses: ['10.0.1.5/24', '2001:db8::5/64'] }),
    ...refused(7, /invalid mtu 1000: must be at least 1280/),
  },
  {
    name: 'pre-2020 subnet without ipv4-address',
    list: eniList({ mac: MAC, 'subnetgateway-ipv4-address': '10.0.1.1/24' }),
    ...refused(7, /missing required parameter ipv4-address/),
  },
  {
    name: 'pre-2020 bare ipv4-address without a subnet',
    list: eniList({ mac: MAC, 'ipv4-address': '10.0.1.5' }),
    ...refused(7, /invalid ipv4-address .*has no prefix length/),
  },
  {
    name: 'pre-2020 subnet /31',
    list: eniList({ mac: MAC, 'ipv4-address': '10.0.1.5', 'subnetgateway-ipv4-address': '10.0.1.4/31' }),
    ...refused(7, /subnetgateway-ipv4-address/),
  },
  {
    name: 'pre-2020 keys with ip-addresses',
    list: eniList({ mac: MAC, 'ipv4-address': '10.0.1.5/24', 'ip-addresses': ['10.0.1.6/24'] }),
    ...refused(7, /pre-2020 ecs-eni key/),
  },
  {
    name: 'unsupported cniVersion',
    list: bridgeList({}, {}, { cniVersion: '2.0.0' }),
    ...refused(1, /incompatible CNI versions/),
  },
  {
    name: 'no supported version in cniVersions',
    list: bridgeList({}, {}, { cniVersion: undefined, cniVersions: ['2.0.0', '9.9.9'] }),
    ...refused(1, /incompatible CNI versions/),
  },
  {
    name: 'network name with a space',
    list: bridgeList({}, {}, { name: 'schema test' }),
    ...refused(7, /invalid name/),
  },
];

// Good edge cases: the bridge ones ADD (and are removed again), the ENI ones get as far as looking
// for the ENI, which the test's host netns does not have (code 11: try again later).
const GOOD: Case[] = [
  { name: 'the bridge list with "$schema"', list: { $schema: `${SCHEMA_BASE}conflist.json`, ...bridgeList() } },
  { name: 'bridge mtu 0', list: bridgeList({ mtu: 0 }) },
  { name: 'bridge mtu 68', list: bridgeList({ mtu: 68 }) },
  { name: 'bridge mtu 65535', list: bridgeList({ mtu: 65535 }) },
  { name: 'a 15-character bridge name', list: bridgeList({ bridge: 'tnschema-bridge' }) },
  { name: 'bridge name with "." and "@"', list: bridgeList({ bridge: 'br.0@x' }) },
  { name: 'ipv4-subnet /30', list: bridgeList({}, { 'ipv4-subnet': '10.99.1.0/30' }) },
  { name: 'ipv4-subnet prefix with a leading zero', list: bridgeList({}, { 'ipv4-subnet': '10.99.2.0/024' }) },
  {
    name: 'ipv4-address with a prefix, gateway, routes',
    list: bridgeList(
      {},
      {
        // A subnet of its own: cases run four at a time on one store, and another case's
        // allocation in 10.99.0.0/24 may hold .9 at that moment.
        'ipv4-subnet': '10.99.3.0/24',
        'ipv4-address': '10.99.3.9/24',
        'ipv4-gateway': '10.99.3.254',
        'ipv4-routes': [{ dst: '169.254.170.2/32' }, { dst: '10.98.0.0/16', gw: '10.99.3.254' }],
      },
    ),
  },
  {
    name: 'dual stack, ipv6-subnet /126, mtu 1280',
    list: bridgeList({ mtu: 1280 }, { 'ipv6-subnet': 'fd00:99::/126', 'ipv6-routes': [{ dst: '::/0' }] }),
  },
  {
    name: 'cniVersions with one supported version',
    list: bridgeList({}, {}, { cniVersion: '9.9.9', cniVersions: ['9.9.9', '1.1.0'] }),
  },
  { name: 'vpc-eni: MAC in capitals with hyphens', list: vpc({ eniMACAddress: '0E-74-6E-AA-00-09' }) },
  { name: 'vpc-eni: a 15-character ENI name', list: vpc({ eniMACAddress: undefined, eniName: 'eni0123456789ab' }) },
  {
    name: 'vpc-eni: dual stack, mtu 1280',
    list: vpc({
      mtu: 1280,
      eniIPAddresses: ['10.0.1.5/24', '2001:db8::5/64'],
      gatewayIPAddresses: ['10.0.1.1', 'fe80::1'],
    }),
  },
  { name: 'vpc-eni: IPv4 only, mtu 68', list: vpc({ mtu: 68 }) },
  { name: 'vpc-eni: a /32 address', list: vpc({ eniIPAddresses: ['10.0.1.5/32'] }) },
  {
    name: 'ecs-eni dialect',
    list: eniList({
      eni: 'eni-0abc',
      mac: MAC,
      'ip-addresses': ['10.0.1.5/24'],
      'gateway-ip-addresses': ['10.0.1.1'],
      'block-instance-metadata': true,
    }),
  },
  {
    name: 'pre-2020 format',
    list: eniList({
      mac: MAC,
      'ipv4-address': '10.0.1.5',
      'subnetgateway-ipv4-address': '10.0.1.1/24',
      'ipv6-address': '2001:db8::5',
    }),
  },
];

t.test('bad configs: the schema refuses each', async (t) => {
  for (const c of BAD) t.not(schemaErrors(c.list), '', c.name);
});

t.test('good edge configs: the schema accepts each', async (t) => {
  for (const c of GOOD) t.equal(schemaErrors(c.list), '', c.name);
});

const listRefusal = (list: Json): number | undefined => {
  try {
    parseConflist(JSON.stringify(list));
    return undefined;
  } catch (error) {
    return error instanceof CniError ? error.code : undefined;
  }
};

// The built plugins, through tasknet's runtime, each case in a "host" and a task netns of its own.
t.test('the plugins give the same verdicts', { skip: needsRoot }, async (t) => {
  t.same(unbuiltExecutables(), [], 'dist/ is built and current (npm run build)');
  const dir = tempDir(t, 'tasknet-schemas-');
  const env = childEnv({ CNI_PATH: join(REPO, 'bin'), IPAM_DB_PATH: join(dir, 'ipam') });
  const verdict = async (c: Case, n: number): Promise<{ code: number; stderr: string }> => {
    const [host, task] = await makeNetns(t, 2, 'tnsc');
    const file = join(dir, `case-${n}.conflist`);
    writeFileSync(file, JSON.stringify(c.list));
    const cni = (verb: string) =>
      run('nsenter', {
        env,
        args: [
          `--net=/var/run/netns/${host}`,
          process.execPath,
          join(REPO, 'dist', 'tasknet.cjs'),
          'cni',
          verb,
          file,
          `/var/run/netns/${task}`,
          '--ifname',
          'eth0',
          '--container-id',
          `case-${n}`,
          '--cache-dir',
          join(dir, 'cache'),
        ],
      });
    const add = await cni('add');
    if (add.code === 0) {
      const del = await cni('del');
      t.equal(del.code, 0, `${c.name}: DEL after ADD ${del.stderr}`);
      return { code: 0, stderr: add.stderr };
    }
    // The list's own fields are the runtime's to refuse, before any plugin runs, and `tasknet cni`
    // prints no code for them: the code is its list parser's, run here.
    const code = /\[CNI code (\d+)\]/.exec(add.stderr)?.[1] ?? listRefusal(c.list);
    return { code: Number(code ?? -1), stderr: add.stderr };
  };
  // Four cases at a time (each is two Node start-ups and a few netns), results in table order.
  const cases = [...BAD, ...GOOD];
  const results: { code: number; stderr: string }[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      while (next < cases.length) {
        const i = next++;
        results[i] = await verdict(cases[i]!, i);
      }
    }),
  );
  cases.forEach((c, i) => {
    const { code, stderr } = results[i]!;
    if (c.refusal) {
      t.equal(code, c.refusal.code, `${c.name}: refused with code ${c.refusal.code}`);
      t.match(stderr, c.refusal.msg, `${c.name}: ${stderr.trim()}`);
    } else {
      const eni = c.list.plugins[0].type === 'ecs-eni';
      t.equal(
        code,
        eni ? 11 : 0,
        `${c.name}: ${eni ? 'past the config, looking for the ENI' : 'ADD and DEL succeed'} ${stderr.trim()}`,
      );
    }
  });
});

// The command README.md gives, with stock ajv-cli: it reads files by their extension, so a
// .conflist is given a .json name first.
export const AJV_CLI =
  "npx ajv validate --spec=draft2020 --strict=true --all-errors -s schemas/conflist.json -r 'schemas/ecs-*.json' -d";

t.test('stock ajv-cli: the README command passes a good file and fails a bad one', async (t) => {
  const readme = readFileSync(join(REPO, 'README.md'), 'utf8');
  t.ok(readme.includes(`${AJV_CLI} /tmp/tasknet-pod.json`), 'README gives this command');
  t.ok(readme.includes('cp examples/cni/tasknet-pod.conflist /tmp/tasknet-pod.json'), 'and the copy before it');
  const dir = tempDir(t, 'tasknet-ajv-cli-');
  const good = join(dir, 'tasknet-pod.json');
  writeFileSync(good, readFileSync(join(REPO, 'examples/cni/tasknet-pod.conflist')));
  const bad = join(dir, 'bad.json');
  writeFileSync(
    bad,
    JSON.stringify(bridgeList({ mtu: -5, bridge: 'tasknet-bridge-with-27-char' }, { 'ipv4-subnet': '10.99.0.0/33' })),
  );
  const ajvCli = (file: string) => {
    try {
      return {
        code: 0,
        out: execFileSync('bash', ['-c', `${AJV_CLI} ${file}`], { cwd: REPO, encoding: 'utf8', stdio: 'pipe' }),
      };
    } catch (error) {
      const e = error as { status: number; stdout: string; stderr: string };
      return { code: e.status, out: `${e.stdout}${e.stderr}` };
    }
  };
  const passed = ajvCli(good);
  t.equal(passed.code, 0, passed.out);
  t.match(passed.out, `${good} valid`);
  const failed = ajvCli(bad);
  t.equal(failed.code, 1, 'exit 1: invalid');
  t.match(failed.out, `${bad} invalid`);
  for (const path of ['/plugins/0/mtu', '/plugins/0/bridge', '/plugins/0/ipam/ipv4-subnet']) t.match(failed.out, path);
});

// The editor settings README.md gives: valid JSON, a url that is the schema, a fileMatch that
// takes every example conflist, and a "$schema" path that leads from examples/cni/ to the schema.
t.test('README: the VS Code settings and the "$schema" path name the schema', async (t) => {
  const readme = readFileSync(join(REPO, 'README.md'), 'utf8');
  const block = /```json\n(\{\n {2}"files\.associations"[\s\S]*?)```/.exec(readme)?.[1];
  t.ok(block, 'README has the settings block');
  const settings = JSON.parse(block ?? '{}') as {
    'files.associations': Record<string, string>;
    'json.schemas': { fileMatch: string[]; url: string }[];
  };
  t.same(settings['files.associations'], { '*.conflist': 'json' });
  const [entry] = settings['json.schemas'];
  t.equal(resolve(REPO, entry!.url), join(SCHEMA_DIR, 'conflist.json'));
  const glob = new RegExp(`^${entry!.fileMatch[0]!.replaceAll('.', '\\.').replaceAll('*', '.*')}$`);
  for (const file of exampleConflists()) t.match(basename(file), glob);
  const schemaKey = /"\$schema": "([^"]+)"/.exec(readme)?.[1];
  t.equal(schemaKey, '../../schemas/conflist.json');
  t.ok(existsSync(resolve(REPO, 'examples/cni', schemaKey!)), 'from examples/cni/ it is the schema');
});
