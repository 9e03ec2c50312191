// ADD and DEL round trips through runPlugin (the executable's code path), in throwaway
// namespaces: both dialects, IPv4, IPv6, dual stack, stay-down, MTU, CNI_ARGS, eniName.
import t from 'tap';
import { getLink, ipCalls, listAddresses, listRoutes } from '../../../src/netlink/index.js';
import { needsRoot } from '../../helpers/netns.js';
import { ADDR4, ADDR6, cni, ecsConfig, GW4, GW6, makeLab, ping, vpcConfig, leavesNothingBehind } from './lab.js';
import { assertEniHome, taskLinks, taskRoutes } from './state.js';

t.test('vpc-eni dialect, IPv4: ADD, ping, DEL, and a second round trip', { skip: needsRoot }, async (t) => {
  const lab = await makeLab(t);
  const config = vpcConfig(lab);
  for (const round of [1, 2]) {
    const before = ipCalls();
    const add = await cni('ADD', lab, config);
    const addCalls = ipCalls() - before;
    t.equal(add.exitCode, 0, `round ${round}: ADD succeeds`);
    t.same(add.out, {
      cniVersion: '1.0.0',
      interfaces: [{ name: 'eth0', mac: lab.mac, sandbox: lab.taskPath }],
      ips: [{ interface: 0, address: ADDR4, gateway: GW4 }],
      routes: [{ dst: '0.0.0.0/0', gw: GW4 }],
    });
    t.equal(addCalls, 3, 'ADD: 3 ip processes (find, move, configure)');
    t.same(await taskLinks(lab), ['eth0', 'lo'], 'task netns has exactly lo and eth0');
    const eth0 = await getLink('eth0', lab.task);
    t.match(eth0, { mac: lab.mac, up: true, mtu: 1500, alias: `tasknet-eni:${lab.eni}:mtu=1500` });
    t.same(
      (await listAddresses({ dev: 'eth0', family: 4 }, lab.task)).map((a) => a.cidr),
      [ADDR4],
    );
    t.same(await taskRoutes(lab), ['unicast 0.0.0.0/0 via 10.0.1.1 dev eth0', 'unicast 10.0.1.0/24 dev eth0']);
    t.equal(await getLink(lab.eni, lab.host), null, 'gone from the host netns');
    t.ok(await ping(lab, GW4), 'the task reaches the VPC gateway');

    const beforeDel = ipCalls();
    const del = await cni('DEL', lab, config);
    t.equal(del.exitCode, 0, 'DEL succeeds');
    t.equal(del.out, undefined, 'DEL prints nothing');
    t.equal(ipCalls() - beforeDel, 3, 'DEL: 3 ip processes (look, give back, alias back)');
    await assertEniHome(t, lab);
  }
});

t.test('ecs-eni dialect, dual stack, MTU and blocked instance metadata', { skip: needsRoot }, async (t) => {
  const lab = await makeLab(t);
  const config = ecsConfig(
    lab,
    {
      'ip-addresses': [ADDR4, ADDR6],
      'gateway-ip-addresses': [GW4, GW6],
      'block-instance-metadata': true,
      mtu: 9001,
    },
    '1.1.0',
  );
  const add = await cni('ADD', lab, config);
  t.equal(add.exitCode, 0, 'ADD succeeds');
  t.same(add.out, {
    cniVersion: '1.1.0',
    interfaces: [{ name: 'eth0', mac: lab.mac, mtu: 9001, sandbox: lab.taskPath }],
    ips: [
      { interface: 0, address: ADDR4, gateway: GW4 },
      { interface: 0, address: ADDR6, gateway: GW6 },
    ],
    routes: [
      { dst: '0.0.0.0/0', gw: GW4 },
      { dst: '::/0', gw: GW6 },
    ],
  });
  t.match(await getLink('eth0', lab.task), { mtu: 9001, up: true });
  const routes = await taskRoutes(lab);
  t.same(routes, [
    'blackhole 169.254.169.254/32',
    'blackhole fd00:ec2::254/128',
    'unicast 0.0.0.0/0 via 10.0.1.1 dev eth0',
    'unicast 10.0.1.0/24 dev eth0',
    'unicast 2001:db8:1::/64 dev eth0',
    'unicast ::/0 via 2001:db8:1::1 dev eth0',
  ]);
  t.ok(await ping(lab, GW4), 'IPv4 gateway answers');
  t.ok(await ping(lab, GW6), 'IPv6 gateway answers');
  t.notOk(await ping(lab, '169.254.169.254'), 'instance metadata is unreachable');

  const del = await cni('DEL', lab, config);
  t.equal(del.exitCode, 0, 'DEL succeeds');
  await assertEniHome(t, lab, { mtu: 1500 });
});

