// Writes schemas/*.json: JSON Schemas of every plugin config and of a conflist, generated from the
// zod schemas the plugins parse their stdin with, so an editor can check a conflist the way the
// plugins will. `npm run schemas` rewrites them; `npm run schemas -- --check` (and
// test/install/schemas.test.ts) fails when the committed files are not what the code generates.
// Each file has an absolute $id under SCHEMA_BASE, and the conflist schema's $refs ("ecs-eni.json")
// resolve against it, so a validator given the four files loads them as one set. The shapes of
// values come from the zod schemas (their checks, and the JSON Schema keywords the configs attach
// with described()); the rules between fields (a dialect, the CNI version, IPv6 and the MTU) are
// added here. test/install/schemas-ajv.test.ts holds the schemas and the plugins to one verdict.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import * as z from 'zod/mini';
import * as runtime from '../src/cni/runtime.js';
import { SUPPORTED_VERSIONS } from '../src/cni/version.js';
import * as ipam from '../src/ipam/config.js';
import * as bridge from '../src/plugins/bridge/config.js';
import * as eni from '../src/plugins/eni/config.js';

type JsonSchema = Record<string, unknown> & { properties?: Record<string, JsonSchema> };

const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const SCHEMA_DIR = join(ROOT, 'schemas');
// An identifier, not an address that serves the files: editors and validators are given the files
// from schemas/ (README.md, "JSON Schemas").
export const SCHEMA_BASE = 'https://tasknet.invalid/schemas/';

// The schemas by the names their modules export them under (a missing export fails here, naming it).
const exported = (module: Record<string, unknown>, name: string, file: string): z.ZodMiniType => {
  const schema = module[name];
  if (!schema || typeof schema !== 'object' || !('_zod' in schema))
    throw new Error(`${file} must export its zod schema as ${name}`);
  return schema as z.ZodMiniType;
};

const toJson = (schema: z.ZodMiniType): JsonSchema =>
  z.toJSONSchema(schema, { io: 'input', target: 'draft-2020-12', unrepresentable: 'any' }) as JsonSchema;

// Words for the fields, keyed by their path in the generated schema; a key the schema lacks is
// an error, so a renamed field cannot keep a stale description.
const describe = (schema: JsonSchema, words: Record<string, string>, what: string): JsonSchema => {
  for (const [path, text] of Object.entries(words)) {
    let node: JsonSchema | undefined = schema;
    for (const key of path.split('.')) node = node?.properties?.[key];
    if (!node) throw new Error(`${what}: no field ${path} to describe`);
    node.description = text;
  }
  return schema;
};

// A plugin entry of a conflist: its own fields, plus the `type` that selects it.
const pluginSchema = (type: string, title: string, schema: JsonSchema): JsonSchema => {
  const { $schema, properties = {}, required, ...rest } = schema;
  const { type: _, ...own } = properties;
  return {
    $schema,
    $id: `${SCHEMA_BASE}${type}.json`,
    title,
    type: 'object',
    properties: {
      type: { const: type, description: 'the plugin: an executable of this name in the CNI bin dir' },
      ...own,
    },
    required: ['type', ...((required as string[] | undefined) ?? []).filter((r) => r !== 'type')],
    ...rest,
  };
};

const MTU = 'link MTU; 0 or absent: the default';
// "the object has KEY" (the `properties` entry keeps Ajv's strict mode content), and "any of KEYS".
const has = (key: string, schema: JsonSchema = {}): JsonSchema => ({ properties: { [key]: schema }, required: [key] });
const anyOfKeys = (keys: readonly string[]): JsonSchema => ({ anyOf: keys.map((key) => has(key)) });
// Below 1280 the kernel turns IPv6 off on a link: the plugins refuse such an MTU with IPv6.
const IPV6_MTU = { properties: { mtu: { not: { type: 'number', minimum: 1, maximum: 1279 } } } };
const ROUTES = 'routes for the task, each {"dst": CIDR, "gw"?: IP}; without gw, via the gateway';

