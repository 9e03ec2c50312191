// Failures: a missing ENI (code 11), a taken CNI_IFNAME, a failure injected after each ADD step
// and one inside the netns batch (the ENI always ends up back in the host, nothing left in the
// task netns), a taken host name on the way back, DEL idempotency, a netns that is the host's.
import { execa } from 'execa';
import t from 'tap';
import { getLink, listRoutes } from '../../../src/netlink/index.js';
import { needsRoot } from '../../helpers/netns.js';
import { ADDR4, ADDR6, cni, GW4, GW6, makeLab, randomMac, vpcConfig, leavesNothingBehind } from './lab.js';
import { assertEniHome, taskLinks } from './state.js';

const ip = async (...args: string[]): Promise<void> => {
  await execa('ip', args);
};

t.test('no link with the MAC: code 11, try again later, naming the MAC', { skip: needsRoot }, async (t) => {
  const lab = await makeLab(t);
  const absent = randomMac();
  const add = await cni('ADD', lab, vpcConfig(lab, { eniMACAddress: absent }));
  t.equal(add.exitCode, 1);
  t.match(add.out, { code: 11, msg: new RegExp(`no link with MAC ${absent} .*try again later`) });
  const byName = await cni('ADD', lab, vpcConfig(lab, { eniMACAddress: undefined, eniName: 'eth9' }));
  t.match(byName.out, { code: 11, msg: /ENI eth9 not found in the host network namespace/ });
  await assertEniHome(t, lab);
});

t.test('CNI_IFNAME already in the task netns: an error, and the ENI stays home', { skip: needsRoot }, async (t) => {
  // eth1 free in the task netns: the kernel moves the link as eth1 and fails the rename after,
  // so the rollback has to fetch it back. eth1 taken too: the kernel refuses before moving.
  for (const alsoTaken of [false, true]) {
    const lab = await makeLab(t);
    await ip('-n', lab.task, 'link', 'add', 'eth0', 'type', 'bridge');
    if (alsoTaken) await ip('-n', lab.task, 'link', 'add', lab.eni, 'type', 'bridge');
    const add = await cni('ADD', lab, vpcConfig(lab));
    t.match(
      add.out,
      { code: 100, msg: `interface eth0 already exists in ${lab.taskPath}` },
      `host name also taken: ${alsoTaken}`,
    );
    t.match(await getLink(lab.eni, lab.host), { mac: lab.mac, up: false }, 'ENI back in the host under its name');
    t.same(
      await taskLinks(lab),
      alsoTaken ? ['eth0', 'eth1', 'lo'] : ['eth0', 'lo'],
      'the task netns keeps only its own links',
    );
  }
});

const FAILPOINTS = ['eni:after-find', 'eni:after-move', 'eni:after-configure'];

t.test('a failure after each ADD step gives the ENI back to the host', { skip: needsRoot }, async (t) => {
  const lab = await makeLab(t);
  const config = vpcConfig(lab, {
    eniIPAddresses: [ADDR4, ADDR6],
    gatewayIPAddresses: [GW4, GW6],
    blockInstanceMetadata: true,
    mtu: 9001,
  });
  for (const failpoint of FAILPOINTS) {
    const add = await cni('ADD', lab, config, { failpoint });
    t.match(add.out, { code: 100, msg: `failpoint ${failpoint} reached` }, failpoint);
    await assertEniHome(t, lab);
  }
  const ok = await cni('ADD', lab, config);
  t.equal(ok.exitCode, 0, 'the same ADD succeeds afterwards');
  t.equal((await cni('DEL', lab, config)).exitCode, 0);
  await assertEniHome(t, lab);
});

t.test('a failure inside the netns batch rolls back what the batch did', { skip: needsRoot }, async (t) => {
  const lab = await makeLab(t);
  // A default route already in the task netns makes the last line (our default route) fail,
  // after the addresses and the blackholes went in.
  await ip('-n', lab.task, 'link', 'set', 'lo', 'up');
  await ip('-n', lab.task, 'route', 'add', 'default', 'dev', 'lo');
  const add = await cni('ADD', lab, vpcConfig(lab, { blockInstanceMetadata: true }));
  t.match(add.out, {
    code: 101,
    msg: /configuring eth0 in .*route add 0\.0\.0\.0\/0 via 10\.0\.1\.1 dev eth0.*File exists/,
  });
  t.match(await getLink(lab.eni, lab.host), { mac: lab.mac, up: false, mtu: 1500 });
  t.same(await taskLinks(lab), ['lo']);
  const main = (await listRoutes({}, lab.task)).map((r) => `${r.type} ${r.dst}`);
  t.same(main, ['unicast 0.0.0.0/0'], "the blackholes are gone, the task's own default route stays");
});

