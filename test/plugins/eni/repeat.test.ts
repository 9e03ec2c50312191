// A repeated ADD (the runtime retried after a timeout, but the first ADD went through): the ENI
// is already in the task netns, so it is not in the host any more. Same config, same state: the
// same result. Anything else: code 100 saying what differs, and nothing is touched.
import { execa } from 'execa';
import t from 'tap';
import { getLink, ipCalls, listAddresses } from '../../../src/netlink/index.js';
import { needsRoot } from '../../helpers/netns.js';
import { ADDR4, ADDR6, cni, GW4, GW6, makeLab, randomMac, vpcConfig, leavesNothingBehind, type Lab } from './lab.js';
import { assertEniHome, taskRoutes } from './state.js';

const ip = async (...args: string[]): Promise<void> => {
  await execa('ip', args);
};

const dualStack = (lab: Lab) =>
  vpcConfig(
    lab,
    {
      eniIPAddresses: [ADDR4, ADDR6],
      gatewayIPAddresses: [GW4, GW6],
      blockInstanceMetadata: true,
      mtu: 9001,
    },
    '1.1.0',
  );

t.test(
  'a repeated ADD with the ENI in place returns the same result and changes nothing',
  { skip: needsRoot },
  async (t) => {
    const lab = await makeLab(t);
    const config = dualStack(lab);
    const first = await cni('ADD', lab, config);
    t.equal(first.exitCode, 0, 'first ADD succeeds');
    const routes = await taskRoutes(lab);
    const state = async () => {
      const l = await getLink('eth0', lab.task);
      return (
        l && {
          mac: l.mac,
          mtu: l.mtu,
          up: l.up,
          alias: l.alias,
          addresses: (await listAddresses({ dev: 'eth0' }, lab.task)).map((a) => a.cidr),
        }
      );
    };
    const link = await state();

    const before = ipCalls();
    const again = await cni('ADD', lab, config);
    t.equal(ipCalls() - before, 3, 'a repeated ADD: 3 ip processes (host, link with addresses, routes)');
    t.equal(again.exitCode, 0, 'the repeated ADD succeeds');
    t.same(again.out, first.out, 'with the same result');
    t.same(await taskRoutes(lab), routes, 'the task routes are unchanged');
    t.same(await state(), link, 'the interface is unchanged');

    const prevResult = {
      cniVersion: '1.1.0',
      interfaces: [{ name: 'ecs-eth0', sandbox: lab.taskPath }],
      ips: [],
      routes: [],
    };
    const chained = await cni('ADD', lab, { ...config, prevResult });
    t.same(
      chained.out.interfaces,
      [...prevResult.interfaces, first.out.interfaces[0]],
      'a chained repeat keeps the prevResult too',
    );

    t.equal((await cni('DEL', lab, config)).exitCode, 0, 'DEL succeeds');
    await assertEniHome(t, lab);
  },
);

t.test('a repeated ADD of an ENI found by name, and of one left down', { skip: needsRoot }, async (t) => {
  const lab = await makeLab(t, { eni: 'ens6' });
  const byName = {
    cniVersion: '1.0.0',
    name: 'n',
    type: 'ecs-eni',
    eniName: 'ens6',
    eniIPAddresses: [ADDR4],
    gatewayIPAddresses: [GW4],
  };
  const first = await cni('ADD', lab, byName);
  t.equal(first.exitCode, 0);
  t.same(await cni('ADD', lab, byName), first, 'found by the host name its record keeps');
  t.equal((await cni('DEL', lab, byName)).exitCode, 0);

  const down = vpcConfig(lab, { opStateDown: true });
  const moved = await cni('ADD', lab, down);
  t.equal(moved.exitCode, 0);
  t.same(await cni('ADD', lab, down), moved, 'stay-down: there under CNI_IFNAME is enough');
  t.equal((await cni('DEL', lab, down)).exitCode, 0);
  await assertEniHome(t, lab, { name: 'ens6' });
});