export const generateSchemas = (): Record<string, JsonSchema> => {
  const ipamSection = describe(
    toJson((exported(ipam, 'ipamConfigSchema', 'src/ipam/config.ts') as z.ZodMiniObject).shape.ipam as z.ZodMiniType),
    {
      id: 'the allocation key (the ECS agent sets the ENI MAC); default: CNI_CONTAINERID/CNI_IFNAME',
      dataDir: 'absolute path of the address store; default: $IPAM_DB_PATH, else /var/lib/tasknet/ipam',
      'ipv4-subnet': 'IPv4 subnet (CIDR, no host bits, unicast) to allocate from, e.g. 169.254.172.0/22; /1 to /30',
      'ipv4-address': "this exact address (with or without the subnet's prefix) instead of the next free one",
      'ipv4-gateway': "the gateway (the bridge's address); default: the subnet's first address",
      'ipv4-routes': ROUTES,
      'ipv6-subnet': 'IPv6 subnet (CIDR, no host bits, unicast) to allocate from; /1 to /126',
      'ipv6-address': 'this exact address instead of the next free one',
      'ipv6-gateway': "the gateway; default: the subnet's first address",
      'ipv6-routes': ROUTES,
    },
    'ecs-ipam',
  );
  const ecsIpam = pluginSchema(
    'ecs-ipam',
    'tasknet ecs-ipam: the ipam section of a config (ecs-bridge\'s "ipam")',
    ipamSection,
  );

  const bridgeJson = describe(
    toJson(exported(bridge, 'bridgeConfigSchema', 'src/plugins/bridge/config.ts')),
    {
      bridge: 'the host bridge, created on first use (an interface name: 1-15 bytes, no "/", ":" or spaces)',
      mtu: `${MTU} (1500); else 68-65535`,
      ipam: 'the IPAM plugin and its config; "type": "ecs-ipam" is checked against ecs-ipam.json',
    },
    'ecs-bridge',
  );
  const ipamProperty = bridgeJson.properties!.ipam!;
  bridgeJson.properties!.ipam = {
    ...ipamProperty,
    if: { properties: { type: { const: 'ecs-ipam' } }, required: ['type'] },
    then: { $ref: 'ecs-ipam.json' },
  };
  // ecs-ipam gives an IPv6 address from an ipv6-subnet: ADD refuses an MTU IPv6 cannot run on.
  bridgeJson.allOf = [
    {
      if: has('ipam', {
        type: 'object',
        properties: { type: { const: 'ecs-ipam' }, 'ipv6-subnet': {} },
        required: ['type', 'ipv6-subnet'],
      }),
      then: IPV6_MTU,
    },
  ];
  const ecsBridge = pluginSchema('ecs-bridge', 'tasknet ecs-bridge: a veth from the task to a host bridge', bridgeJson);

  const ecsEni = pluginSchema(
    'ecs-eni',
    'tasknet ecs-eni: an ENI (found by MAC or name) moved into the task netns',
    describe(
      toJson(exported(eni, 'eniConfigSchema', 'src/plugins/eni/config.ts')),
      {
        eni: 'ecs-eni dialect: the ENI id (eni-...), for log lines only',
        mac: "ecs-eni dialect: the ENI's MAC address; CNI_ARGS ENIMACAddress overrides it",
        'ip-addresses': "ecs-eni dialect: the task's addresses (CIDR); CNI_ARGS ENIIPAddresses overrides them",
        'gateway-ip-addresses':
          'ecs-eni dialect: at most one gateway per family, each a default route; CNI_ARGS GatewayIPAddresses',
        'block-instance-metadata': 'ecs-eni dialect: blackhole routes to 169.254.169.254 and fd00:ec2::254',
        'stay-down': 'ecs-eni dialect: move and rename the ENI, nothing else',
        eniName: "vpc-eni dialect: the ENI's link name in the host netns; CNI_ARGS ENIName overrides it",
        eniMACAddress: "vpc-eni dialect: the ENI's MAC address; CNI_ARGS ENIMACAddress overrides it",
        eniIPAddresses: "vpc-eni dialect: the task's addresses (CIDR); CNI_ARGS ENIIPAddresses overrides them",
        gatewayIPAddresses:
          'vpc-eni dialect: at most one gateway per family; CNI_ARGS GatewayIPAddresses overrides them',
        blockInstanceMetadata: 'vpc-eni dialect: blackhole routes to 169.254.169.254 and fd00:ec2::254',
        opStateDown: 'vpc-eni dialect: move and rename the ENI, nothing else',
        'ipv4-address': 'pre-2020 ecs-eni format: the IPv4 address, CIDR, or bare with subnetgateway-ipv4-address',
        'ipv6-address': 'pre-2020 ecs-eni format: the IPv6 address, CIDR, or bare meaning /64',
        'subnetgateway-ipv4-address':
          'pre-2020 ecs-eni format: the subnet (10.0.1.0/24) or its gateway (10.0.1.1/24); the gateway is the network address + 1',
        mtu: `${MTU} (leave the ENI's); else 68-65535, at least 1280 with an IPv6 address`,
      },
      'ecs-eni',
    ),
  );
  // Between fields: one dialect; the pre-2020 keys need ipv4-address (a bare one needs the subnet)
  // and do not mix with the ecs-eni lists that replaced them; no IPv6 address under 1280.
  const [ecsKeys, vpcKeys] = (['ecs-eni', 'vpc-eni'] as const).map((dialect) => Object.values(eni.FIELDS[dialect]));
  const legacyKeys = ['ipv4-address', 'ipv6-address', 'subnetgateway-ipv4-address'];
  const addressKeys = [eni.FIELDS['ecs-eni'].addresses!, eni.FIELDS['vpc-eni'].addresses!];
  ecsEni.allOf = [
    { not: { allOf: [anyOfKeys(ecsKeys!), anyOfKeys(vpcKeys!)] } },
    {
      not: {
        allOf: [anyOfKeys(legacyKeys), anyOfKeys([eni.FIELDS['ecs-eni'].addresses!, eni.FIELDS['ecs-eni'].gateways!])],
      },
    },
    { if: anyOfKeys(legacyKeys), then: has('ipv4-address') },
    { if: has('ipv4-address', { type: 'string', pattern: '^[^/]*$' }), then: has('subnetgateway-ipv4-address') },
    {
      if: {
        anyOf: [
          ...addressKeys.map((key) => has(key, { type: 'array', contains: { type: 'string', pattern: ':' } })),
          has('ipv6-address'),
        ],
      },
      then: IPV6_MTU,
    },
  ];

  const listJson = describe(
    toJson(exported(runtime, 'conflistSchema', 'src/cni/runtime.ts')),
    {
      cniVersion: 'the CNI spec version of the list; tasknet speaks 0.1.0 to 1.1.0',
      cniVersions: 'CNI 1.1.0: the versions the list can be used with; a runtime picks the highest it speaks',
      name: "the network name (also the ecs-ipam store's directory)",
      plugins: 'the chain, run in order on ADD and in reverse on DEL',
    },
    'conflist',
  );
  const plugins = listJson.properties!.plugins!;
  // ecs-ipam is delegated to (ecs-bridge's "ipam"), never a link of the chain itself.
  plugins.items = {
    ...(plugins.items as JsonSchema),
    allOf: (['ecs-eni', 'ecs-bridge'] as const).map((type) => ({
      if: { properties: { type: { const: type } }, required: ['type'] },
      then: { $ref: `${type}.json` },
    })),
  };
  // tasknet's runtime picks the highest version it speaks among cniVersion and cniVersions; none
  // given is 0.1.0, as libcni reads it.
  const versions = { enum: [...SUPPORTED_VERSIONS] };
  listJson.anyOf = [
    { not: anyOfKeys(['cniVersion', 'cniVersions']) },
    has('cniVersion', versions),
    has('cniVersions', { type: 'array', contains: versions }),
  ];
  const { $schema, ...list } = listJson;
  const conflist = {
    $schema,
    $id: `${SCHEMA_BASE}conflist.json`,
    title: "a CNI network configuration list (.conflist), tasknet's plugins checked",
    ...list,
  };

  return { 'conflist.json': conflist, 'ecs-bridge.json': ecsBridge, 'ecs-eni.json': ecsEni, 'ecs-ipam.json': ecsIpam };
};

export const renderSchemas = (): Record<string, string> =>
  Object.fromEntries(
    Object.entries(generateSchemas()).map(([name, schema]) => [name, `${JSON.stringify(schema, null, 2)}\n`]),
  );

// The generated files that differ from (or are missing in) schemas/.
export const staleSchemas = (): string[] =>
  Object.entries(renderSchemas())
    .filter(([name, text]) => {
      try {
        return readFileSync(join(SCHEMA_DIR, name), 'utf8') !== text;
      } catch {
        return true;
      }
    })
    .map(([name]) => name);

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  if (process.argv.includes('--check')) {
    const stale = staleSchemas();
    if (stale.length > 0) {
      process.stderr.write(`schemas/ is out of date (${stale.join(', ')}): run npm run schemas\n`);
      process.exit(1);
    }
  } else {
    for (const [name, text] of Object.entries(renderSchemas())) writeFileSync(join(SCHEMA_DIR, name), text);
  }
}
