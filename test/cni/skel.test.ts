import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import t, { type Test } from 'tap';
import { CniError, ErrorCode } from '../../src/cni/errors.js';
import { formatResult, type Result } from '../../src/cni/result.js';
import { runPlugin, type PluginDefinition, type PluginHandlers, type PluginRequest } from '../../src/cni/skel.js';
import { SUPPORTED_VERSIONS } from '../../src/cni/version.js';
import { BIN, childEnv, oneJsonDocument, REPO, run, unbuiltExecutables } from './process.js';

const RESULT: Result = {
  cniVersion: '1.1.0',
  interfaces: [{ name: 'eth0', mac: '0a:58:00:00:00:01', mtu: 9001, sandbox: '/var/run/netns/task' }],
  ips: [
    { address: '10.0.0.2/24', gateway: '10.0.0.1', interface: 0 },
    { address: 'fd00::2/64', interface: 0 },
  ],
  routes: [{ dst: '0.0.0.0/0', gw: '10.0.0.1', priority: 10 }],
};

const ENV = {
  CNI_CONTAINERID: 'c0ffee',
  CNI_NETNS: '/var/run/netns/task',
  CNI_IFNAME: 'eth0',
  CNI_PATH: '/opt/cni/bin',
};
const config = (cniVersion: string, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ cniVersion, name: 'net', type: 'test', ...extra });

// A definition whose handlers the test supplies, counting how often the skel loads them.
const definition = (handlers: Partial<PluginHandlers>, extra: Partial<PluginDefinition> = {}) => {
  const seen: PluginRequest[] = [];
  let loads = 0;
  const def: PluginDefinition = {
    name: 'test-plugin',
    about: 'test plugin',
    load: async () => {
      loads++;
      return {
        add: async (req) => {
          seen.push(req);
          return handlers.add ? handlers.add(req) : RESULT;
        },
        del: async (req) => {
          seen.push(req);
          await handlers.del?.(req);
        },
        ...(handlers.check && { check: handlers.check }),
        ...(handlers.status && { status: handlers.status }),
        ...(handlers.gc && { gc: handlers.gc }),
      };
    },
    ...extra,
  };
  return { def, seen, loads: () => loads };
};

t.test("VERSION answers with the request's cniVersion and never loads the handlers (items C21-C23)", async (t) => {
  const { def, loads } = definition({});
  for (const v of ['0.2.0', '1.0.0', '1.1.0']) {
    const out = await runPlugin(def, { env: { CNI_COMMAND: 'VERSION' }, stdin: `{"cniVersion":"${v}"}` });
    t.equal(out.exitCode, 0);
    t.equal(out.stdout, `${JSON.stringify({ cniVersion: v, supportedVersions: SUPPORTED_VERSIONS })}\n`, v);
  }
  // Empty, garbage, oversized or odd stdin still answers (libcni's skel ignores stdin here).
  for (const stdin of [
    '',
    'garbage',
    'null',
    '[]',
    '{"cniVersion":5}',
    '{"cniVersion":""}',
    Buffer.alloc(2 << 20, 0x7b),
  ]) {
    const out = await runPlugin(def, { env: { CNI_COMMAND: 'VERSION' }, stdin });
    t.equal(out.exitCode, 0);
    t.same(
      JSON.parse(out.stdout),
      { cniVersion: '1.1.0', supportedVersions: SUPPORTED_VERSIONS },
      JSON.stringify(stdin.slice(0, 20).toString()),
    );
  }
  // libcni's probe env (item C25): dummies everywhere, bad CNI_ARGS ignored.
  const probe = await runPlugin(def, {
    env: { CNI_COMMAND: 'VERSION', CNI_NETNS: 'dummy', CNI_IFNAME: 'dummy', CNI_PATH: 'dummy', CNI_ARGS: 'junk' },
    stdin: '{"cniVersion":"1.1.0"}',
  });
  t.equal(probe.exitCode, 0);
  // The plugin's own list is reported.
  const ecs = definition({}, { supportedVersions: ['0.3.0'] });
  const narrow = await runPlugin(ecs.def, { env: { CNI_COMMAND: 'VERSION' }, stdin: '{"cniVersion":"0.3.0"}' });
  t.equal(narrow.stdout, '{"cniVersion":"0.3.0","supportedVersions":["0.3.0"]}\n');
  t.equal(loads() + ecs.loads(), 0, 'load() was never called for VERSION');
});

