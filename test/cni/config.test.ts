import t from 'tap';
import { MAX_CONFIG_BYTES, parseNetConf } from '../../src/cni/config.js';
import { ErrorCode } from '../../src/cni/errors.js';
import { SUPPORTED_VERSIONS } from '../../src/cni/version.js';
import { expectCniError } from '../helpers/cni.js';

const conf = (fields: Record<string, unknown>): string =>
  JSON.stringify({ cniVersion: '1.0.0', name: 'tasknet', ...fields });

t.test('stdin must be one JSON object: anything else is code 6 (item B13)', async (t) => {
  for (const bad of ['', 'not json', '{"cniVersion":"1.0.0",', '{} {}', '{"a":1}\n{"b":2}']) {
    expectCniError(t, () => parseNetConf(bad, 'ADD'), ErrorCode.DecodeFailure, 'error decoding network config');
  }
  for (const bad of ['[]', '[{"name":"x"}]', '42', '"x"', 'null', 'true']) {
    expectCniError(t, () => parseNetConf(bad, 'ADD'), ErrorCode.DecodeFailure, 'network config must be a JSON object');
  }
  const e = expectCniError(t, () => parseNetConf('{oops}', 'ADD'), ErrorCode.DecodeFailure);
  t.ok(e?.details, "details carry the parser's reason");
  // A Buffer is read as UTF-8, like a string.
  t.equal(parseNetConf(Buffer.from(conf({ name: 'nét' }).replace('nét', 'net')), 'ADD').name, 'net');
});

t.test('a config without cniVersion is read as 0.1.0 (item B14)', async (t) => {
  t.equal(parseNetConf('{"name":"n"}', 'ADD').cniVersion, '0.1.0');
  t.equal(parseNetConf('{"name":"n","cniVersion":null}', 'DEL').cniVersion, '0.1.0');
  // libcni's ConfigDecoder reads an empty cniVersion the same way (pkg/version/conf.go).
  t.equal(parseNetConf('{"name":"n","cniVersion":""}', 'ADD').cniVersion, '0.1.0');
  // ...and 0.1.0 has no CHECK, so the default is applied before the verb check.
  expectCniError(t, () => parseNetConf('{"name":"n"}', 'CHECK'), ErrorCode.IncompatibleVersion, /does not allow CHECK/);
});

t.test('a cniVersion that is not a string is code 7', async (t) => {
  for (const bad of [1, 1.1, ['1.0.0'], { v: '1.0.0' }, true]) {
    expectCniError(
      t,
      () => parseNetConf(conf({ cniVersion: bad }), 'ADD'),
      ErrorCode.InvalidNetworkConfig,
      /invalid cniVersion/,
    );
  }
});

t.test('the network name is required and checked (item B7)', async (t) => {
  expectCniError(
    t,
    () => parseNetConf('{"cniVersion":"1.0.0"}', 'ADD'),
    ErrorCode.InvalidNetworkConfig,
    /^missing network name$/,
  );
  expectCniError(
    t,
    () => parseNetConf(conf({ name: '' }), 'ADD'),
    ErrorCode.InvalidNetworkConfig,
    /^missing network name$/,
  );
  // DEL, STATUS and GC validate the name as well.
  expectCniError(
    t,
    () => parseNetConf('{"cniVersion":"1.1.0"}', 'GC'),
    ErrorCode.InvalidNetworkConfig,
    /^missing network name$/,
  );
  for (const bad of ['a/b', '-net', '.net', 'a b', 'a:b', 'nét', 1, null, ['net'], { n: 1 }]) {
    expectCniError(
      t,
      () => parseNetConf(conf({ name: bad }), 'ADD'),
      ErrorCode.InvalidNetworkConfig,
      /^invalid network name /,
    );
  }
  for (const good of ['n', '0', 'ecs-bridge_net.1']) t.equal(parseNetConf(conf({ name: good }), 'ADD').name, good);
});

t.test('a version the plugin does not speak is code 1 with both sides in details (item B15)', async (t) => {
  const e = expectCniError(
    t,
    () => parseNetConf(conf({ cniVersion: '9.9.9' }), 'ADD'),
    ErrorCode.IncompatibleVersion,
    /^incompatible CNI versions$/,
  );
  t.equal(e?.details, `config is "9.9.9", plugin supports ${JSON.stringify(SUPPORTED_VERSIONS)}`);
  // The plugin's own list is the one that counts (ECS plugins speak 0.3.0 only).
  const narrow = expectCniError(
    t,
    () => parseNetConf(conf({ cniVersion: '1.0.0' }), 'ADD', ['0.3.0']),
    ErrorCode.IncompatibleVersion,
  );
  t.equal(narrow?.details, 'config is "1.0.0", plugin supports ["0.3.0"]');
  t.equal(parseNetConf(conf({ cniVersion: '0.3.0' }), 'ADD', ['0.3.0']).cniVersion, '0.3.0');
  for (const v of SUPPORTED_VERSIONS) t.equal(parseNetConf(conf({ cniVersion: v }), 'DEL').cniVersion, v);
});

