import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import t, { type Test } from 'tap';
import { ErrorCode } from '../../src/cni/errors.js';
import { formatResult } from '../../src/cni/result.js';
import {
  CniRuntime,
  parseConflist,
  type CniRuntimeOptions,
  type NetworkConfigList,
  type RuntimeConf,
} from '../../src/cni/runtime.js';
import { expectCniError, expectCniRejection } from '../helpers/cni.js';
import { BIN, childEnv, FAKE_PLUGINS, run, unbuiltExecutables } from './process.js';
import { tempDir } from './temp.js';

// The runtime drives the two fake plugins in test/fixtures/cni-plugins (fake-a, fake-b), which log
// every call to FAKE_CNI_LOG as "<name> <VERB> <stdin>".

interface Call {
  plugin: string;
  command: string;
  stdin: Record<string, unknown>;
}

const setup = (t: Test, options: Partial<CniRuntimeOptions> = {}, env: Record<string, string> = {}) => {
  const dir = tempDir(t);
  const log = join(dir, 'calls.log');
  const cacheDir = join(dir, 'cache');
  const runtime = new CniRuntime({ cniPath: [FAKE_PLUGINS], cacheDir, env: { FAKE_CNI_LOG: log, ...env }, ...options });
  // Every call since the last look, then forget them.
  const calls = (): Call[] => {
    if (!existsSync(log)) return [];
    const lines = readFileSync(log, 'utf8').split('\n').filter(Boolean);
    writeFileSync(log, '');
    return lines.map((line) => {
      const [plugin = '', command = '', ...rest] = line.split(' ');
      return { plugin, command, stdin: JSON.parse(rest.join(' ')) as Record<string, unknown> };
    });
  };
  const verbs = (): string[] => calls().map((c) => `${c.plugin} ${c.command}`);
  const cacheFile = (network: string, rt: Pick<RuntimeConf, 'containerId' | 'ifname'>) =>
    join(cacheDir, 'results', `${network}-${rt.containerId}-${rt.ifname}`);
  return { dir, log, cacheDir, runtime, calls, verbs, cacheFile };
};

const PORTS = [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }];
const RT: RuntimeConf = {
  containerId: 'c0ffee',
  netns: '/var/run/netns/task-1',
  ifname: 'eth0',
  args: [
    ['IgnoreUnknown', '1'],
    ['K8S_POD_NAME', 'web'],
  ],
  capabilityArgs: { portMappings: PORTS, mac: '0a:58:00:00:00:09', ips: ['10.0.0.9/24'] },
};

const conflist = (fields: Record<string, unknown> = {}, plugins?: Record<string, unknown>[]): NetworkConfigList =>
  parseConflist(
    JSON.stringify({
      cniVersion: '1.1.0',
      name: 'tasknet-test',
      plugins: plugins ?? [
        { type: 'fake-a', capabilities: { portMappings: true, mac: false, bandwidth: true }, custom: { keep: ['me'] } },
        { type: 'fake-b', capabilities: {} },
      ],
      ...fields,
    }),
  );

// fake-a's and then fake-b's contribution to a result, as the plugins print them.
const A_RESULT = (v: string) => ({
  cniVersion: v,
  interfaces: [{ name: 'fake-a0', sandbox: RT.netns }],
  ips: [{ address: '10.0.0.2/24', interface: 0 }],
});
const AB_RESULT = (v: string) => ({
  cniVersion: v,
  interfaces: [
    { name: 'fake-a0', sandbox: RT.netns },
    { name: 'fake-b0', sandbox: RT.netns },
  ],
  ips: [
    { address: '10.0.0.2/24', interface: 0 },
    { address: 'fd00::2/64', interface: 1 },
  ],
});

