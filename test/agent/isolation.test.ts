// Two tasks side by side on one bridge, each with its own ENI: each reaches its subnet gateway,
// neither reaches the other's bridge address, neither reads the other's credentials or metadata.
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import t from 'tap';
import {
  assertClean,
  container,
  DEMO,
  PROCESS_DEMO,
  fetchInTask,
  inNetns,
  ipJson,
  makeLab,
  needsRoot,
  taskdef,
  waitFor,
} from './harness.js';

t.test('two tasks side by side', { skip: needsRoot }, async (t) => {
  const lab = await makeLab(t, { enis: 2 });
  const a = await lab.run(join(PROCESS_DEMO, 'task.json'));
  const b = await lab.run(
    taskdef('neighbour', [
      container('web', ['node', join(DEMO, 'web.mjs')], { portMappings: [{ containerPort: 80 }] }),
    ]),
  );
  t.not(a.eni.mac, b.eni.mac, 'separate ENIs');
  t.not(a.bridgeAddress, b.bridgeAddress, 'separate bridge addresses on one bridge');
  const ping = async (task: any, address: string) =>
    (await lab.tn(['exec', task.id, '--', 'ping', '-c1', '-W1', address])).code;

  t.equal(await ping(a, '10.0.0.1'), 0, 'A reaches its gateway');
  t.equal(await ping(b, '10.0.0.1'), 0, 'B reaches its gateway');
  t.equal(await ping(a, '10.0.0.11'), 0, 'A reaches B through the VPC (ENI to ENI), as in a real subnet');
  t.not(await ping(a, b.bridgeAddress), 0, "A cannot reach B's bridge address");
  t.not(await ping(b, a.bridgeAddress), 0, "B cannot reach A's bridge address");
  t.not((await fetchInTask(lab, a.id, `http://${b.bridgeAddress}/`)).status, 200, "nor B's web server on it");

  const aCreds = `http://169.254.170.2/v2/credentials/${a.credentialsId}`;
  const bCreds = `http://169.254.170.2/v2/credentials/${b.credentialsId}`;
  t.equal((await fetchInTask(lab, a.id, aCreds)).status, 200, 'A reads its own credentials');
  t.equal((await fetchInTask(lab, b.id, bCreds)).status, 200, 'B reads its own credentials');
  const stolen = await fetchInTask(lab, b.id, aCreds);
  t.equal(stolen.status, 400, "B cannot read A's credentials");
  t.equal(
    stolen.body,
    (await fetchInTask(lab, b.id, 'http://169.254.170.2/v2/credentials/not-an-id')).body,
    'the refusal is the same as for an unknown id: no oracle',
  );
  t.equal((await fetchInTask(lab, a.id, bCreds)).status, 400, "A cannot read B's credentials");
  const bMeta = `http://169.254.170.2/v4/${b.containers[0].metadataId}`;
  t.equal((await fetchInTask(lab, b.id, bMeta)).status, 200, 'B reads its own metadata');
  t.equal((await fetchInTask(lab, a.id, bMeta)).status, 404, "A cannot read B's metadata");
  t.equal((await fetchInTask(lab, a.id, `${bMeta}/task`)).status, 404);

  t.equal((await lab.tn(['stop', a.id, b.id])).code, 0);
  assertClean(t, lab, [a.id, b.id], 2);
});