// [what the second ADD asks or what happened in between, the config change, a change to the task netns, the message]
const differs: Array<[string, object, ((lab: Lab) => Promise<void>) | undefined, RegExp]> = [
  [
    'another address',
    { eniIPAddresses: ['10.0.1.7/24', ADDR6] },
    undefined,
    /address 10\.0\.1\.7\/24 is missing; it has address 10\.0\.1\.5\/24, which the config does not list/,
  ],
  [
    'another gateway',
    { gatewayIPAddresses: ['10.0.1.254', GW6] },
    undefined,
    /it has no default route via 10\.0\.1\.254/,
  ],
  ['another MTU', { mtu: 1500 }, undefined, /its MTU is 9001, not 1500/],
  [
    'no metadata block',
    { blockInstanceMetadata: false },
    undefined,
    /its ADD blocked instance metadata, this config does not/,
  ],
  // A first ADD cut short after the move (the runtime killed it when it timed out).
  ['the same, but the link is down', {}, (lab) => ip('-n', lab.task, 'link', 'set', 'eth0', 'down'), /it is down/],
  [
    'the same, but a blackhole is gone',
    {},
    (lab) => ip('-n', lab.task, 'route', 'del', 'blackhole', '169.254.169.254/32'),
    /blackhole route 169\.254\.169\.254\/32 is missing/,
  ],
];

t.test(
  'a repeated ADD that finds the ENI in place but not as the config says: code 100, nothing touched',
  { skip: needsRoot },
  async (t) => {
    const lab = await makeLab(t);
    const config = dualStack(lab);
    for (const [what, change, meddle, message] of differs) {
      t.equal((await cni('ADD', lab, config)).exitCode, 0, `${what}: first ADD`);
      await meddle?.(lab);
      const routes = await taskRoutes(lab);
      const again = await cni('ADD', lab, { ...config, ...change });
      t.equal(again.exitCode, 1, `${what}: the repeated ADD fails`);
      t.match(again.out, {
        code: 100,
        msg: new RegExp(
          `^ENI ${lab.mac} is already in ${lab.taskPath} as eth0, but not as this config leaves it: .*${message.source}.*\\(DEL it, then ADD again\\)$`,
        ),
      });
      t.match(await getLink('eth0', lab.task), { mac: lab.mac }, 'the ENI stays where it is');
      t.same(await taskRoutes(lab), routes, 'and so do the routes');
      t.equal((await cni('DEL', lab, config)).exitCode, 0, 'DEL puts it back');
      await assertEniHome(t, lab);
    }
  },
);

t.test('the ENI is neither in the host nor in place: still code 11', { skip: needsRoot }, async (t) => {
  const lab = await makeLab(t);
  // eth0 in the task netns is another link (no record of ours) with the configured MAC...
  const mac = randomMac();
  await ip('-n', lab.task, 'link', 'add', 'eth0', 'address', mac, 'type', 'bridge');
  const add = await cni('ADD', lab, vpcConfig(lab, { eniMACAddress: mac }));
  t.match(add.out, { code: 11, msg: new RegExp(`no link with MAC ${mac}`) });
  // ...or our ENI, in place, but the config names another one.
  t.equal((await cni('ADD', lab, vpcConfig(lab), { ifname: 'eth1' })).exitCode, 0);
  const other = await cni('ADD', lab, vpcConfig(lab, { eniMACAddress: randomMac() }), { ifname: 'eth1' });
  t.match(other.out, { code: 11 });
  t.same(
    (await listAddresses({ dev: 'eth1' }, lab.task)).filter((a) => a.family === 4).map((a) => a.cidr),
    [ADDR4],
    'the ENI in place is untouched',
  );
  t.equal((await cni('DEL', lab, vpcConfig(lab), { ifname: 'eth1' })).exitCode, 0);
  await ip('-n', lab.task, 'link', 'del', 'eth0');
  await assertEniHome(t, lab);
});

leavesNothingBehind(t);