t.test('bad env or config is refused before the handlers load', async (t) => {
  const { def, loads } = definition({});
  const cases: [Record<string, string>, string, number][] = [
    [{ CNI_COMMAND: 'FOO' }, config('1.0.0'), ErrorCode.InvalidEnvironment],
    [{ ...ENV, CNI_COMMAND: 'ADD', CNI_IFNAME: 'a/b' }, config('1.0.0'), ErrorCode.InvalidEnvironment],
    [{ ...ENV, CNI_COMMAND: 'ADD' }, '{', ErrorCode.DecodeFailure],
    [{ ...ENV, CNI_COMMAND: 'ADD' }, '{"cniVersion":"1.0.0"}', ErrorCode.InvalidNetworkConfig],
    [{ ...ENV, CNI_COMMAND: 'ADD' }, config('9.9.9'), ErrorCode.IncompatibleVersion],
    [{ ...ENV, CNI_COMMAND: 'CHECK' }, config('0.3.1'), ErrorCode.IncompatibleVersion],
    [{ CNI_COMMAND: 'STATUS' }, config('1.0.0'), ErrorCode.IncompatibleVersion],
    [{ CNI_COMMAND: 'GC' }, config('0.4.0'), ErrorCode.IncompatibleVersion],
  ];
  for (const [env, stdin, code] of cases) {
    const out = await runPlugin(def, { env, stdin });
    t.equal(out.exitCode, 1);
    t.equal(oneJsonDocument(out.stdout).code, code, `${env.CNI_COMMAND} ${stdin.slice(0, 30)}`);
  }
  t.equal(loads(), 0);
});

t.test("ADD prints the result in the request's version (item D27)", async (t) => {
  const { def, seen } = definition({});
  for (const v of SUPPORTED_VERSIONS) {
    const out = await runPlugin(def, { env: { ...ENV, CNI_COMMAND: 'ADD' }, stdin: config(v) });
    t.equal(out.exitCode, 0, v);
    t.equal(out.stdout, `${JSON.stringify(formatResult(RESULT, v))}\n`, `${v}: one line, formatResult's shape`);
    const json = oneJsonDocument(out.stdout);
    t.equal(json.cniVersion, v);
  }
  // Spot checks against the spec text rather than formatResult itself.
  const at = async (v: string) =>
    oneJsonDocument((await runPlugin(def, { env: { ...ENV, CNI_COMMAND: 'ADD' }, stdin: config(v) })).stdout);
  t.same((await at('0.2.0')).ip4, {
    ip: '10.0.0.2/24',
    gateway: '10.0.0.1',
    routes: [{ dst: '0.0.0.0/0', gw: '10.0.0.1' }],
  });
  t.same((await at('0.4.0')).ips, [
    { version: '4', interface: 0, address: '10.0.0.2/24', gateway: '10.0.0.1' },
    { version: '6', interface: 0, address: 'fd00::2/64' },
  ]);
  const v100 = await at('1.0.0');
  t.same(
    v100.ips,
    [
      { interface: 0, address: '10.0.0.2/24', gateway: '10.0.0.1' },
      { interface: 0, address: 'fd00::2/64' },
    ],
    '1.0.0 has no ips[].version',
  );
  t.notMatch(JSON.stringify(v100), /mtu|priority/, '1.0.0 has no 1.1.0 fields');
  t.match(JSON.stringify(await at('1.1.0')), /"mtu":9001.*"priority":10/);

  const req = seen[0]!;
  t.equal(req.command, 'ADD');
  t.equal(req.containerId, 'c0ffee');
  t.equal(req.netns, '/var/run/netns/task');
  t.equal(req.ifname, 'eth0');
  t.same(req.path, ['/opt/cni/bin']);
  t.equal(req.cniVersion, '0.1.0');
  t.equal(req.stdin, config('0.1.0'), 'the raw stdin is kept for delegates');
  t.same(req.config, JSON.parse(config('0.1.0')));
  t.same(req.env, { ...ENV, CNI_COMMAND: 'ADD' }, 'the raw env is kept for delegates');
});