t.test('parseConflist picks the highest version both sides speak (item B16) and checks the list', async (t) => {
  t.equal(conflist({ cniVersion: '1.0.0', cniVersions: ['0.4.0', '1.1.0'] }).cniVersion, '1.1.0');
  t.equal(
    conflist({ cniVersion: '0.4.0', cniVersions: ['0.3.1', '1.0.0', '9.0.0'] }).cniVersion,
    '1.0.0',
    'newer than tasknet: ignored',
  );
  t.equal(conflist({ cniVersion: '1.1.0', cniVersions: ['0.4.0'] }).cniVersion, '1.1.0', 'cniVersion counts too');
  t.equal(conflist({ cniVersion: undefined, cniVersions: ['0.10.0', '0.4.0'] }).cniVersion, '0.4.0');
  expectCniError(
    t,
    () => conflist({ cniVersion: '9.9.9' }),
    ErrorCode.IncompatibleVersion,
    'incompatible CNI versions',
  );
  expectCniError(t, () => conflist({ name: 'bad/name' }), ErrorCode.InvalidNetworkConfig, /invalid name "bad\/name"/);
  expectCniError(t, () => conflist({ name: undefined }), ErrorCode.InvalidNetworkConfig, /invalid name: is required/);
  expectCniError(t, () => conflist({}, []), ErrorCode.InvalidNetworkConfig, /invalid plugins/);
  expectCniError(t, () => conflist({}, [{ type: '' }]), ErrorCode.InvalidNetworkConfig, /invalid plugins\.0\.type/);
  expectCniError(
    t,
    () => conflist({}, [{ kind: 'fake-a' }]),
    ErrorCode.InvalidNetworkConfig,
    /invalid plugins\.0\.type: is required/,
  );
  expectCniError(
    t,
    () => parseConflist('{"cniVersion":'),
    ErrorCode.DecodeFailure,
    'error decoding network configuration list',
  );
  const flags = conflist({ disableCheck: 'true', disableGC: true });
  t.equal(flags.disableCheck, true, '"true" as a string, as libcni accepts');
  t.equal(flags.disableGC, true);
  t.equal(conflist().disableCheck, false);
  t.equal(
    conflist().source,
    JSON.stringify({ cniVersion: '1.1.0', name: 'tasknet-test', plugins: conflist().plugins }),
    'the text is kept for the cache',
  );
});

t.test('a legacy single-plugin .conf is up-converted to a one-plugin list (item B17)', async (t) => {
  const list = parseConflist('{"cniVersion":"0.4.0","name":"legacy","type":"fake-a","custom":1,"ipam":{"type":"x"}}');
  t.same(list.plugins, [{ type: 'fake-a', custom: 1, ipam: { type: 'x' } }]);
  t.equal(list.name, 'legacy');
  t.equal(list.cniVersion, '0.4.0');

  const { runtime, calls, cacheFile } = setup(t);
  const result = await runtime.add(list, RT);
  t.strictSame(formatResult(result, '0.4.0'), {
    ...A_RESULT('0.4.0'),
    ips: [{ version: '4', interface: 0, address: '10.0.0.2/24' }],
  });
  const [call] = calls();
  t.strictSame(call?.stdin, { type: 'fake-a', custom: 1, ipam: { type: 'x' }, name: 'legacy', cniVersion: '0.4.0' });
  t.ok(existsSync(cacheFile('legacy', RT)));
});

t.test(
  'ADD runs the list in order, chaining results, with name, version and runtimeConfig injected (items B16, B18, B19, E34, M85)',
  async (t) => {
    const { runtime, calls } = setup(t);
    const list = conflist({ cniVersion: '1.0.0', cniVersions: ['0.4.0', '1.1.0'] });
    const result = await runtime.add(list, RT);
    const [a, b, ...more] = calls();
    t.equal(more.length, 0);
    t.equal(`${a?.plugin} ${a?.command}`, 'fake-a ADD');
    t.equal(`${b?.plugin} ${b?.command}`, 'fake-b ADD');

    t.strictSame(
      a?.stdin,
      {
        type: 'fake-a',
        custom: { keep: ['me'] },
        name: 'tasknet-test',
        cniVersion: '1.1.0',
        runtimeConfig: { portMappings: PORTS }, // mac: false and bandwidth: not offered -> left out
      },
      'first plugin: no capabilities, no prevResult, runtimeConfig = capabilities ∩ capability args',
    );
    t.strictSame(
      b?.stdin,
      {
        type: 'fake-b',
        name: 'tasknet-test',
        cniVersion: '1.1.0',
        prevResult: A_RESULT('1.1.0'),
      },
      "second plugin: the first one's result as prevResult, no runtimeConfig when nothing matches",
    );
    t.strictSame(result, AB_RESULT('1.1.0'), "the last plugin's result is the list's");
  },
);

