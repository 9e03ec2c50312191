import t from 'tap';
import * as z from 'zod/mini';
import { ErrorCode } from '../../src/cni/errors.js';
import { parseConfig } from '../../src/cni/schema.js';
import { expectCniError } from '../helpers/cni.js';

// The helper every config section goes through: one CNI error naming the field and its value.
const schema = z.looseObject({
  mtu: z.number(),
  ipam: z.object({ type: z.string(), routes: z.optional(z.array(z.object({ dst: z.string() }))) }),
  mode: z.optional(z.enum(['bridge', 'eni'])),
});
const valid = { mtu: 9001, ipam: { type: 'ecs-ipam' } };

t.test('a valid section comes back as parsed data', async (t) => {
  t.same(parseConfig(schema, { ...valid, extra: 1 }), { ...valid, extra: 1 });
});

t.test('a missing field is "is required", a wrong type shows the value and the type wanted', async (t) => {
  expectCniError(
    t,
    () => parseConfig(schema, { ipam: { type: 'x' } }),
    ErrorCode.InvalidNetworkConfig,
    /^invalid mtu: is required$/,
  );
  expectCniError(
    t,
    () => parseConfig(schema, { ...valid, mtu: '9001' }),
    ErrorCode.InvalidNetworkConfig,
    /^invalid mtu "9001": must be a number$/,
  );
  expectCniError(
    t,
    () => parseConfig(schema, { ...valid, ipam: { type: 'x', routes: {} } }),
    ErrorCode.InvalidNetworkConfig,
    /^invalid ipam\.routes \{\}: must be an array$/,
  );
  expectCniError(
    t,
    () => parseConfig(schema, { ...valid, ipam: { type: 'x', routes: [{ dst: 1 }] } }),
    ErrorCode.InvalidNetworkConfig,
    /^invalid ipam\.routes\.0\.dst 1: must be a string$/,
  );
  expectCniError(
    t,
    () => parseConfig(schema, { ...valid, mode: 'awsvpc' }),
    ErrorCode.InvalidNetworkConfig,
    /^invalid mode "awsvpc": must be one of "bridge", "eni"$/,
  );
  expectCniError(
    t,
    () => parseConfig(schema, 'nope'),
    ErrorCode.InvalidNetworkConfig,
    /^invalid config "nope": must be an object$/,
  );
});

t.test("prefix and code are the caller's", async (t) => {
  expectCniError(
    t,
    () => parseConfig(schema, { ...valid, mtu: null }, { prefix: 'prevResult', code: ErrorCode.DecodeFailure }),
    ErrorCode.DecodeFailure,
    /^invalid prevResult\.mtu null: must be a number$/,
  );
});

t.test('an integer field with a fraction reads "must be an integer"', async (t) => {
  const { parseConfig } = await import('../../src/cni/schema.js');
  const z = await import('zod/mini');
  t.throws(() => parseConfig(z.object({ mtu: z.int() }), { mtu: 1.5 }), {
    code: 7,
    message: 'invalid mtu 1.5: must be an integer',
  });
});
