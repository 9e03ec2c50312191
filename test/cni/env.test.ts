import t from 'tap';
import { parseCniArgs, formatCniArgs } from '../../src/cni/args.js';
import { parseCniEnv, VERBS, type Verb } from '../../src/cni/env.js';
import { ErrorCode } from '../../src/cni/errors.js';
import { expectCniError } from '../helpers/cni.js';
import { BIN, childEnv, run, unbuiltExecutables } from './process.js';

// A complete ADD environment; each test removes or breaks one thing.
const full = (extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv => ({
  CNI_COMMAND: 'ADD',
  CNI_CONTAINERID: 'c0ffee',
  CNI_NETNS: '/var/run/netns/task',
  CNI_IFNAME: 'eth0',
  CNI_PATH: '/opt/cni/bin',
  ...extra,
});

t.test('CNI_COMMAND must be one of the verbs (item A1)', async (t) => {
  expectCniError(
    t,
    () => parseCniEnv(full({ CNI_COMMAND: 'FOO' })),
    ErrorCode.InvalidEnvironment,
    /^unknown CNI_COMMAND: FOO$/,
  );
  expectCniError(
    t,
    () => parseCniEnv(full({ CNI_COMMAND: 'add' })),
    ErrorCode.InvalidEnvironment,
    'unknown CNI_COMMAND: add',
  );
  expectCniError(
    t,
    () => parseCniEnv(full({ CNI_COMMAND: undefined })),
    ErrorCode.InvalidEnvironment,
    /unknown CNI_COMMAND/,
  );
  for (const verb of VERBS) t.equal(parseCniEnv(full({ CNI_COMMAND: verb })).command, verb);
});

t.test('a plugin binary run without CNI_COMMAND prints its about text on stderr and exits 0 (item A11)', async (t) => {
  t.same(unbuiltExecutables(), [], 'dist/ is built and current (npm run build)');
  const out = await run(`${BIN}/ecs-ipam`, { env: childEnv({ CNI_NETNS: '/x' }) });
  t.equal(out.code, 0);
  t.equal(out.stdout, '', 'stdout stays empty: there is no CNI call');
  t.match(out.stderr, /tasknet ecs-ipam/);
  t.match(out.stderr, 'CNI protocol versions supported: 0.1.0, 0.2.0, 0.3.0, 0.3.1, 0.4.0, 1.0.0, 1.1.0');
});

t.test('each verb requires its own variables, and the error names every missing one (items A2, A3)', async (t) => {
  const required: Record<Verb, string[]> = {
    ADD: ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME'],
    CHECK: ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME'],
    DEL: ['CNI_CONTAINERID', 'CNI_IFNAME'],
    STATUS: [],
    GC: [],
    VERSION: [],
  };
  for (const verb of VERBS) {
    const bare = { CNI_COMMAND: verb };
    if (required[verb].length === 0) {
      t.equal(parseCniEnv(bare).command, verb, `${verb} needs nothing but CNI_COMMAND`);
      continue;
    }
    expectCniError(
      t,
      () => parseCniEnv(bare),
      ErrorCode.InvalidEnvironment,
      `required env variables [${required[verb].join(',')}] missing`,
    );
    // Each variable alone, unset and set to "", is reported by name.
    for (const name of required[verb]) {
      for (const value of [undefined, '']) {
        const e = expectCniError(
          t,
          () => parseCniEnv(full({ CNI_COMMAND: verb, [name]: value })),
          ErrorCode.InvalidEnvironment,
        );
        t.equal(e?.message, `required env variables [${name}] missing`, `${verb} without ${name}=${String(value)}`);
      }
    }
  }
  // DEL's netns is optional (spec 0.4.0): unset and empty both pass, and read as "".
  t.equal(parseCniEnv(full({ CNI_COMMAND: 'DEL', CNI_NETNS: undefined })).netns, '');
  t.equal(parseCniEnv(full({ CNI_COMMAND: 'DEL', CNI_NETNS: '' })).netns, '');
  // CNI_PATH is optional for every verb: a missing delegate is reported where it is looked up.
  t.same(parseCniEnv(full({ CNI_PATH: undefined })).path, []);
});

t.test("CNI_CONTAINERID must match libcni's pattern (item A5)", async (t) => {
  for (const bad of ['abc/def', '-abc', '.abc', '_abc', 'a b', 'a:b', 'ab\n', 'é']) {
    const e = expectCniError(t, () => parseCniEnv(full({ CNI_CONTAINERID: bad })), ErrorCode.InvalidEnvironment);
    t.equal(e?.message, `invalid CNI_CONTAINERID ${JSON.stringify(bad)}`, 'the message shows the id');
  }
  for (const good of ['a', '0', 'abc-DEF_1.2', 'f'.repeat(64)]) {
    t.equal(parseCniEnv(full({ CNI_CONTAINERID: good })).containerId, good);
  }
  // The id is checked for DEL too (it names cache files and leases), and ignored by VERSION.
  expectCniError(
    t,
    () => parseCniEnv(full({ CNI_COMMAND: 'DEL', CNI_CONTAINERID: 'abc/def' })),
    ErrorCode.InvalidEnvironment,
  );
  t.equal(parseCniEnv(full({ CNI_COMMAND: 'VERSION', CNI_CONTAINERID: 'abc/def' })).command, 'VERSION');
});

t.test("CNI_IFNAME follows the kernel's rules (item A6)", async (t) => {
  const cases: [string, RegExp][] = [
    ['eth0123456789abc', /longer than 15 bytes/], // 16 chars
    ['ethéééééééé', /longer than 15 bytes/], // 11 chars, 18 bytes
    ['.', /"\." or "\.\."/],
    ['..', /"\." or "\.\."/],
    ['a/b', /contains/],
    ['a:b', /contains/],
    ['a b', /contains/],
    ['a\tb', /contains/],
    // Kernel-valid, but batch syntax for `ip`: refused as the variable they are, not as a failed ip.
    ['eth#0', /contains a quote, "#" or "\\"/],
    ['eth"0', /contains a quote/],
    ["eth'0", /contains a quote/],
    ['eth\\0', /contains a quote, "#" or "\\"/],
  ];
  for (const [name, why] of cases) {
    const e = expectCniError(t, () => parseCniEnv(full({ CNI_IFNAME: name })), ErrorCode.InvalidEnvironment, why);
    t.match(e?.message, `invalid CNI_IFNAME ${JSON.stringify(name)}`);
  }
  // Empty is "missing" for the verbs that need it.
  expectCniError(
    t,
    () => parseCniEnv(full({ CNI_IFNAME: '' })),
    ErrorCode.InvalidEnvironment,
    /\[CNI_IFNAME\] missing/,
  );
  for (const good of ['eth0', 'eth012345678901', '..a', 'veth.1', 'a-b_c@d']) {
    t.equal(parseCniEnv(full({ CNI_IFNAME: good })).ifname, good, JSON.stringify(good));
  }
});

t.test('CNI_ARGS is K=V;K2=V2 and unknown keys need IgnoreUnknown (item A8)', async (t) => {
  t.same(
    [...parseCniArgs('K=V;K2=V2', ['K', 'K2'])],
    [
      ['K', 'V'],
      ['K2', 'V2'],
    ],
  );
  t.same([...parseCniArgs('K=a=b', ['K'])], [['K', 'a=b']], 'the value runs to the end of the pair');
  t.same([...parseCniArgs('K=', ['K'])], [['K', '']]);
  t.same([...parseCniArgs(undefined)], []);
  t.same([...parseCniArgs('')], []);
  t.same([...parseCniArgs('K=V;', ['K'])], [['K', 'V']], 'a trailing ";" is not a pair');

  for (const bad of ['K', 'K=V;K2', '=V']) {
    expectCniError(t, () => parseCniArgs(bad, ['K', 'K2']), ErrorCode.InvalidEnvironment, /invalid CNI_ARGS pair/);
  }
  expectCniError(t, () => parseCniArgs('FOO=1'), ErrorCode.InvalidEnvironment, 'unknown CNI_ARGS key "FOO"');
  expectCniError(t, () => parseCniArgs('K=1;FOO=1', ['K']), ErrorCode.InvalidEnvironment, /"FOO"/);
  expectCniError(t, () => parseCniArgs('IgnoreUnknown=0;FOO=1'), ErrorCode.InvalidEnvironment, /"FOO"/);
  expectCniError(t, () => parseCniArgs('IgnoreUnknown=yes;FOO=1'), ErrorCode.InvalidEnvironment, /"FOO"/);

  for (const on of ['1', 'true', 'TRUE', 'True']) {
    t.equal(parseCniArgs(`IgnoreUnknown=${on};FOO=1`).get('FOO'), '1', `IgnoreUnknown=${on}`);
  }
  t.equal(parseCniArgs('FOO=1;IgnoreUnknown=1').get('FOO'), '1', 'IgnoreUnknown may come last');
  t.same([...parseCniArgs('FOO=1', [], true)], [['FOO', '1']], 'a runtime passes everything through');
  t.equal(formatCniArgs(parseCniArgs('A=1;B=x=y', ['A', 'B'])), 'A=1;B=x=y', 'format is the inverse of parse');
});

t.test("parseCniEnv applies the CNI_ARGS rules with the plugin's known keys", async (t) => {
  const env = parseCniEnv(full({ CNI_ARGS: 'IgnoreUnknown=1;K8S_POD_NAME=x' }));
  t.equal(env.args.get('K8S_POD_NAME'), 'x');
  t.equal(parseCniEnv(full({ CNI_ARGS: 'IP=10.0.0.2' }), ['IP']).args.get('IP'), '10.0.0.2');
  expectCniError(t, () => parseCniEnv(full({ CNI_ARGS: 'FOO=1' })), ErrorCode.InvalidEnvironment, /FOO/);
  expectCniError(t, () => parseCniEnv(full({ CNI_ARGS: 'FOO' })), ErrorCode.InvalidEnvironment, /pair/);
  // VERSION must answer whatever else is in the environment (libcni probes with dummies).
  t.equal(parseCniEnv({ CNI_COMMAND: 'VERSION', CNI_ARGS: 'FOO', CNI_IFNAME: 'a/b' }).command, 'VERSION');
});

t.test('CNI_PATH is split on ":" keeping order and dropping empty entries', async (t) => {
  t.same(parseCniEnv(full({ CNI_PATH: '/a:/b/c::/d:' })).path, ['/a', '/b/c', '/d']);
  t.same(parseCniEnv(full({ CNI_PATH: '/only' })).path, ['/only']);
  t.same(parseCniEnv(full({ CNI_PATH: '' })).path, []);
});

t.test('the parsed env carries the values through', async (t) => {
  t.same(parseCniEnv(full()), {
    command: 'ADD',
    containerId: 'c0ffee',
    netns: '/var/run/netns/task',
    ifname: 'eth0',
    args: new Map(),
    path: ['/opt/cni/bin'],
  });
});