t.test("plugins get the runtime's CNI_* env and the caller's extra env", async (t) => {
  const record = join(tempDir(t), 'record.json');
  const { runtime } = setup(t, {}, { FAKE_CNI_RECORD: record, IPAM_DB_PATH: '/tmp/x.db', CNI_COMMAND: 'ignored' });
  await runtime.add(conflist({}, [{ type: 'fake-a' }]), RT);
  const { env } = JSON.parse(readFileSync(record, 'utf8')) as { env: Record<string, string> };
  t.match(
    env,
    {
      CNI_COMMAND: 'ADD',
      CNI_CONTAINERID: 'c0ffee',
      CNI_NETNS: '/var/run/netns/task-1',
      CNI_IFNAME: 'eth0',
      CNI_ARGS: 'IgnoreUnknown=1;K8S_POD_NAME=web',
      CNI_PATH: FAKE_PLUGINS,
      IPAM_DB_PATH: '/tmp/x.db',
    },
    "the runtime's own CNI_* win over the extra env",
  );
});

t.test(
  'the final ADD result is cached as libcni does: <cacheDir>/results/<net>-<id>-<ifname>, 0600 in 0700 (item M86)',
  async (t) => {
    const { runtime, cacheDir, cacheFile } = setup(t);
    const list = conflist();
    const result = await runtime.add(list, RT);
    const file = cacheFile('tasknet-test', RT);
    t.equal(statSync(file).mode & 0o777, 0o600, 'file mode 0600');
    t.equal(statSync(join(cacheDir, 'results')).mode & 0o777, 0o700, 'dir mode 0700');
    t.same(readdirSync(join(cacheDir, 'results')), ['tasknet-test-c0ffee-eth0'], 'no temp file left behind');
    const entry = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    t.strictSame(Object.keys(entry).sort(), [
      'capabilityArgs',
      'cniArgs',
      'config',
      'containerId',
      'ifName',
      'kind',
      'netns',
      'networkName',
      'result',
    ]);
    t.match(entry, {
      kind: 'cniCacheV1',
      containerId: 'c0ffee',
      ifName: 'eth0',
      networkName: 'tasknet-test',
      netns: '/var/run/netns/task-1',
    });
    t.strictSame(
      entry.cniArgs,
      [
        ['IgnoreUnknown', '1'],
        ['K8S_POD_NAME', 'web'],
      ],
      'Go [][2]string shape',
    );
    t.strictSame(entry.capabilityArgs, RT.capabilityArgs);
    t.equal(
      Buffer.from(entry.config as string, 'base64').toString(),
      list.source,
      'config: the conflist bytes, base64 as Go encodes []byte',
    );
    t.strictSame(entry.result, formatResult(result, '1.1.0'));
    t.strictSame(await runtime.cachedResult('tasknet-test', RT), result);
  },
);

t.test('a failed ADD stops at the failing plugin and caches nothing', async (t) => {
  const { runtime, verbs, cacheFile } = setup(t, {}, { FAKE_CNI_FAIL: 'fake-a:ADD' });
  const error = await expectCniRejection(t, runtime.add(conflist(), RT), 110, 'fake-a: fake-a refused ADD');
  t.equal(error?.details, 'FAKE_CNI_FAIL');
  t.same(verbs(), ['fake-a ADD'], 'fake-b never ran');
  t.notOk(existsSync(cacheFile('tasknet-test', RT)));
});