t.test(
  'DEL: the host name was taken meanwhile, so the ENI comes back under its fallback name',
  { skip: needsRoot },
  async (t) => {
    const lab = await makeLab(t);
    const config = vpcConfig(lab);
    t.equal((await cni('ADD', lab, config)).exitCode, 0);
    await ip('-n', lab.host, 'link', 'add', lab.eni, 'type', 'bridge'); // e.g. a new ENI got eth1
    const fallback = `eni${lab.mac.replaceAll(':', '')}`;
    // The record stays on until the ENI has its host name back: the next DEL finishes the job.
    const record = `tasknet-eni:${lab.eni}:mtu=1500`;
    t.equal((await cni('DEL', lab, config)).exitCode, 0, 'DEL succeeds');
    await assertEniHome(t, lab, { name: fallback, alias: record });
    t.equal((await cni('DEL', lab, config)).exitCode, 0, 'a second DEL while the name is still taken');
    await assertEniHome(t, lab, { name: fallback, alias: record });
    await ip('-n', lab.host, 'link', 'del', lab.eni);
    t.equal((await cni('DEL', lab, config)).exitCode, 0, 'a DEL once the name is free again');
    await assertEniHome(t, lab);
    t.equal((await cni('ADD', lab, config)).exitCode, 0, 'and the ENI is usable again');
    t.equal((await cni('DEL', lab, config)).exitCode, 0);
    await assertEniHome(t, lab);
  },
);

t.test('DEL after the task netns is gone: the ENI gets its host name back', { skip: needsRoot }, async (t) => {
  const lab = await makeLab(t);
  const config = vpcConfig(lab, { mtu: 9000 });
  t.equal((await cni('ADD', lab, config)).exitCode, 0);
  // What the kernel does to a physical ENI when its netns dies: back to the initial netns under
  // its current name if free ("eth0" here), addresses dropped. A veth would die instead, so the
  // lab moves it by hand and then deletes the task netns.
  await ip('-n', lab.task, 'link', 'set', 'eth0', 'netns', lab.host);
  await ip('netns', 'del', lab.task);
  const del = await cni('DEL', lab, config, { netns: `/var/run/netns/${lab.task}` });
  t.equal(del.exitCode, 0, 'DEL succeeds');
  const link = await getLink(lab.eni, lab.host);
  t.match(link, { mac: lab.mac, up: false, mtu: 1500 }, 'renamed back, host MTU restored');
  t.equal(await getLink('eth0', lab.host), null);
});

t.test(
  'DEL after a give-back cut short: the ENI is found in the task netns under its fallback name',
  { skip: needsRoot },
  async (t) => {
    for (const blockInstanceMetadata of [false, true]) {
      const lab = await makeLab(t);
      const config = vpcConfig(lab, { blockInstanceMetadata });
      t.equal((await cni('ADD', lab, config)).exitCode, 0);
      // The give-back batch ran its first lines (down, renamed to the fallback name) and then the
      // move failed: an in-process runtime killed meanwhile, so its /proc/PID/ns/net target is gone.
      const fallback = `eni${lab.mac.replaceAll(':', '')}`;
      await ip('-n', lab.task, 'link', 'set', 'eth0', 'down');
      await ip('-n', lab.task, 'link', 'set', 'eth0', 'name', fallback);
      t.equal((await cni('DEL', lab, config)).exitCode, 0, 'DEL succeeds');
      await assertEniHome(t, lab);
      t.same(await taskLinks(lab), ['lo'], 'nothing left in the task netns');
      t.equal((await cni('ADD', lab, config)).exitCode, 0, 'and the ENI is usable again');
      t.equal((await cni('DEL', lab, config)).exitCode, 0);
      await assertEniHome(t, lab);
    }
  },
);

t.test('DEL is idempotent', { skip: needsRoot }, async (t) => {
  const lab = await makeLab(t);
  const config = vpcConfig(lab);
  t.same(await cni('DEL', lab, config), { exitCode: 0, out: undefined }, 'never added');
  await assertEniHome(t, lab);
  t.equal((await cni('ADD', lab, config)).exitCode, 0);
  t.same(await cni('DEL', lab, config), { exitCode: 0, out: undefined }, 'first DEL');
  t.same(await cni('DEL', lab, config), { exitCode: 0, out: undefined }, 'second DEL');
  await assertEniHome(t, lab);
  t.same(await cni('DEL', lab, config, { netns: '' }), { exitCode: 0, out: undefined }, 'no CNI_NETNS');
  t.same(
    await cni('DEL', lab, config, { netns: '/var/run/netns/teni-gone' }),
    { exitCode: 0, out: undefined },
    'netns path gone',
  );
  const bare = { cniVersion: '1.0.0', name: 'n', type: 'ecs-eni' };
  t.same(await cni('DEL', lab, bare), { exitCode: 0, out: undefined }, 'a config without the ENI');
  await assertEniHome(t, lab);
});

t.test('DEL leaves alone an interface it did not put there', { skip: needsRoot }, async (t) => {
  const lab = await makeLab(t);
  await ip('-n', lab.task, 'link', 'add', 'eth0', 'type', 'bridge');
  t.equal((await cni('DEL', lab, vpcConfig(lab))).exitCode, 0);
  t.same(await taskLinks(lab), ['eth0', 'lo']);
  t.match(await getLink(lab.eni, lab.host), { mac: lab.mac });
});

t.test('CNI_NETNS that is the host netns: code 8', { skip: needsRoot }, async (t) => {
  const lab = await makeLab(t);
  const add = await cni('ADD', lab, vpcConfig(lab), { netns: `/var/run/netns/${lab.host}` });
  t.match(add.out, { code: 8, msg: /should not be the same/ });
  t.match(await getLink(lab.eni, lab.host), { mac: lab.mac });
});

t.test('CNI_NETNS that is not a netns: code 4', { skip: needsRoot }, async (t) => {
  const lab = await makeLab(t);
  const add = await cni('ADD', lab, vpcConfig(lab), { netns: '/etc/hostname' });
  t.match(add.out, { code: 4, msg: /not a network namespace/ });
});

leavesNothingBehind(t);