t.test('IPv6 only', { skip: needsRoot }, async (t) => {
  const lab = await makeLab(t);
  const config = vpcConfig(lab, { eniIPAddresses: [ADDR6], gatewayIPAddresses: [GW6] });
  const add = await cni('ADD', lab, config);
  t.equal(add.exitCode, 0, 'ADD succeeds');
  t.same(add.out.ips, [{ interface: 0, address: ADDR6, gateway: GW6 }]);
  t.same(add.out.routes, [{ dst: '::/0', gw: GW6 }]);
  t.same(
    (await listAddresses({ dev: 'eth0', family: 6 }, lab.task)).filter((a) => a.scope === 'global').map((a) => a.cidr),
    [ADDR6],
  );
  t.ok(await ping(lab, GW6), 'IPv6 gateway answers');
  t.equal((await cni('DEL', lab, config)).exitCode, 0, 'DEL succeeds');
  await assertEniHome(t, lab);
});

t.test("a gateway outside the address's subnet gets an onlink default route", { skip: needsRoot }, async (t) => {
  const lab = await makeLab(t);
  const config = vpcConfig(lab, { eniIPAddresses: ['10.0.1.5/32'] });
  const add = await cni('ADD', lab, config);
  t.equal(add.exitCode, 0, 'ADD succeeds');
  const [route] = await listRoutes({ family: 4 }, lab.task);
  t.match(route, { dst: '0.0.0.0/0', gateway: GW4, flags: ['onlink'] });
  t.ok(await ping(lab, GW4), 'gateway answers');
  t.equal((await cni('DEL', lab, config)).exitCode, 0);
  await assertEniHome(t, lab);
});

t.test('stay-down and opStateDown: moved and renamed, nothing else', { skip: needsRoot }, async (t) => {
  for (const [dialect, config] of [
    [
      'ecs-eni',
      (l: Parameters<typeof ecsConfig>[0]) =>
        ecsConfig(l, { 'stay-down': true, 'block-instance-metadata': true, mtu: 9000 }),
    ],
    [
      'vpc-eni',
      (l: Parameters<typeof vpcConfig>[0]) => vpcConfig(l, { opStateDown: true, blockInstanceMetadata: true }),
    ],
  ] as const) {
    const lab = await makeLab(t);
    const before = ipCalls();
    const add = await cni('ADD', lab, config(lab));
    t.equal(add.exitCode, 0, `${dialect}: ADD succeeds`);
    t.equal(ipCalls() - before, 2, 'ADD: 2 ip processes (find, move)');
    t.same(
      add.out,
      { cniVersion: '1.0.0', interfaces: [{ name: 'eth0', mac: lab.mac, sandbox: lab.taskPath }] },
      'only the interface',
    );
    t.match(await getLink('eth0', lab.task), { mac: lab.mac, up: false, mtu: 1500 });
    t.same(await listAddresses({ dev: 'eth0' }, lab.task), [], 'no addresses');
    t.same(await taskRoutes(lab), [], 'no routes, no blackholes');
    t.equal((await cni('DEL', lab, config(lab))).exitCode, 0, 'DEL succeeds');
    await assertEniHome(t, lab);
  }
});

t.test('stay-down needs no addresses', { skip: needsRoot }, async (t) => {
  const lab = await makeLab(t);
  const config = { cniVersion: '1.0.0', name: 'n', type: 'ecs-eni', eniMACAddress: lab.mac, opStateDown: true };
  t.equal((await cni('ADD', lab, config)).exitCode, 0, 'ADD succeeds');
  t.equal((await cni('DEL', lab, config)).exitCode, 0, 'DEL succeeds');
  await assertEniHome(t, lab);
});

t.test('CNI_ARGS: a static config served per container (containerd)', { skip: needsRoot }, async (t) => {
  const lab = await makeLab(t);
  const config = { cniVersion: '1.0.0', name: 'awsvpc', type: 'ecs-eni', blockInstanceMetadata: true };
  const args = `IgnoreUnknown=1;K8S_POD_NAME=web;ENIMACAddress=${lab.mac.toUpperCase()};ENIIPAddresses=${ADDR4},${ADDR6};GatewayIPAddresses=${GW4},${GW6}`;
  const add = await cni('ADD', lab, config, { args });
  t.equal(add.exitCode, 0, 'ADD succeeds');
  t.same(add.out.interfaces, [{ name: 'eth0', mac: lab.mac, sandbox: lab.taskPath }]);
  t.same(
    add.out.ips.map((i: { address: string }) => i.address),
    [ADDR4, ADDR6],
  );
  t.ok(await ping(lab, GW6), 'the addresses came from CNI_ARGS');
  t.equal((await cni('DEL', lab, config, { args })).exitCode, 0, 'DEL succeeds');
  await assertEniHome(t, lab);
});