t.test('rollbackOnFailure: a failed ADD DELs the list in reverse and reports the ADD error', async (t) => {
  const { runtime, calls, cacheFile } = setup(t, { rollbackOnFailure: true }, { FAKE_CNI_FAIL: 'fake-b:ADD' });
  await expectCniRejection(t, runtime.add(conflist(), RT), 110, 'fake-b: fake-b refused ADD');
  const seen = calls();
  t.same(
    seen.map((c) => `${c.plugin} ${c.command}`),
    ['fake-a ADD', 'fake-b ADD', 'fake-b DEL', 'fake-a DEL'],
  );
  t.notOk(existsSync(cacheFile('tasknet-test', RT)));

  // A rollback DEL that fails does not hide the ADD error.
  const failing = setup(t, { rollbackOnFailure: true }, { FAKE_CNI_FAIL: 'fake-b:ADD,fake-b:DEL' });
  await expectCniRejection(t, failing.runtime.add(conflist(), RT), 110, 'fake-b: fake-b refused ADD');
  t.same(failing.verbs(), ['fake-a ADD', 'fake-b ADD', 'fake-b DEL']);

  // Without the option the runtime leaves cleanup to its caller, as libcni does.
  const plain = setup(t, {}, { FAKE_CNI_FAIL: 'fake-b:ADD' });
  await expectCniRejection(t, plain.runtime.add(conflist(), RT), 110);
  t.same(plain.verbs(), ['fake-a ADD', 'fake-b ADD']);
});

t.test('CHECK gives every plugin, in order, the cached result (items E36, G56)', async (t) => {
  const { runtime, calls, verbs } = setup(t);
  const list = conflist();
  await runtime.add(list, RT);
  calls();
  await runtime.check(list, RT);
  const seen = calls();
  t.same(
    seen.map((c) => `${c.plugin} ${c.command}`),
    ['fake-a CHECK', 'fake-b CHECK'],
  );
  for (const c of seen) t.strictSame(c.stdin.prevResult, AB_RESULT('1.1.0'), `${c.plugin} got the final ADD result`);
  t.strictSame(seen[0]?.stdin.runtimeConfig, { portMappings: PORTS }, 'runtimeConfig on CHECK too');

  await runtime.check(conflist({ disableCheck: true }), RT);
  t.same(verbs(), [], 'disableCheck: no plugin runs');

  await expectCniRejection(
    t,
    runtime.check(conflist({ cniVersion: '0.3.1' }), RT),
    ErrorCode.IncompatibleVersion,
    /does not support the CHECK command/,
  );
  t.same(verbs(), [], 'CHECK below 0.4.0 runs nothing');

  await expectCniRejection(
    t,
    runtime.check(list, { ...RT, containerId: 'never-added' }),
    ErrorCode.UnknownContainer,
    /no cached result/,
  );

  const failing = setup(t, {}, { FAKE_CNI_FAIL: 'fake-a:CHECK' });
  await failing.runtime.add(list, RT);
  failing.calls();
  await expectCniRejection(t, failing.runtime.check(list, RT), 110, 'fake-a: fake-a refused CHECK');
  t.same(failing.verbs(), ['fake-a CHECK'], 'CHECK stops at the first error');
});

t.test('DEL runs the list in reverse with the cached result and removes the cache (items E36, M85, M86)', async (t) => {
  const { runtime, calls, cacheFile } = setup(t);
  const list = conflist();
  await runtime.add(list, RT);
  calls();
  await runtime.del(list, RT);
  const seen = calls();
  t.same(
    seen.map((c) => `${c.plugin} ${c.command}`),
    ['fake-b DEL', 'fake-a DEL'],
  );
  for (const c of seen) t.strictSame(c.stdin.prevResult, AB_RESULT('1.1.0'), `${c.plugin} got prevResult`);
  t.strictSame(seen[1]?.stdin.runtimeConfig, { portMappings: PORTS });
  t.notOk(existsSync(cacheFile('tasknet-test', RT)), 'cache entry removed');

  // A second DEL (spec 1.0.0: must succeed) runs without prevResult.
  await runtime.del(list, RT);
  const again = calls();
  t.same(
    again.map((c) => `${c.plugin} ${c.command}`),
    ['fake-b DEL', 'fake-a DEL'],
  );
  t.notOk(
    again.some((c) => 'prevResult' in c.stdin),
    'no prevResult without a cache entry',
  );
});