t.test('a result the request version cannot carry is an error, not a broken result', async (t) => {
  const { def } = definition({ add: async () => ({ cniVersion: '1.1.0', interfaces: [{ name: 'eth0' }] }) });
  const out = await runPlugin(def, { env: { ...ENV, CNI_COMMAND: 'ADD' }, stdin: config('0.2.0') });
  t.equal(out.exitCode, 1);
  t.match(oneJsonDocument(out.stdout), {
    cniVersion: '0.2.0',
    code: ErrorCode.IncompatibleVersion,
    msg: /no IP addresses/,
  });
});

t.test('a CniError is printed as {cniVersion, code, msg, details} with exit 1 (item J72)', async (t) => {
  const { def } = definition({
    add: async () => {
      throw new CniError(ErrorCode.InvalidNetworkConfig, 'invalid mtu 70000: too big', 'at most 9001');
    },
    del: async () => {
      throw new CniError(ErrorCode.TryAgainLater, 'lease store is locked');
    },
  });
  const add = await runPlugin(def, { env: { ...ENV, CNI_COMMAND: 'ADD' }, stdin: config('1.0.0') });
  t.equal(add.exitCode, 1);
  t.equal(add.stdout, '{"cniVersion":"1.0.0","code":7,"msg":"invalid mtu 70000: too big","details":"at most 9001"}\n');
  const del = await runPlugin(def, { env: { ...ENV, CNI_COMMAND: 'DEL' }, stdin: config('0.4.0') });
  t.equal(del.exitCode, 1);
  t.equal(
    del.stdout,
    '{"cniVersion":"0.4.0","code":11,"msg":"lease store is locked"}\n',
    'no details key when there are none',
  );
  // Before the config is read there is no request version: the plugin's current one is used.
  const early = await runPlugin(def, { env: { CNI_COMMAND: 'FOO' }, stdin: config('1.0.0') });
  t.equal(early.stdout, '{"cniVersion":"1.1.0","code":4,"msg":"unknown CNI_COMMAND: FOO"}\n');
});

t.test('anything else thrown is code 999 with its message only; the stack goes to stderr (item J73)', async (t) => {
  const stderr = t.capture(process.stderr, 'write', () => true);
  const thrown: unknown[] = [
    new Error('kaboom'),
    new TypeError('x is not a function'),
    'a string',
    new Error(''),
    Object.assign(new Error('busy'), { cniCode: 11 }),
  ]; // lower layers tag their errors with a CNI code
  const expected = [
    { code: 999, msg: 'kaboom' },
    { code: 999, msg: 'x is not a function' },
    { code: 999, msg: 'a string' },
    { code: 999, msg: 'internal error' },
    { code: 11, msg: 'busy' },
  ];
  for (const [i, error] of thrown.entries()) {
    const { def } = definition({
      add: async () => {
        throw error;
      },
    });
    const out = await runPlugin(def, { env: { ...ENV, CNI_COMMAND: 'ADD' }, stdin: config('1.0.0') });
    t.equal(out.exitCode, 1);
    t.strictSame(oneJsonDocument(out.stdout), { cniVersion: '1.0.0', ...expected[i] });
    t.notMatch(out.stdout, /\n\s+at |skel\.ts|\.test\.ts/, 'no stack trace in stdout');
  }
  const logged = stderr()
    .map((c) => String(c.args[0]))
    .join('');
  t.match(logged, /internal error: Error: kaboom\n\s+at /, 'the stack of an internal error is logged on stderr');
});

