import t from 'tap';
import { ErrorCode } from '../../src/cni/errors.js';
import {
  compareVersions,
  requireSupportedVersion,
  requireVerbAllowed,
  SUPPORTED_VERSIONS,
} from '../../src/cni/version.js';
import { expectCniError } from '../helpers/cni.js';

t.test('versions compare numerically', async (t) => {
  t.ok(compareVersions('0.10.0', '0.4.0') > 0);
  t.equal(compareVersions('1.0.0', '1.0.0'), 0);
  t.ok(compareVersions('0.3.1', '0.4.0') < 0);
  t.same([...SUPPORTED_VERSIONS].sort(compareVersions), SUPPORTED_VERSIONS, 'list is oldest first');
});

t.test('an unsupported version is code 1 and names both sides', async (t) => {
  expectCniError(t, () => requireSupportedVersion('9.9.9'), ErrorCode.IncompatibleVersion, /incompatible CNI versions/);
  try {
    requireSupportedVersion('0.3.1', ['0.3.0']);
  } catch (error) {
    t.match((error as { details: string }).details, 'config is "0.3.1", plugin supports ["0.3.0"]');
  }
  for (const v of SUPPORTED_VERSIONS) t.doesNotThrow(() => requireSupportedVersion(v), v);
});

t.test('CHECK needs 0.4.0, STATUS and GC need 1.1.0', async (t) => {
  for (const [verb, below, from] of [
    ['CHECK', '0.3.1', '0.4.0'],
    ['STATUS', '1.0.0', '1.1.0'],
    ['GC', '1.0.0', '1.1.0'],
  ] as const) {
    expectCniError(
      t,
      () => requireVerbAllowed(verb, below),
      ErrorCode.IncompatibleVersion,
      new RegExp(`does not allow ${verb}`),
    );
    t.doesNotThrow(() => requireVerbAllowed(verb, from), `${verb} at ${from}`);
  }
  for (const v of SUPPORTED_VERSIONS) {
    t.doesNotThrow(() => requireVerbAllowed('ADD', v));
    t.doesNotThrow(() => requireVerbAllowed('DEL', v));
  }
});