t.test(
  'DEL: an unreadable cache entry is dropped and DEL goes on without prevResult (item M86, cni#1055)',
  async (t) => {
    const broken: [string, string][] = [
      ['empty file', ''],
      ['truncated JSON', '{"kind":"cniCacheV1","result":{'],
      ['not a cache entry', '{"kind":"somethingElse","result":{}}'],
      ['null result', '{"kind":"cniCacheV1","result":null}'],
      ['invalid result', '{"kind":"cniCacheV1","result":{"cniVersion":"1.1.0","ips":[{"address":"not-a-cidr"}]}}'],
    ];
    for (const [what, content] of broken) {
      const { runtime, calls, cacheFile } = setup(t);
      const list = conflist();
      await runtime.add(list, RT);
      calls();
      writeFileSync(cacheFile('tasknet-test', RT), content);
      await runtime.del(list, RT);
      const seen = calls();
      t.same(
        seen.map((c) => `${c.plugin} ${c.command}`),
        ['fake-b DEL', 'fake-a DEL'],
        `${what}: DEL ran`,
      );
      t.notOk(
        seen.some((c) => 'prevResult' in c.stdin),
        `${what}: without prevResult`,
      );
      t.notOk(existsSync(cacheFile('tasknet-test', RT)), `${what}: entry removed`);
    }
  },
);

t.test('DEL: below 0.4.0 there is no prevResult; a failing plugin stops DEL and keeps the cache', async (t) => {
  const old = setup(t);
  const v031 = conflist({ cniVersion: '0.3.1' });
  await old.runtime.add(v031, RT);
  old.calls();
  await old.runtime.del(v031, RT);
  const seen = old.calls();
  t.same(
    seen.map((c) => `${c.plugin} ${c.command}`),
    ['fake-b DEL', 'fake-a DEL'],
  );
  t.notOk(
    seen.some((c) => 'prevResult' in c.stdin),
    '0.3.1: DEL carries no prevResult',
  );
  t.notOk(existsSync(old.cacheFile('tasknet-test', RT)));

  const failing = setup(t, {}, { FAKE_CNI_FAIL: 'fake-b:DEL' });
  const list = conflist();
  await failing.runtime.add(list, RT);
  failing.calls();
  await expectCniRejection(t, failing.runtime.del(list, RT), 110, 'fake-b: fake-b refused DEL');
  t.same(failing.verbs(), ['fake-b DEL'], 'DEL stops at the first error');
  t.ok(existsSync(failing.cacheFile('tasknet-test', RT)), 'the cache stays for the retry');
});

t.test('the runtime validates the attachment before running anything (item M87)', async (t) => {
  const { runtime, verbs } = setup(t);
  await expectCniRejection(
    t,
    runtime.add(conflist(), { ...RT, containerId: 'abc/def' }),
    ErrorCode.InvalidEnvironment,
    /CNI_CONTAINERID/,
  );
  await expectCniRejection(
    t,
    runtime.add(conflist(), { ...RT, ifname: 'eth0123456789abc' }),
    ErrorCode.InvalidEnvironment,
    /CNI_IFNAME/,
  );
  await expectCniRejection(
    t,
    runtime.del(conflist(), { ...RT, ifname: '' }),
    ErrorCode.InvalidEnvironment,
    /CNI_IFNAME/,
  );
  await expectCniRejection(
    t,
    runtime.add(conflist(), { ...RT, ifname: 'eth#0' }),
    ErrorCode.InvalidEnvironment,
    /^invalid CNI_IFNAME "eth#0": contains a quote/,
  );
  t.same(verbs(), []);
});

t.test(
  'STATUS runs every plugin at 1.1.0, none below, and stops at the first error (items H57, H58, M85)',
  async (t) => {
    const { runtime, calls, verbs } = setup(t);
    await runtime.status(conflist());
    const seen = calls();
    t.same(
      seen.map((c) => `${c.plugin} ${c.command}`),
      ['fake-a STATUS', 'fake-b STATUS'],
    );
    t.strictSame(seen[1]?.stdin, { type: 'fake-b', name: 'tasknet-test', cniVersion: '1.1.0' });
    await runtime.status(conflist({ cniVersion: '1.0.0' }));
    t.same(verbs(), [], '1.0.0: no STATUS is sent');

    const failing = setup(t, {}, { FAKE_CNI_FAIL: 'fake-a:STATUS' });
    await expectCniRejection(t, failing.runtime.status(conflist()), 110, 'fake-a: fake-a refused STATUS');
    t.same(failing.verbs(), ['fake-a STATUS']);
  },
);