t.test('CHECK needs a handler; STATUS and GC without one succeed silently (items G49, H57, I64)', async (t) => {
  const bare = definition({});
  const check = await runPlugin(bare.def, { env: { ...ENV, CNI_COMMAND: 'CHECK' }, stdin: config('1.0.0') });
  t.equal(check.exitCode, 1);
  t.match(oneJsonDocument(check.stdout), { code: ErrorCode.Plugin, msg: 'CHECK is not implemented by test-plugin' });
  for (const verb of ['STATUS', 'GC']) {
    const out = await runPlugin(bare.def, { env: { CNI_COMMAND: verb }, stdin: config('1.1.0') });
    t.strictSame(out, { exitCode: 0, stdout: '' }, verb);
  }
  const del = await runPlugin(bare.def, { env: { ...ENV, CNI_COMMAND: 'DEL', CNI_NETNS: '' }, stdin: config('1.0.0') });
  t.strictSame(del, { exitCode: 0, stdout: '' }, 'DEL without netns succeeds with empty stdout');

  const calls: string[] = [];
  const full = definition({
    check: async (req) => {
      calls.push(`CHECK ${req.cniVersion}`);
    },
    status: async (req) => {
      calls.push(`STATUS ${req.containerId === '' ? 'no-container' : req.containerId}`);
    },
    gc: async (req) => {
      calls.push(`GC ${JSON.stringify(req.config['cni.dev/valid-attachments'])}`);
    },
  });
  t.strictSame(await runPlugin(full.def, { env: { ...ENV, CNI_COMMAND: 'CHECK' }, stdin: config('0.4.0') }), {
    exitCode: 0,
    stdout: '',
  });
  t.strictSame(await runPlugin(full.def, { env: { CNI_COMMAND: 'STATUS' }, stdin: config('1.1.0') }), {
    exitCode: 0,
    stdout: '',
  });
  await runPlugin(full.def, {
    env: { CNI_COMMAND: 'GC' },
    stdin: config('1.1.0', { 'cni.dev/valid-attachments': [{ containerID: 'a', ifname: 'eth0' }] }),
  });
  t.same(calls, ['CHECK 0.4.0', 'STATUS no-container', 'GC [{"containerID":"a","ifname":"eth0"}]']);

  const notReady = definition({
    status: async () => {
      throw new CniError(ErrorCode.NotReady, 'no free ENI');
    },
  });
  const status = await runPlugin(notReady.def, { env: { CNI_COMMAND: 'STATUS' }, stdin: config('1.1.0') });
  t.equal(status.exitCode, 1);
  t.match(oneJsonDocument(status.stdout), { code: 50, msg: 'no free ENI' });
});

t.test("the plugin's knownArgs and supportedVersions apply", async (t) => {
  const { def } = definition({}, { knownArgs: ['IP'], supportedVersions: ['0.3.0', '0.3.1'] });
  const ok = await runPlugin(def, {
    env: { ...ENV, CNI_COMMAND: 'ADD', CNI_ARGS: 'IP=10.0.0.9' },
    stdin: config('0.3.1'),
  });
  t.equal(ok.exitCode, 0);
  const unknown = await runPlugin(def, {
    env: { ...ENV, CNI_COMMAND: 'ADD', CNI_ARGS: 'MAC=x' },
    stdin: config('0.3.1'),
  });
  t.match(oneJsonDocument(unknown.stdout), { code: 4, msg: /MAC/ });
  const version = await runPlugin(def, { env: { ...ENV, CNI_COMMAND: 'ADD' }, stdin: config('1.0.0') });
  t.match(oneJsonDocument(version.stdout), {
    code: 1,
    msg: 'incompatible CNI versions',
    details: 'config is "1.0.0", plugin supports ["0.3.0","0.3.1"]',
  });
});

// ---- The executables, as a runtime and the ECS agent see them ----

const PLUGINS = ['ecs-eni', 'ecs-bridge', 'ecs-ipam'] as const;
const PKG_VERSION = (JSON.parse(readFileSync(`${REPO}package.json`, 'utf8')) as { version: string }).version;

// One CNI answer: exactly one JSON document on one line.
const oneLine = (t: Test, stdout: string): Record<string, unknown> => {
  t.equal(stdout.split('\n').length, 2, `one line, newline-terminated: ${JSON.stringify(stdout.slice(0, 200))}`);
  return oneJsonDocument(stdout);
};

