import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { delegate, findPlugin, ownPluginName, readPluginOutput } from '../../src/cni/delegate.js';
import { CniError, ErrorCode } from '../../src/cni/errors.js';
import { execPlugin } from '../../src/cni/exec.js';
import type { PluginDefinition, PluginRequest } from '../../src/cni/skel.js';
import { expectCniError, expectCniRejection } from '../helpers/cni.js';
import { BIN, childEnv, FAKE_PLUGINS } from './process.js';
import { tempDir, writeFile } from './temp.js';

const SH_OK = (json: string) => `#!/bin/sh\ncat >/dev/null\nprintf '%s\\n' '${json}'\n`;

t.test('findPlugin: a type is a plain file name (item K77)', async (t) => {
  const dir = tempDir(t);
  for (const bad of ['a/b', '/bin/sh', '../ecs-ipam', '..', '.', '', '.hidden', 'a\\b', 'a b', 'x'.repeat(256)]) {
    expectCniError(
      t,
      () => findPlugin(bad, [dir]),
      ErrorCode.InvalidNetworkConfig,
      /invalid plugin type .*must be a plain file name/,
    );
  }
});

t.test('findPlugin: CNI_PATH must not be empty', async (t) => {
  expectCniError(
    t,
    () => findPlugin('ecs-ipam', []),
    ErrorCode.InvalidEnvironment,
    'cannot find plugin "ecs-ipam": CNI_PATH is empty',
  );
});

t.test('findPlugin: directories are searched in order, skipping what cannot run', async (t) => {
  const root = tempDir(t);
  const [a, b, c] = ['a', 'b', 'c'].map((d) => join(root, d)) as [string, string, string];
  writeFile(join(a, 'plug'), '#!/bin/sh\n', 0o644); // not executable: skipped
  mkdirSync(join(b, 'plug'), { recursive: true }); // a directory: skipped
  writeFile(join(c, 'plug'), '#!/bin/sh\n');
  writeFile(join(c, 'other'), '#!/bin/sh\n');
  writeFile(join(a, 'other'), '#!/bin/sh\n');
  t.equal(findPlugin('plug', [a, b, c]), join(c, 'plug'));
  t.equal(findPlugin('other', [a, b, c]), join(a, 'other'), 'the first directory wins');
  t.equal(findPlugin('other', [c, a]), join(c, 'other'), '...in CNI_PATH order');
  t.equal(findPlugin('plug', [join(root, 'missing'), c]), join(c, 'plug'), 'a missing directory is not an error');
  const e = expectCniError(t, () => findPlugin('nope', [a, b]), ErrorCode.Delegate);
  t.equal(e?.message, `failed to find plugin "nope" in path [${a} ${b}]`, 'the message names the path searched');
  expectCniError(t, () => findPlugin('plug', [a, b]), ErrorCode.Delegate, /failed to find plugin "plug"/);
});

t.test('ownPluginName reads the launcher mark of our executables only', async (t) => {
  for (const name of ['ecs-eni', 'ecs-bridge', 'ecs-ipam']) t.equal(ownPluginName(`${BIN}/${name}`), name);
  t.equal(ownPluginName(`${BIN}/tasknet`), undefined, 'the CLI is not a plugin');
  t.equal(ownPluginName(`${FAKE_PLUGINS}/fake-a`), undefined);
  t.equal(ownPluginName('/does/not/exist'), undefined);
});

// tap's process tracker adds its variables to every child it sees spawned; they are not ours.
const withoutTap = (env: Readonly<Record<string, string | undefined>>) =>
  Object.fromEntries(Object.entries(env).filter(([k]) => k !== 'NODE_OPTIONS' && !k.startsWith('_TAPJS_')));

// A delegation request as ecs-bridge would make it for its IPAM.
const request = (
  dir: string,
  extra: Record<string, string> = {},
): Pick<PluginRequest, 'path' | 'env' | 'stdin' | 'cniVersion'> => ({
  path: [dir],
  cniVersion: '1.0.0',
  stdin:
    '{"cniVersion":"1.0.0","name":"net","type":"ecs-bridge",\n "ipam":{"type":"fake-a","note":"ünïcode\\u0000 and\\t tabs"},\t"x":1}',
  env: childEnv({
    CNI_COMMAND: 'ADD',
    CNI_CONTAINERID: 'c0ffee',
    CNI_NETNS: '/var/run/netns/task',
    CNI_IFNAME: 'eth0',
    CNI_ARGS: 'IgnoreUnknown=1;K8S_POD_NAME=web',
    CNI_PATH: dir,
    SOMETHING_ELSE: 'passed through too',
    ...extra,
  }),
});