t.test('verbs newer than the request version are code 1 (items G48, H58, I62)', async (t) => {
  expectCniError(
    t,
    () => parseNetConf(conf({ cniVersion: '0.3.1' }), 'CHECK'),
    ErrorCode.IncompatibleVersion,
    'config version does not allow CHECK',
  );
  expectCniError(
    t,
    () => parseNetConf(conf({ cniVersion: '1.0.0' }), 'STATUS'),
    ErrorCode.IncompatibleVersion,
    'config version does not allow STATUS',
  );
  expectCniError(
    t,
    () => parseNetConf(conf({ cniVersion: '1.0.0' }), 'GC'),
    ErrorCode.IncompatibleVersion,
    'config version does not allow GC',
  );
  t.equal(parseNetConf(conf({ cniVersion: '0.4.0' }), 'CHECK').cniVersion, '0.4.0');
  t.equal(parseNetConf(conf({ cniVersion: '1.1.0' }), 'STATUS').cniVersion, '1.1.0');
  t.equal(parseNetConf(conf({ cniVersion: '1.1.0' }), 'GC').cniVersion, '1.1.0');
  // The supported-version check comes first: 9.9.9 is not "too new for CHECK".
  expectCniError(
    t,
    () => parseNetConf(conf({ cniVersion: '0.0.1' }), 'CHECK'),
    ErrorCode.IncompatibleVersion,
    'incompatible CNI versions',
  );
});

t.test('every other field passes through unchanged (item B18)', async (t) => {
  const input = {
    cniVersion: '1.1.0',
    name: 'n',
    type: 'ecs-bridge',
    ipam: { type: 'ecs-ipam', subnet: '10.0.0.0/24' },
    'x-unknown': [1, { a: null }],
  };
  t.same(parseNetConf(JSON.stringify(input), 'ADD'), input);
});

t.test('a config over 1 MiB is code 6 and is never parsed (item B13, DoS guard)', async (t) => {
  const padded = (bytes: number): string => {
    const head = conf({ pad: '' });
    return head.replace('"pad":""', `"pad":"${'x'.repeat(bytes - Buffer.byteLength(head))}"`);
  };
  const atLimit = padded(MAX_CONFIG_BYTES);
  t.equal(Buffer.byteLength(atLimit), MAX_CONFIG_BYTES);
  t.equal(parseNetConf(atLimit, 'ADD').name, 'tasknet', 'exactly 1 MiB is accepted');

  const parses = t.capture(JSON, 'parse', JSON.parse);
  const over = padded(MAX_CONFIG_BYTES + 1);
  for (const input of [over, Buffer.from(over), Buffer.alloc(4 * MAX_CONFIG_BYTES, 0x20)]) {
    expectCniError(t, () => parseNetConf(input, 'ADD'), ErrorCode.DecodeFailure, /larger than the limit of 1048576/);
  }
  t.equal(parses().length, 0, 'JSON.parse was not called on an oversized config');

  // The limit is in bytes, not UTF-16 units: 2-byte characters reach it at half the length.
  const wide = conf({ pad: 'é'.repeat(MAX_CONFIG_BYTES / 2) });
  t.ok(wide.length < MAX_CONFIG_BYTES);
  expectCniError(t, () => parseNetConf(wide, 'ADD'), ErrorCode.DecodeFailure, /limit/);
});

t.test('a deeply nested cniVersion or name is refused with code 7, not a stack overflow', async (t) => {
  const { parseNetConf } = await import('../../src/cni/config.js');
  const deep = `${'['.repeat(100_000)}${']'.repeat(100_000)}`;
  for (const field of ['cniVersion', 'name']) {
    const stdin = field === 'name' ? `{"cniVersion":"1.0.0","name":${deep}}` : `{"cniVersion":${deep},"name":"n"}`;
    t.throws(
      () => parseNetConf(stdin, 'ADD'),
      { code: 7, message: /invalid (cniVersion|network name) \[\.\.\.\]/ },
      field,
    );
  }
});