t.test('black box: the built plugins', async (t) => {
  t.same(unbuiltExecutables(), [], 'dist/ is built and current (npm run build)');
  const buildInfos: unknown[] = [];
  for (const name of PLUGINS) {
    await t.test(name, async (t) => {
      const bin = `${BIN}/${name}`;
      const version = await run(bin, { env: childEnv({ CNI_COMMAND: 'VERSION' }), stdin: '{"cniVersion":"1.0.0"}' });
      t.equal(version.code, 0);
      t.strictSame(oneLine(t, version.stdout), { cniVersion: '1.0.0', supportedVersions: SUPPORTED_VERSIONS });
      t.equal(version.stderr, '');

      const garbage = await run(bin, { env: childEnv({ CNI_COMMAND: 'VERSION' }), stdin: 'not json at all' });
      t.equal(garbage.code, 0);
      t.equal(oneLine(t, garbage.stdout).cniVersion, '1.1.0');

      const caps = await run(bin, { args: ['--capabilities'] });
      t.equal(caps.code, 0);
      t.equal(caps.stdout, '{"capabilities":["awsvpc-network-mode"]}\n');

      const info = await run(bin, { args: ['--version'] });
      t.equal(info.code, 0);
      const build = oneLine(t, info.stdout);
      t.strictSame(Object.keys(build).sort(), ['dirty', 'gitShortHash', 'version']);
      t.equal(build.version, PKG_VERSION);
      t.type(build.dirty, 'boolean');
      t.match(build.gitShortHash, /^([0-9a-f]{7,}|unknown)$/);
      buildInfos.push(build);

      // A config with none of the plugin's own keys: whatever the handler says about it, the
      // answer is one error JSON with exit 1 and no stack.
      const add = await run(bin, { env: childEnv({ ...ENV, CNI_COMMAND: 'ADD' }), stdin: config('1.0.0') });
      t.equal(add.code, 1);
      t.match(oneLine(t, add.stdout), { cniVersion: '1.0.0', code: Number, msg: String });
      t.notMatch(add.stdout + add.stderr, /\n\s+at /, 'no stack anywhere for a CniError');

      const unknown = await run(bin, { env: childEnv({ CNI_COMMAND: 'FOO' }), stdin: config('1.0.0') });
      t.equal(unknown.code, 1);
      t.strictSame(oneLine(t, unknown.stdout), { cniVersion: '1.1.0', code: 4, msg: 'unknown CNI_COMMAND: FOO' });

      const missing = await run(bin, { env: childEnv({ CNI_COMMAND: 'ADD' }), stdin: config('1.0.0') });
      t.equal(missing.code, 1);
      t.match(oneLine(t, missing.stdout), {
        code: 4,
        msg: 'required env variables [CNI_CONTAINERID,CNI_NETNS,CNI_IFNAME] missing',
      });

      const decode = await run(bin, { env: childEnv({ ...ENV, CNI_COMMAND: 'ADD' }), stdin: '{"cniVersion":' });
      t.equal(decode.code, 1);
      t.match(oneLine(t, decode.stdout), { code: 6 });

      const incompatible = await run(bin, { env: childEnv({ ...ENV, CNI_COMMAND: 'ADD' }), stdin: config('9.9.9') });
      t.equal(incompatible.code, 1);
      t.match(oneLine(t, incompatible.stdout), {
        code: 1,
        msg: 'incompatible CNI versions',
        details: /config is "9.9.9"/,
      });
    });
  }
  t.equal(new Set(buildInfos.map((b) => JSON.stringify(b))).size, 1, 'every plugin reports the same build');
});

t.test("black box: bin/tasknet --version matches the plugins' build", async (t) => {
  t.same(unbuiltExecutables(), [], 'dist/ is built and current (npm run build)');
  const tasknet = await run(`${BIN}/tasknet`, { args: ['--version'] });
  const plugin = await run(`${BIN}/ecs-eni`, { args: ['--version'] });
  t.equal(tasknet.code, 0);
  t.strictSame(oneLine(t, tasknet.stdout), oneJsonDocument(plugin.stdout));
  // The ECS agent probes every binary in its plugin dir; tasknet answers like a plugin.
  const version = await run(`${BIN}/tasknet`, { env: childEnv({ CNI_COMMAND: 'VERSION' }) });
  t.equal(version.code, 0);
  t.strictSame(oneLine(t, version.stdout), { cniVersion: '1.1.0', supportedVersions: SUPPORTED_VERSIONS });
  const caps = await run(`${BIN}/tasknet`, { args: ['--capabilities'] });
  t.equal(caps.stdout, '{"capabilities":["awsvpc-network-mode"]}\n');
});