t.test('delegate() runs the plugin with the same stdin and env, only CNI_COMMAND changed (item K78)', async (t) => {
  const record = join(tempDir(t), 'record.json');
  const req = request(FAKE_PLUGINS, { FAKE_CNI_RECORD: record });
  for (const command of ['DEL', 'CHECK', 'ADD'] as const) {
    const result = await delegate('fake-a', command, req);
    const seen = JSON.parse(readFileSync(record, 'utf8')) as { env: Record<string, string>; stdin: string };
    t.equal(seen.stdin, req.stdin, `${command}: stdin byte for byte`);
    t.strictSame(
      withoutTap(seen.env),
      withoutTap({ ...req.env, CNI_COMMAND: command }),
      `${command}: env identical but CNI_COMMAND`,
    );
    if (command === 'ADD') {
      t.strictSame(
        result,
        {
          cniVersion: '1.0.0',
          interfaces: [{ name: 'fake-a0', sandbox: '/var/run/netns/task' }],
          ips: [{ address: '10.0.0.2/24', interface: 0 }],
        },
        'ADD returns the parsed result',
      );
    } else {
      t.equal(result, undefined, `${command}: no output, no result`);
    }
  }
});

t.test('delegate() turns the plugin\'s error JSON into a CniError with its code and "type: msg"', async (t) => {
  const error = await expectCniRejection(
    t,
    delegate('fake-a', 'ADD', request(FAKE_PLUGINS, { FAKE_CNI_FAIL: 'fake-a:ADD' })),
    110,
    /^fake-a: fake-a refused ADD$/,
  );
  t.equal(error?.details, 'FAKE_CNI_FAIL');
  await expectCniRejection(
    t,
    delegate('fake-a', 'ADD', request(FAKE_PLUGINS, { FAKE_CNI_OUTPUT: 'garbage' })),
    ErrorCode.DecodeFailure,
    'plugin fake-a printed a result that is not JSON',
  );
  await expectCniRejection(
    t,
    delegate('fake-z', 'ADD', request(FAKE_PLUGINS)),
    ErrorCode.Delegate,
    /failed to find plugin "fake-z"/,
  );
  await expectCniRejection(
    t,
    delegate('fake-a', 'ADD', { ...request(FAKE_PLUGINS), path: [] }),
    ErrorCode.InvalidEnvironment,
  );
});

t.test('delegate() reports a plugin that fails without an error JSON, or answers a broken result', async (t) => {
  const dir = tempDir(t);
  writeFile(join(dir, 'crash'), '#!/bin/sh\ncat >/dev/null\necho "panic: runtime error" \nexit 3\n');
  writeFile(join(dir, 'silent'), '#!/bin/sh\nexit 2\n');
  writeFile(join(dir, 'badresult'), SH_OK('{"cniVersion":"1.0.0","ips":[{"address":"10.0.0.2","interface":0}]}'));
  const crash = await expectCniRejection(
    t,
    delegate('crash', 'ADD', request(dir)),
    ErrorCode.Delegate,
    'plugin crash failed with exit code 3',
  );
  t.match(crash?.details, /panic: runtime error/, 'stdout is kept as details');
  const silent = await expectCniRejection(
    t,
    delegate('silent', 'ADD', request(dir)),
    ErrorCode.Delegate,
    /exit code 2/,
  );
  t.equal(silent?.details, undefined);
  await expectCniRejection(
    t,
    delegate('badresult', 'ADD', request(dir)),
    ErrorCode.DecodeFailure,
    /^invalid badresult result\.ips\.0\.address/,
  );
});

t.test('readPluginOutput maps exit code and stdout', async (t) => {
  t.equal(readPluginOutput('p', { exitCode: 0, stdout: '' }, '1.0.0'), undefined);
  t.equal(readPluginOutput('p', { exitCode: 0, stdout: ' \n' }, '1.0.0'), undefined);
  t.strictSame(
    readPluginOutput('p', { exitCode: 0, stdout: '{"ips":[{"address":"10.0.0.2/24"}]}' }, '0.4.0'),
    { cniVersion: '0.4.0', ips: [{ address: '10.0.0.2/24' }] },
    'a result without cniVersion is read as the request version',
  );
  expectCniError(
    t,
    () => readPluginOutput('p', { exitCode: 1, stdout: '{"code":7,"msg":"bad","details":42}' }, '1.0.0'),
    7,
    /^p: bad$/,
  );
  expectCniError(
    t,
    () => readPluginOutput('p', { exitCode: 1, stdout: '{"code":"7","msg":"bad"}' }, '1.0.0'),
    ErrorCode.Delegate,
    'plugin p failed with exit code 1',
  );
});