const ATT_1 = RT;
const ATT_2: RuntimeConf = {
  ...RT,
  containerId: 'deadbeef',
  netns: '/var/run/netns/task-2',
  capabilityArgs: { portMappings: [{ hostPort: 9090, containerPort: 90, protocol: 'udp' }] },
};

t.test(
  'GC with a valid set: stale cached attachments are DELed, then every plugin gets both keys (items I63, I70, M85)',
  async (t) => {
    const { runtime, calls, cacheFile } = setup(t);
    const list = conflist();
    await runtime.add(list, ATT_1);
    await runtime.add(list, ATT_2);
    await runtime.add(conflist({ name: 'other-net' }), ATT_2); // another network's attachment: not ours to touch
    calls();

    await runtime.gc(list, [{ containerId: ATT_1.containerId, ifname: ATT_1.ifname }]);
    const seen = calls();
    t.same(
      seen.map((c) => `${c.plugin} ${c.command}`),
      ['fake-b DEL', 'fake-a DEL', 'fake-a GC', 'fake-b GC'],
    );
    t.equal(
      seen[1]?.stdin.prevResult &&
        (seen[1].stdin.prevResult as { interfaces: { sandbox: string }[] }).interfaces[0]?.sandbox,
      '/var/run/netns/task-2',
      'the stale DEL is for the attachment not in the valid set, with its cached result',
    );
    t.strictSame(
      seen[1]?.stdin.runtimeConfig,
      { portMappings: ATT_2.capabilityArgs?.portMappings },
      'with its cached capability args',
    );
    const valid = [{ containerID: 'c0ffee', ifname: 'eth0' }];
    for (const c of seen.slice(2)) {
      const own = c.plugin === 'fake-a' ? { custom: { keep: ['me'] } } : {};
      t.strictSame(
        c.stdin,
        {
          type: c.plugin,
          ...own,
          name: 'tasknet-test',
          cniVersion: '1.1.0',
          'cni.dev/valid-attachments': valid,
          'cni.dev/attachments': valid,
        },
        `${c.plugin} GC stdin`,
      );
    }
    t.ok(existsSync(cacheFile('tasknet-test', ATT_1)), 'the valid attachment keeps its cache');
    t.notOk(existsSync(cacheFile('tasknet-test', ATT_2)), 'the stale one is gone');
    t.ok(existsSync(cacheFile('other-net', ATT_2)), "another network's entry is untouched");
  },
);

t.test('GC without a valid set first DELs every cached attachment of the network (item I70)', async (t) => {
  const { runtime, calls, cacheFile } = setup(t);
  const list = conflist();
  await runtime.add(list, ATT_1);
  await runtime.add(list, ATT_2);
  calls();
  await runtime.gc(list);
  const seen = calls();
  t.same(seen.map((c) => `${c.plugin} ${c.command}`).sort(), [
    'fake-a DEL',
    'fake-a DEL',
    'fake-a GC',
    'fake-b DEL',
    'fake-b DEL',
    'fake-b GC',
  ]);
  t.same(
    seen.slice(4).map((c) => `${c.plugin} ${c.command}`),
    ['fake-a GC', 'fake-b GC'],
    'GC comes after the DELs',
  );
  t.ok(
    seen.slice(0, 4).every((c) => c.stdin.prevResult),
    'each DEL had its cached result',
  );
  t.strictSame(seen[4]?.stdin['cni.dev/valid-attachments'], []);
  t.notOk(existsSync(cacheFile('tasknet-test', ATT_1)));
  t.notOk(existsSync(cacheFile('tasknet-test', ATT_2)));
});

