// The metadata blackholes: DEL and a rollback remove only the ones their ADD added. One that was
// in the task netns before (another plugin's, the runtime's) stays, whatever the DEL's config says.
import { execa } from 'execa';
import t from 'tap';
import { getLink } from '../../../src/netlink/index.js';
import { needsRoot } from '../../helpers/netns.js';
import { cni, makeLab, vpcConfig, leavesNothingBehind, type Lab } from './lab.js';
import { assertEniHome, taskRoutes } from './state.js';

const ip = async (...args: string[]): Promise<void> => {
  await execa('ip', args);
};

const BOTH = ['blackhole 169.254.169.254/32', 'blackhole fd00:ec2::254/128'];
const blackholes = async (lab: Lab): Promise<string[]> =>
  (await taskRoutes(lab)).filter((r) => r.startsWith('blackhole'));

// The IPv4 one is there before the ADD; the IPv6 one is the ADD's own (the control).
const withIpv4Blackhole = async (t: Parameters<typeof makeLab>[0]): Promise<Lab> => {
  const lab = await makeLab(t);
  await ip('-n', lab.task, 'route', 'add', 'blackhole', '169.254.169.254/32');
  return lab;
};

t.test('DEL removes the blackholes its ADD added, and only those', { skip: needsRoot }, async (t) => {
  const lab = await withIpv4Blackhole(t);
  const config = vpcConfig(lab, { blockInstanceMetadata: true });
  t.equal((await cni('ADD', lab, config)).exitCode, 0, 'ADD succeeds');
  t.same(await blackholes(lab), BOTH, 'both blocked');
  t.match(
    await getLink('eth0', lab.task),
    { alias: `tasknet-eni:${lab.eni}:mtu=1500:imds=6` },
    'the record names the one ADD added',
  );
  t.equal((await cni('DEL', lab, config)).exitCode, 0, 'DEL succeeds');
  t.same(await blackholes(lab), ['blackhole 169.254.169.254/32'], "the one from before stays, the ADD's is gone");

  // The record, not the DEL's config, says what is ours.
  t.equal((await cni('ADD', lab, vpcConfig(lab))).exitCode, 0, 'an ADD that does not block');
  t.equal((await cni('DEL', lab, config)).exitCode, 0, 'a DEL whose config blocks');
  t.same(await blackholes(lab), ['blackhole 169.254.169.254/32'], 'leaves the one from before');
  t.equal((await cni('ADD', lab, config)).exitCode, 0, 'an ADD that blocks');
  t.equal((await cni('DEL', lab, vpcConfig(lab))).exitCode, 0, 'a DEL whose config does not');
  t.same(await blackholes(lab), ['blackhole 169.254.169.254/32'], "still removes the ADD's");
  await ip('-n', lab.task, 'route', 'del', 'blackhole', '169.254.169.254/32');
  await assertEniHome(t, lab);
});

t.test('a failed ADD rolls back the blackholes it added, and only those', { skip: needsRoot }, async (t) => {
  for (const failpoint of ['eni:after-move', 'eni:after-configure']) {
    const lab = await withIpv4Blackhole(t);
    const add = await cni('ADD', lab, vpcConfig(lab, { blockInstanceMetadata: true }), { failpoint });
    t.match(add.out, { code: 100, msg: `failpoint ${failpoint} reached` });
    t.same(await blackholes(lab), ['blackhole 169.254.169.254/32'], `${failpoint}: the one from before stays`);
    t.match(await getLink(lab.eni, lab.host), { mac: lab.mac, up: false }, 'the ENI is home');
  }
});

t.test(
  'a route of another type to a metadata address: refused before anything moves',
  { skip: needsRoot },
  async (t) => {
    const lab = await makeLab(t);
    // A blackhole would overwrite it, and the DEL of that blackhole would take it (IPv6 deletes by
    // address, whatever the type).
    await ip('-n', lab.task, 'link', 'set', 'lo', 'up');
    await ip('-n', lab.task, 'route', 'add', 'fd00:ec2::254/128', 'dev', 'lo');
    const add = await cni('ADD', lab, vpcConfig(lab, { blockInstanceMetadata: true }));
    t.match(add.out, {
      code: 100,
      msg: `cannot block instance metadata in ${lab.taskPath}: it already has a unicast route to fd00:ec2::254/128 dev lo`,
    });
    t.match(await getLink(lab.eni, lab.host), { mac: lab.mac }, 'the ENI did not move');
    t.same(await blackholes(lab), [], 'no blackhole');
    t.ok((await taskRoutes(lab)).includes('unicast fd00:ec2::254/128 dev lo'), 'the route is still there');
  },
);

leavesNothingBehind(t);