t.test('execPlugin kills a plugin that outlives its timeout', async (t) => {
  const dir = tempDir(t);
  const file = writeFile(join(dir, 'hang'), '#!/bin/sh\nexec sleep 30\n');
  const started = performance.now();
  await expectCniRejection(
    t,
    execPlugin(file, childEnv(), '{}', { timeoutMs: 200 }),
    ErrorCode.Delegate,
    /killed by SIGKILL \(timeout 200 ms\?\)/,
  );
  t.ok(performance.now() - started < 20_000, 'it did not wait the 30 s the plugin sleeps');
  await expectCniRejection(
    t,
    execPlugin(join(dir, 'missing'), childEnv(), '{}'),
    ErrorCode.Delegate,
    /cannot run plugin/,
  );
});

// ---- In-process delegation to our own plugins ----

// A definition that answers ADD with a marker address and records what it was given.
const inProcess = () => {
  const calls: { command: string; stdin: string; env: Readonly<Record<string, string | undefined>> }[] = [];
  let loads = 0;
  const def: PluginDefinition = {
    name: 'tasknet-fake',
    about: 'in-process test plugin',
    load: async () => {
      loads++;
      return {
        add: async (req) => {
          calls.push({ command: req.command, stdin: req.stdin, env: req.env });
          return { cniVersion: req.cniVersion, ips: [{ address: '198.51.100.7/24' }] };
        },
        del: async (req) => {
          calls.push({ command: req.command, stdin: req.stdin, env: req.env });
          throw new CniError(ErrorCode.Store, 'lease store unreadable');
        },
      };
    },
  };
  return { calls, loads: () => loads, options: { inProcess: { 'tasknet-fake': async () => def } } };
};

t.test("a file with our launcher mark and the type's name runs in-process, not exec'd", async (t) => {
  const dir = tempDir(t);
  // Exec'ing this file would fail: exit 42 with nothing on stdout.
  writeFile(join(dir, 'tasknet-fake'), '#!/bin/sh\n# tasknet-plugin=tasknet-fake: launcher\nexit 42\n');
  const req = request(dir);
  await expectCniRejection(t, delegate('tasknet-fake', 'ADD', req), ErrorCode.Delegate, /exit code 42/);

  const own = inProcess();
  const result = await delegate('tasknet-fake', 'ADD', req, own.options);
  t.strictSame(
    result,
    { cniVersion: '1.0.0', ips: [{ address: '198.51.100.7/24' }] },
    'the in-process definition answered',
  );
  t.equal(own.calls[0]?.stdin, req.stdin, 'same stdin');
  t.strictSame(own.calls[0]?.env, { ...req.env, CNI_COMMAND: 'ADD' }, 'same env');

  // DEL in-process: the verb is the one asked for, and its error keeps code and gets the prefix.
  await expectCniRejection(
    t,
    delegate('tasknet-fake', 'DEL', req, own.options),
    ErrorCode.Store,
    'tasknet-fake: lease store unreadable',
  );
  t.equal(own.calls[1]?.command, 'DEL');
  t.equal(own.calls[1]?.env.CNI_COMMAND, 'DEL');
});

t.test("without the mark, with another plugin's mark, or a mark past the head, the file is exec'd", async (t) => {
  const cases: [string, string][] = [
    ['no mark', SH_OK('{"cniVersion":"1.0.0","ips":[{"address":"192.0.2.99/24"}]}')],
    [
      'mark of another plugin',
      `#!/bin/sh\n# tasknet-plugin=ecs-ipam\ncat >/dev/null\necho '{"cniVersion":"1.0.0","ips":[{"address":"192.0.2.99/24"}]}'\n`,
    ],
    [
      'mark after 512 bytes',
      `#!/bin/sh\n#${' '.repeat(600)}\n# tasknet-plugin=tasknet-fake\ncat >/dev/null\necho '{"cniVersion":"1.0.0","ips":[{"address":"192.0.2.99/24"}]}'\n`,
    ],
  ];
  for (const [what, script] of cases) {
    const dir = tempDir(t);
    writeFile(join(dir, 'tasknet-fake'), script);
    const own = inProcess();
    const result = await delegate('tasknet-fake', 'ADD', request(dir), own.options);
    t.strictSame(result?.ips, [{ address: '192.0.2.99/24' }], `${what}: the file's own answer`);
    t.equal(own.loads(), 0, `${what}: the in-process definition was not loaded`);
  }
});