t.test(
  'GC goes past errors and reports them all; below 1.1.0 no GC verb; disableGC does nothing (items I67, I69)',
  async (t) => {
    const failing = setup(t, {}, { FAKE_CNI_FAIL: 'fake-a:GC,fake-b:GC' });
    const error = await expectCniRejection(t, failing.runtime.gc(conflist(), []), ErrorCode.Plugin);
    t.match(error?.message, /fake-a: fake-a refused GC.*fake-b: fake-b refused GC/);
    t.same(failing.verbs(), ['fake-a GC', 'fake-b GC']);

    const { runtime, verbs, cacheFile } = setup(t);
    await runtime.add(conflist({ cniVersion: '1.0.0' }), ATT_1);
    verbs();
    await runtime.gc(conflist({ cniVersion: '1.0.0' }), [ATT_1]);
    t.same(verbs(), [], '1.0.0 with everything valid: nothing runs');
    await runtime.gc(conflist({ disableGC: true }), []);
    t.same(verbs(), [], 'disableGC: nothing runs, not even stale DELs');
    t.ok(existsSync(cacheFile('tasknet-test', ATT_1)));
    await runtime.gc(conflist({ cniVersion: '1.0.0' }), []);
    t.same(verbs(), ['fake-b DEL', 'fake-a DEL'], '1.0.0: stale attachments are still DELed, as libcni does');
  },
);

// ---- tasknet cni add|del, the cnitool of this package ----