// What the host lets a task do over ecs-bridge (src/agent/daemon/host-wiring.ts), each promise checked
// against a control: the same attempt with the rule or guard taken away succeeds, so a pass means
// the rule holds, not that the attempt was broken.
t.test('the bridge reaches the endpoint only, and spoofing gets nothing', { skip: needsRoot }, async (t) => {
  const lab = await makeLab(t, { enis: 2 });
  const a = await lab.run(join(PROCESS_DEMO, 'task.json'));
  const b = await lab.run(
    taskdef('intruder', [container('main', ['sleep', 'infinity'])], {
      taskRoleArn: 'arn:aws:iam::123456789012:role/intruder',
    }),
  );
  const bNs = `tasknet-${b.id}`;
  const inB = (cmd: string) => inNetns(bNs, ['sh', '-c', cmd]);
  const onHost = (cmd: string) => inNetns(lab.hostNs, ['sh', '-c', cmd]);
  const get = (ns: string, host: string, port = 8081) =>
    inNetns(ns, [process.execPath, '-e', GET, host, String(port)]).out.trim();
  const aCreds = `http://169.254.170.2/v2/credentials/${a.credentialsId}`;

  // A service of the host on every address, v4 and v6, that no task should reach.
  const server = spawn(
    'nsenter',
    [
      `--net=/var/run/netns/${lab.hostNs}`,
      process.execPath,
      '-e',
      "require('http').createServer((q,r)=>r.end('host')).listen(8081,'::')",
    ],
    { stdio: 'ignore' },
  );
  t.teardown(() => {
    server.kill('SIGKILL');
  });
  await waitFor('the host service', () => get(lab.hostNs, '127.0.0.1') === '200');

  await t.test('from a task: the endpoint and ping of the gateway, nothing else of the host', async (t) => {
    t.equal(
      (await fetchInTask(lab, b.id, `http://169.254.170.2/v2/credentials/${b.credentialsId}`)).status,
      200,
      'B reads its credentials',
    );
    t.equal(inB('ping -c1 -W1 169.254.172.1').code, 0, 'B pings the gateway');
    t.match(get(bNs, '169.254.172.1'), /^ERR/, 'a host service on the gateway address: no');
    onHost('ip addr add 198.51.100.1/32 dev lo');
    t.equal(
      inB('ip route add 198.51.100.1/32 via 169.254.172.1 dev ecs-eth0 onlink').out,
      '',
      'B routes another host address via the gateway',
    );
    t.match(get(bNs, '198.51.100.1'), /^ERR/, 'another host address, routed via the gateway: no');
    onHost('ip addr add fe80::1:1/64 dev ecs-bridge nodad');
    inB('ip addr add fe80::b/64 dev ecs-eth0 nodad');
    t.match(get(bNs, 'fe80::1:1%ecs-eth0'), /^ERR/, 'the bridge over IPv6: no');

    t.equal(onHost('iptables -D INPUT -j TASKNET-INPUT && ip6tables -D INPUT -j TASKNET-INPUT').code, 0);
    try {
      t.equal(get(bNs, '169.254.172.1'), '200', 'control: without the rules the gateway address answers');
      t.equal(get(bNs, '198.51.100.1'), '200', 'control: and so does the other address');
      t.equal(get(bNs, 'fe80::1:1%ecs-eth0'), '200', 'control: and the bridge over IPv6');
    } finally {
      onHost('iptables -I INPUT 1 -j TASKNET-INPUT; ip6tables -I INPUT 1 -j TASKNET-INPUT');
    }
  });

  await t.test('no routing through the host, even with forwarding on', async (t) => {
    // A network beyond the host (like its uplink), and a host that forwards (as Docker hosts do).
    const outside = `${lab.prefix}-out`;
    t.teardown(() => {
      onHost('ip link del out0');
      spawnSync('ip', ['netns', 'del', outside]);
    });
    spawnSync('ip', ['netns', 'add', outside]);
    onHost(
      `ip link add out0 type veth peer name out1 netns ${outside} && ip addr add 192.0.2.1/24 dev out0 && ip link set out0 up && sysctl -qw net.ipv4.ip_forward=1`,
    );
    inNetns(outside, [
      'sh',
      '-c',
      'ip addr add 192.0.2.2/24 dev out1 && ip link set out1 up && ip route add 169.254.172.0/22 via 192.0.2.1',
    ]);
    t.equal(
      inB('ip route add 192.0.2.0/24 via 169.254.172.1 dev ecs-eth0 onlink').out,
      '',
      'B routes the outside via the gateway',
    );
    t.not(inB('ping -c1 -W1 192.0.2.2').code, 0, 'B cannot reach the outside network through the host');
    t.equal(onHost('iptables -D FORWARD -j TASKNET-FORWARD').code, 0);
    try {
      t.equal(inB('ping -c1 -W1 192.0.2.2').code, 0, 'control: without the rule the host routes it');
    } finally {
      onHost('iptables -I FORWARD 1 -j TASKNET-FORWARD');
    }
  });

  await t.test('the endpoint from the VPC side of an ENI, through a task that forwards', async (t) => {
    const aNs = `tasknet-${a.id}`;
    inNetns(aNs, ['sysctl', '-qw', 'net.ipv4.ip_forward=1']);
    inNetns(lab.vpcNs, ['ip', 'route', 'add', '169.254.170.2/32', 'via', a.eni.addresses[0].split('/')[0]]);
    t.match(get(lab.vpcNs, '169.254.170.2', 80), /^ERR/, 'no answer');
  });

  await t.test("a task that takes another task's address, then its MAC too, gets nothing", async (t) => {
    const pinned = () =>
      ipJson('-n', lab.hostNs, 'neigh', 'show', 'dev', 'ecs-bridge').find((n) => n.dst === a.bridgeAddress);
    const aMac = pinned()?.lladdr;
    t.same(pinned()?.state, ['PERMANENT'], "A's bridge address is pinned to its MAC");
    t.equal((await fetchInTask(lab, a.id, aCreds)).status, 200, 'A reads its credentials');
    inB(
      `ip addr flush dev ecs-eth0 && ip addr add ${a.bridgeAddress}/22 dev ecs-eth0 && ip route replace 169.254.170.2/32 via 169.254.172.1 dev ecs-eth0 onlink`,
    );
    t.equal((await fetchInTask(lab, b.id, aCreds)).status, 0, "B as A's address: no answer at all");
    t.equal(pinned()?.lladdr, aMac, "B's ARP did not move the pin");
    inB(`ip link set ecs-eth0 address ${aMac}`);
    t.equal((await fetchInTask(lab, b.id, aCreds)).status, 0, "B as A's address and MAC: no answer");
    const fdb = JSON.parse(inNetns(lab.hostNs, ['bridge', '-j', 'fdb', 'show', 'br', 'ecs-bridge']).out);
    t.same(
      fdb.filter((e: any) => e.mac === aMac).map((e: any) => e.ifname),
      [hostVethOf(lab, a.id)],
      "A's MAC stays on A's port",
    );
    t.equal((await fetchInTask(lab, a.id, aCreds)).status, 200, 'A is not disturbed');

    // Control: B back on its own MAC, A's address unpinned: the same attempt steals A's credentials.
    inB(`ip link set ecs-eth0 address ${taskMacOf(lab, b.id)}`);
    onHost(`ip neigh del ${a.bridgeAddress} dev ecs-bridge`);
    const stolen = await fetchInTask(lab, b.id, aCreds);
    t.equal(stolen.status, 200, "control: without the pin, B reads A's credentials");
  });

  t.equal((await lab.tn(['stop', a.id, b.id])).code, 0);
  assertClean(t, lab, [a.id, b.id], 2);
});

// Status code or "ERR <code>" of GET http://host:port/ (an IPv6 host may carry a %zone).
const GET =
  "const [h,p]=process.argv.slice(1);require('http').get({host:h,port:+p,timeout:1500},r=>{console.log(r.statusCode);process.exit(0)}).on('error',e=>{console.log('ERR '+e.code);process.exit(1)}).on('timeout',()=>{console.log('ERR timeout');process.exit(1)})";

type Labish = { taskFile: (id: string) => any };
const hostVethOf = (lab: Labish, id: string): string =>
  lab.taskFile(id).attachment.bridge.interfaces.find((i: any) => i.sandbox === undefined && i.name !== 'ecs-bridge')
    .name;
const taskMacOf = (lab: Labish, id: string): string =>
  lab.taskFile(id).attachment.bridge.interfaces.find((i: any) => i.sandbox !== undefined).mac;