t.test('CNI_ARGS override the config of either dialect', { skip: needsRoot }, async (t) => {
  const lab = await makeLab(t);
  const config = ecsConfig(lab, {
    mac: '0e:00:00:00:00:01',
    'ip-addresses': ['10.9.9.9/24'],
    'gateway-ip-addresses': ['10.9.9.1'],
  });
  const args = `ENIMACAddress=${lab.mac};ENIIPAddresses=10.0.1.7/24;GatewayIPAddresses=${GW4}`;
  const add = await cni('ADD', lab, config, { args });
  t.equal(add.exitCode, 0, 'ADD succeeds');
  t.same(add.out.ips, [{ interface: 0, address: '10.0.1.7/24', gateway: GW4 }]);
  t.ok(await ping(lab, GW4));
  t.equal((await cni('DEL', lab, config, { args })).exitCode, 0, 'DEL succeeds');
  await assertEniHome(t, lab);
});

t.test('found by name: eniName (or CNI_ARGS ENIName) without a MAC', { skip: needsRoot }, async (t) => {
  const lab = await makeLab(t, { eni: 'ens6' });
  const config = {
    cniVersion: '1.0.0',
    name: 'n',
    type: 'ecs-eni',
    eniName: 'ens6',
    eniIPAddresses: [ADDR4],
    gatewayIPAddresses: [GW4],
  };
  const add = await cni('ADD', lab, config);
  t.equal(add.exitCode, 0, 'ADD succeeds');
  t.equal(add.out.interfaces[0].mac, lab.mac, 'the result has the MAC of the named link');
  t.equal((await cni('DEL', lab, config)).exitCode, 0, 'DEL succeeds');
  await assertEniHome(t, lab);

  const args = { args: 'ENIName=ens6' };
  const neutral = { cniVersion: '1.0.0', name: 'n', type: 'ecs-eni', eniIPAddresses: [ADDR4] };
  t.equal((await cni('ADD', lab, neutral, args)).exitCode, 0, 'ADD by CNI_ARGS ENIName');
  t.equal((await cni('DEL', lab, neutral, args)).exitCode, 0, 'DEL');
  await assertEniHome(t, lab);

  const wrongMac = { ...config, eniMACAddress: '0e:00:00:00:00:01' };
  const mismatch = await cni('ADD', lab, wrongMac);
  t.match(mismatch.out, { code: 100, msg: /link ens6 has MAC .* not the configured 0e:00:00:00:00:01/ });
  await assertEniHome(t, lab);
});

t.test('a chained ADD keeps the prevResult', { skip: needsRoot }, async (t) => {
  const lab = await makeLab(t);
  const prevResult = {
    cniVersion: '1.0.0',
    interfaces: [
      { name: 'veth1', mac: '0a:58:a9:fe:ac:02' },
      { name: 'ecs-eth0', sandbox: lab.taskPath },
    ],
    ips: [{ address: '169.254.172.2/22', gateway: '169.254.172.1', interface: 1 }],
    routes: [{ dst: '169.254.170.2/32', gw: '169.254.172.1' }],
    dns: { nameservers: ['10.0.0.2'] },
  };
  const config = { ...vpcConfig(lab), prevResult };
  const add = await cni('ADD', lab, config);
  t.equal(add.exitCode, 0, 'ADD succeeds');
  t.same(add.out, {
    cniVersion: '1.0.0',
    interfaces: [...prevResult.interfaces, { name: 'eth0', mac: lab.mac, sandbox: lab.taskPath }],
    ips: [...prevResult.ips, { interface: 2, address: ADDR4, gateway: GW4 }],
    routes: [...prevResult.routes, { dst: '0.0.0.0/0', gw: GW4 }],
    dns: prevResult.dns,
  });
  t.equal((await cni('DEL', lab, config)).exitCode, 0, 'DEL succeeds');
  await assertEniHome(t, lab);
});

t.test(
  'a task interface with another name than eth0, and an ENI host name that exists in the task netns',
  { skip: needsRoot },
  async (t) => {
    // eth1 (the ENI's host name) is taken in the task netns: the kernel then uses the new name
    // during the move itself.
    const lab = await makeLab(t, { eni: 'ens7' });
    const { execa } = await import('execa');
    await execa('ip', ['-n', lab.task, 'link', 'add', 'ens7', 'type', 'bridge']);
    const config = vpcConfig(lab);
    const add = await cni('ADD', lab, config, { ifname: 'task0' });
    t.equal(add.exitCode, 0, 'ADD succeeds');
    t.same(await taskLinks(lab), ['ens7', 'lo', 'task0']);
    t.ok(await ping(lab, GW4));
    t.equal((await cni('DEL', lab, config, { ifname: 'task0' })).exitCode, 0, 'DEL succeeds');
    t.match(await getLink('ens7', lab.host), { mac: lab.mac, up: false });
    t.same(await taskLinks(lab), ['ens7', 'lo'], "the task's own ens7 is untouched");
  },
);

leavesNothingBehind(t);