t.test('black box: tasknet cni add/check/del with CNI_PATH at the fake plugins', async (t) => {
  t.same(unbuiltExecutables(), [], 'dist/ is built and current (npm run build)');
  const dir = tempDir(t);
  const log = join(dir, 'calls.log');
  const cacheDir = join(dir, 'cache');
  const file = join(dir, 'net.conflist');
  writeFileSync(
    file,
    JSON.stringify({
      cniVersion: '1.1.0',
      name: 'cli-net',
      plugins: [{ type: 'fake-a', capabilities: { portMappings: true } }, { type: 'fake-b' }],
    }),
  );
  const env = childEnv({
    CNI_PATH: FAKE_PLUGINS,
    FAKE_CNI_LOG: log,
    CNI_ARGS: 'K8S_POD_NAME=web',
    CAP_ARGS: JSON.stringify({ portMappings: PORTS }),
  });
  const tasknet = (...args: string[]) =>
    run(`${BIN}/tasknet`, { args: ['cni', ...args, '--cache-dir', cacheDir], env });
  const logged = () => {
    const lines = existsSync(log) ? readFileSync(log, 'utf8').split('\n').filter(Boolean) : [];
    writeFileSync(log, '');
    return lines.map((l) => {
      const [plugin, command, ...rest] = l.split(' ');
      return { verb: `${plugin} ${command}`, stdin: JSON.parse(rest.join(' ')) as Record<string, unknown> };
    });
  };

  const add = await tasknet('add', file, '/var/run/netns/not-needed', '--container-id', 'cli-1', '--ifname', 'eth1');
  t.equal(add.code, 0, add.stderr);
  t.strictSame(JSON.parse(add.stdout), {
    cniVersion: '1.1.0',
    interfaces: [
      { name: 'fake-a0', sandbox: '/var/run/netns/not-needed' },
      { name: 'fake-b0', sandbox: '/var/run/netns/not-needed' },
    ],
    ips: [
      { address: '10.0.0.2/24', interface: 0 },
      { address: 'fd00::2/64', interface: 1 },
    ],
  });
  const added = logged();
  t.same(
    added.map((c) => c.verb),
    ['fake-a ADD', 'fake-b ADD'],
  );
  t.strictSame(added[0]?.stdin.runtimeConfig, { portMappings: PORTS }, 'CAP_ARGS reach the plugin that asks for them');
  const entry = JSON.parse(readFileSync(join(cacheDir, 'results', 'cli-net-cli-1-eth1'), 'utf8')) as Record<
    string,
    unknown
  >;
  t.strictSame(entry.cniArgs, [['K8S_POD_NAME', 'web']], 'CNI_ARGS are passed through and cached');

  const check = await tasknet(
    'check',
    file,
    '/var/run/netns/not-needed',
    '--container-id',
    'cli-1',
    '--ifname',
    'eth1',
  );
  t.equal(check.code, 0, check.stderr);
  t.equal(check.stdout, '');
  t.same(
    logged().map((c) => c.verb),
    ['fake-a CHECK', 'fake-b CHECK'],
  );

  const del = await tasknet('del', file, '--container-id', 'cli-1', '--ifname', 'eth1');
  t.equal(del.code, 0, del.stderr);
  t.equal(del.stdout, '');
  const deleted = logged();
  t.same(
    deleted.map((c) => c.verb),
    ['fake-b DEL', 'fake-a DEL'],
  );
  t.ok(
    deleted.every((c) => c.stdin.prevResult),
    'DEL had the cached result',
  );
  t.notOk(existsSync(join(cacheDir, 'results', 'cli-net-cli-1-eth1')), 'cache entry removed');

  // Without --container-id the id is derived from the netns path, so add and del agree.
  t.equal((await tasknet('add', file, '/var/run/netns/derived')).code, 0);
  const [derived, ...others] = readdirSync(join(cacheDir, 'results'));
  t.equal(others.length, 0);
  // cnitool's rule with our prefix: the first 10 bytes of sha512(absolute netns path), in hex.
  t.equal(
    derived,
    `cli-net-tasknet-${createHash('sha512').update('/var/run/netns/derived').digest('hex').slice(0, 20)}-eth0`,
  );
  t.equal((await tasknet('del', file, '/var/run/netns/derived')).code, 0);
  t.same(readdirSync(join(cacheDir, 'results')), []);
  logged();

  // status and gc: the list is 1.1.0, so both reach every plugin; gc DELs what is not valid.
  const status = await tasknet('status', file);
  t.equal(status.code, 0, status.stderr);
  t.same(
    logged().map((c) => c.verb),
    ['fake-a STATUS', 'fake-b STATUS'],
  );
  t.equal((await tasknet('add', file, '/var/run/netns/a', '--container-id', 'keep')).code, 0);
  t.equal((await tasknet('add', file, '/var/run/netns/b', '--container-id', 'stale')).code, 0);
  logged();
  const gc = await tasknet('gc', file, '--valid', 'keep/eth0');
  t.equal(gc.code, 0, gc.stderr);
  const collected = logged();
  t.same(
    collected.map((c) => c.verb),
    ['fake-b DEL', 'fake-a DEL', 'fake-a GC', 'fake-b GC'],
  );
  t.strictSame(collected[2]?.stdin['cni.dev/valid-attachments'], [{ containerID: 'keep', ifname: 'eth0' }]);
  t.same(readdirSync(join(cacheDir, 'results')), ['cli-net-keep-eth0']);
  const badValid = await tasknet('gc', file, '--valid', 'keep');
  t.equal(badValid.code, 2);
  t.match(badValid.stderr, /expected CONTAINER-ID\/IFNAME/);

  // A plugin error: exit 1, the CNI error on stderr with its code, nothing on stdout.
  const failed = await run(`${BIN}/tasknet`, {
    args: ['cni', 'add', file, '/var/run/netns/x', '--cache-dir', cacheDir],
    env: { ...env, FAKE_CNI_FAIL: 'fake-b:ADD' },
  });
  t.equal(failed.code, 1);
  t.equal(failed.stdout, '');
  t.equal(failed.stderr, 'tasknet cni: fake-b: fake-b refused ADD (FAKE_CNI_FAIL) [CNI code 110]\n');

  const usage = await tasknet('add', file);
  t.equal(usage.code, 2, 'add without a netns is a usage error');
  t.match(usage.stderr, /add needs a NETNS/);

  // The list's own fields are refused like a plugin's: the field, what it must be, the CNI code.
  const badName = join(dirname(file), 'bad-name.conflist');
  writeFileSync(badName, JSON.stringify({ cniVersion: '1.0.0', name: 'a b', plugins: [{ type: 'fake-a' }] }));
  const refused = await tasknet('add', badName, '/var/run/netns/x');
  t.equal(refused.code, 1);
  t.equal(
    refused.stderr,
    'tasknet cni: invalid name "a b": must start with a letter or digit and contain only letters, digits, "_", "." and "-" [CNI code 7]\n',
  );
});