t.test('black box: an oversized config is refused with code 6 without reading to EOF (item B13)', async (t) => {
  t.same(unbuiltExecutables(), [], 'dist/ is built and current (npm run build)');
  for (const name of PLUGINS) {
    // 2 MiB written and stdin left open: a plugin that waited for EOF would never answer.
    const out = await new Promise<{ code: number | null; stdout: string; ms: number }>((resolve, reject) => {
      const started = performance.now();
      const child = spawn(`${BIN}/${name}`, [], { env: childEnv({ ...ENV, CNI_COMMAND: 'ADD' }) as NodeJS.ProcessEnv });
      const chunks: Buffer[] = [];
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      child.stdout.on('data', (c: Buffer) => chunks.push(c));
      child.stdin.on('error', () => {
        /* EPIPE once the plugin has stopped reading */
      });
      child.on('error', reject);
      child.on('close', (code) => {
        clearTimeout(timer);
        resolve({ code, stdout: Buffer.concat(chunks).toString(), ms: performance.now() - started });
      });
      child.stdin.write(Buffer.alloc(2 << 20, 0x20));
    });
    t.equal(out.code, 1, `${name} exits 1`);
    t.match(
      oneJsonDocument(out.stdout),
      { code: ErrorCode.DecodeFailure, msg: /larger than the limit of 1048576/ },
      name,
    );
    // Generous: Node's start-up on a loaded CI box; a plugin waiting for EOF is killed at 10 s.
    t.ok(out.ms < 8000, `${name} answered in ${Math.round(out.ms)} ms`);
  }
});

t.test(
  'black box: a CNI_IFNAME with "#", quotes or "\\" is code 4 naming it, from every plugin and verb',
  async (t) => {
    t.same(unbuiltExecutables(), [], 'dist/ is built and current (npm run build)');
    // Valid for the kernel, but `ip -batch` syntax: refused before any config is read or netns touched.
    const names = ['eth#0', 'eth"0', "eth'0", 'eth\\0'];
    for (const name of PLUGINS) {
      for (const verb of ['ADD', 'DEL', 'CHECK']) {
        for (const ifname of names) {
          const out = await run(`${BIN}/${name}`, {
            env: childEnv({ ...ENV, CNI_COMMAND: verb, CNI_IFNAME: ifname }),
            stdin: config('1.0.0'),
          });
          t.equal(out.code, 1, `${name} ${verb} ${ifname}: exit 1`);
          t.strictSame(
            oneLine(t, out.stdout),
            {
              cniVersion: '1.1.0',
              code: ErrorCode.InvalidEnvironment,
              msg: `invalid CNI_IFNAME ${JSON.stringify(ifname)}: contains a quote, "#" or "\\"`,
            },
            `${name} ${verb} ${ifname}`,
          );
          t.notMatch(out.stdout + out.stderr, /\n\s+at /, 'no stack');
        }
      }
    }
  },
);

t.test('black box: pluginMain turns a crash into one error JSON; logs and stacks go to stderr', async (t) => {
  const entry = `${REPO}test/fixtures/skel/crashing-plugin.ts`;
  const node = (env: Record<string, string>, stdin: string) =>
    run(process.execPath, { args: ['--import', 'tsx', entry], env: childEnv(env), stdin });
  const add = await node({ ...ENV, CNI_COMMAND: 'ADD' }, config('1.0.0'));
  t.equal(add.code, 1);
  t.equal(add.stdout, '{"cniVersion":"1.0.0","code":999,"msg":"kaboom"}\n', 'exactly one error document, no stack');
  t.match(add.stderr, /internal error: Error: kaboom\n\s+at /, 'the stack is on stderr for the operator');

  const del = await node({ ...ENV, CNI_COMMAND: 'DEL' }, config('1.0.0'));
  t.equal(del.code, 0);
  t.equal(del.stdout, '', 'DEL success prints nothing');
  t.match(del.stderr, /\[WARN\] a warning that must not reach stdout/);

  const about = await node({}, '');
  t.equal(about.code, 0);
  t.equal(about.stdout, '');
  t.match(about.stderr, /crashing-plugin: a test fixture\nCNI protocol versions supported: /);
});
