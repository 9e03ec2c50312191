// CHECK (cni-conformance G): passes right after ADD, fails when an address, a route, a
// blackhole or the interface is gone, or prevResult does not match.
import { execa } from 'execa';
import t, { type Test } from 'tap';
import { ipCalls } from '../../../src/netlink/index.js';
import { needsRoot } from '../../helpers/netns.js';
import { ADDR4, ADDR6, cni, GW4, GW6, makeLab, vpcConfig, type Lab, leavesNothingBehind } from './lab.js';

const ip = async (...args: string[]): Promise<void> => {
  await execa('ip', args);
};

const dualStack = (lab: Lab) =>
  vpcConfig(lab, {
    eniIPAddresses: [ADDR4, ADDR6],
    gatewayIPAddresses: [GW4, GW6],
    blockInstanceMetadata: true,
  });

// ADD, then a CHECK config carrying its result as prevResult (as a runtime does from its cache).
async function added(t: Test, lab: Lab, config = dualStack(lab)): Promise<Record<string, unknown>> {
  const add = await cni('ADD', lab, config);
  t.equal(add.exitCode, 0, 'ADD succeeds');
  t.teardown(async () => {
    await cni('DEL', lab, config);
  });
  return { ...config, prevResult: add.out };
}

t.test('CHECK passes right after ADD, with no output', { skip: needsRoot }, async (t) => {
  const lab = await makeLab(t);
  const config = await added(t, lab);
  const before = ipCalls();
  t.same(await cni('CHECK', lab, config), { exitCode: 0, out: undefined });
  t.equal(ipCalls() - before, 3, 'CHECK: 3 ip processes (link, addresses, routes)');
  const stayDown = vpcConfig(lab, { opStateDown: true });
  await cni('DEL', lab, config);
  const add = await cni('ADD', lab, stayDown);
  t.same(
    await cni('CHECK', lab, { ...stayDown, prevResult: add.out }),
    { exitCode: 0, out: undefined },
    'and for a link left down',
  );
});

const broken: Array<[string, (lab: Lab) => Promise<void>, RegExp]> = [
  [
    'an address',
    (lab) => ip('-n', lab.task, 'addr', 'del', ADDR6, 'dev', 'eth0'),
    /address 2001:db8:1::5\/64 is missing/,
  ],
  [
    'the default route',
    (lab) => ip('-n', lab.task, 'route', 'del', 'default', 'via', GW4),
    /route 0\.0\.0\.0\/0 via 10\.0\.1\.1 is missing/,
  ],
  [
    'a metadata blackhole',
    (lab) => ip('-n', lab.task, 'route', 'del', 'blackhole', 'fd00:ec2::254/128'),
    /blackhole route fd00:ec2::254\/128 .* is missing/,
  ],
  ['the interface', (lab) => ip('-n', lab.task, 'link', 'del', 'eth0'), /interface is missing from/],
  ['the link state', (lab) => ip('-n', lab.task, 'link', 'set', 'eth0', 'down'), /interface is down/],
];

for (const [what, breakIt, message] of broken) {
  t.test(`CHECK fails when ${what} is gone`, { skip: needsRoot }, async (t) => {
    const lab = await makeLab(t);
    const config = await added(t, lab);
    await breakIt(lab);
    const check = await cni('CHECK', lab, config);
    t.equal(check.exitCode, 1);
    t.match(check.out, { code: 100, msg: message });
  });
}

t.test('CHECK compares with prevResult', { skip: needsRoot }, async (t) => {
  const lab = await makeLab(t);
  const config = await added(t, lab);
  const prev = config.prevResult as { interfaces: Array<Record<string, string>> };
  const withInterface = (changes: Record<string, string>) => ({
    ...config,
    prevResult: { ...prev, interfaces: [{ ...prev.interfaces[0], ...changes }] },
  });
  t.match((await cni('CHECK', lab, withInterface({ mac: '0e:00:00:00:00:01' }))).out, {
    code: 100,
    msg: /has MAC .* prevResult says 0e:00:00:00:00:01/,
  });
  t.match((await cni('CHECK', lab, withInterface({ sandbox: '/proc/1/ns/net' }))).out, {
    code: 100,
    msg: /sandbox in prevResult/,
  });
  t.match((await cni('CHECK', lab, withInterface({ name: 'eth9' }))).out, {
    code: 100,
    msg: /prevResult has no interface eth0/,
  });
  t.match((await cni('CHECK', lab, { ...config, prevResult: undefined })).out, {
    code: 7,
    msg: 'required prevResult missing',
  });
  t.match((await cni('CHECK', lab, { ...config, cniVersion: '0.3.1' })).out, { code: 1, msg: /does not allow CHECK/ });
});

leavesNothingBehind(t);
