// The whole life of the demo task through the CLI, in a lab of its own: run, what the task netns
// looks like, the web page from the VPC through the ENI, web -> api over 127.0.0.1, credentials and
// metadata from 169.254.170.2, what the endpoint refuses, logs, exec, stop, and nothing left.
import { statSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import {
  assertClean,
  DEMO,
  PROCESS_DEMO,
  fetchInTask,
  inNetns,
  ipJson,
  linkNames,
  makeLab,
  needsRoot,
  netnsList,
  waitFor,
} from './harness.js';

t.test('full lifecycle of the demo task', { skip: needsRoot }, async (t) => {
  const lab = await makeLab(t, { enis: 2 });
  const run = await lab.tn(['run', join(PROCESS_DEMO, 'task.json'), '--eni', 'auto']);
  t.equal(run.code, 0, run.stderr);
  for (const label of ['task', 'eni', 'bridge', 'credentials'])
    t.match(run.stdout, new RegExp(`^${label}\\s+\\S`, 'm'), `run prints the ${label}`);
  const [task] = (await lab.tn(['ls', '--json'])).json;
  t.equal(task.status, 'RUNNING');
  t.same(
    task.containers.map((c: any) => [c.name, c.status]),
    [
      ['web', 'RUNNING'],
      ['api', 'RUNNING'],
    ],
  );
  t.match(run.stdout, task.id);
  t.match(run.stdout, task.credentialsId);
  const netns = `tasknet-${task.id}`;

  await t.test('the task netns: ENI as eth0, bridge veth as ecs-eth0, visible to ip netns', async (t) => {
    t.ok(netnsList().includes(netns), `ip netns shows ${netns}`);
    t.notOk(linkNames(lab.hostNs).includes('eni0'), 'eni0 left the host netns');
    const addrs = ipJson('-n', netns, 'addr').flatMap((l) =>
      (l.addr_info ?? [])
        .filter((a: any) => a.scope === 'global')
        .map((a: any) => `${l.ifname} ${a.local}/${a.prefixlen}`),
    );
    t.ok(addrs.includes('eth0 10.0.0.10/24'), `eth0 has the ENI address (${addrs.join(', ')})`);
    t.ok(addrs.includes(`ecs-eth0 ${task.bridgeAddress}/22`), 'ecs-eth0 has the bridge address');
    const routes = ipJson('-n', netns, 'route').map((r) => `${r.dst} ${r.gateway ?? ''}`.trim());
    t.ok(routes.includes('default 10.0.0.1'), 'default route via the subnet gateway');
    t.ok(routes.includes('169.254.170.2 169.254.172.1'), 'endpoint route via the bridge');
    const mode = (p: string) => (statSync(p).mode & 0o777).toString(8);
    t.equal(mode(lab.stateDir), '700');
    t.equal(mode(join(lab.stateDir, 'tasks', task.id, 'task.json')), '600');
    t.equal(mode(join(lab.stateDir, 'logs', task.id, 'web.log')), '600');
    t.equal(mode(join(lab.stateDir, 'agent.sock')), '600');
  });

  await t.test('a VPC client gets the web page through the ENI; web reached api on 127.0.0.1', async (t) => {
    let out = '';
    await waitFor('the web page', () => {
      const r = inNetns(lab.vpcNs, [process.execPath, join(DEMO, 'client.mjs'), 'http://10.0.0.10/']);
      out = r.out;
      return r.code === 0;
    });
    t.match(out, /-> 200/);
    t.match(out, /hello from web on ip-10-0-0-10/, 'the task hostname comes from the ENI');
    t.match(out, /"service":"api"/, 'web got data from api');
    t.match(out, /"from":"(::ffff:)?127\.0\.0\.1"/, 'over 127.0.0.1');
  });

  await t.test('credentials and metadata from 169.254.170.2', async (t) => {
    const creds = await fetchInTask(lab, task.id, `http://169.254.170.2/v2/credentials/${task.credentialsId}`);
    t.equal(creds.status, 200, creds.body);
    const body = JSON.parse(creds.body);
    t.same(Object.keys(body).sort(), ['AccessKeyId', 'Expiration', 'RoleArn', 'SecretAccessKey', 'Token']);
    t.equal(body.RoleArn, 'arn:aws:iam::123456789012:role/demo-web-task');
    t.ok(Date.parse(body.Expiration) - Date.now() < 16 * 60_000, 'lab credentials are short-lived');

    const env = await lab.tn([
      'exec',
      task.id,
      '--container',
      'api',
      '--',
      'sh',
      '-c',
      'echo $ECS_CONTAINER_METADATA_URI_V4 $AWS_CONTAINER_CREDENTIALS_RELATIVE_URI',
    ]);
    const [metadataUri, relative] = env.stdout.trim().split(' ');
    t.equal(relative, `/v2/credentials/${task.credentialsId}`);
    t.match(metadataUri, /^http:\/\/169\.254\.170\.2\/v4\/[0-9a-f-]+$/);
    const container = await fetchInTask(lab, task.id, metadataUri!, 'api');
    t.equal(container.status, 200, container.body);
    const c = JSON.parse(container.body);
    t.equal(c.Name, 'api');
    t.equal(c.KnownStatus, 'RUNNING');
    t.same(c.Networks, [
      {
        NetworkMode: 'awsvpc',
        AttachmentIndex: 0,
        MACAddress: '0e:74:6e:00:00:00',
        IPv4Addresses: ['10.0.0.10'],
        IPv4SubnetCIDRBlock: '10.0.0.0/24',
        PrivateDNSName: `ip-10-0-0-10.${lab.prefix}.internal`,
        SubnetGatewayIpv4Address: '10.0.0.1/24',
      },
    ]);
    t.same(c.Ports, [{ ContainerPort: 8080, Protocol: 'tcp', HostPort: 8080, HostIp: '10.0.0.10' }]);
    const taskMeta = await fetchInTask(lab, task.id, `${metadataUri}/task`);
    t.equal(taskMeta.status, 200);
    const tm = JSON.parse(taskMeta.body);
    t.equal(tm.TaskARN, task.arn);
    t.equal(tm.Family, 'demo-web');
    t.same(
      tm.Containers.map((x: any) => x.Name),
      ['web', 'api'],
    );
    t.equal(
      tm.Limits,
      undefined,
      'no task-level limits: the process runtime applies none (the engine test checks them)',
    );

    const unknown = await fetchInTask(
      lab,
      task.id,
      'http://169.254.170.2/v2/credentials/00000000-0000-0000-0000-000000000000',
    );
    t.equal(unknown.status, 400);
    t.notMatch(unknown.body, /AccessKeyId/);
    t.equal((await fetchInTask(lab, task.id, 'http://169.254.170.2/v1/metadata')).status, 404, 'unknown path: 404');
    t.equal((await fetchInTask(lab, task.id, 'http://169.254.170.2/v4/nope/task')).status, 404);
  });

  await t.test('the endpoint is unreachable from outside the host netns', async (t) => {
    // A netns wired to the lab's host netns like a foreign host, with a route to 169.254.170.2.
    const outside = `${lab.prefix}-out`;
    const sh = (cmd: string) => inNetns(lab.hostNs, ['sh', '-c', cmd]);
    try {
      inNetns(lab.hostNs, ['ip', 'netns', 'add', outside]);
      sh(
        `ip link add out0 type veth peer name out1 netns ${outside} && ip addr add 192.0.2.1/24 dev out0 && ip link set out0 up`,
      );
      inNetns(outside, [
        'sh',
        '-c',
        'ip addr add 192.0.2.2/24 dev out1 && ip link set out1 up && ip link set lo up && ip route add 169.254.170.2/32 via 192.0.2.1',
      ]);
      t.equal(inNetns(outside, ['ping', '-c1', '-W2', '192.0.2.1']).code, 0, 'the outside host reaches the lab host');
      const r = inNetns(outside, [
        process.execPath,
        '-e',
        `fetch('http://169.254.170.2/v2/credentials/${task.credentialsId}',{signal:AbortSignal.timeout(1500)}).then(r=>{console.log(r.status);process.exit(0)},e=>{console.log('ERR');process.exit(1)})`,
      ]);
      t.not(r.code, 0, `no answer from outside: ${r.out.trim()}`);
      const rule = inNetns(lab.hostNs, ['iptables', '-S', 'TASKNET-INPUT']).out;
      t.match(rule, /-d 169\.254\.170\.2\/32 ! -i ecs-bridge -p tcp .*--dport 80 .*-j DROP/);
    } finally {
      inNetns(lab.hostNs, ['ip', 'link', 'del', 'out0']);
      inNetns(lab.hostNs, ['ip', 'netns', 'del', outside]);
    }
  });

  await t.test('logs and exec', async (t) => {
    const logs = await lab.tn(['logs', task.id]);
    t.equal(logs.code, 0, logs.stderr);
    t.match(logs.stdout, /^web \| web listening on :80/m);
    t.match(logs.stdout, /^api \| api listening on :8080/m);
    const one = await lab.tn(['logs', task.id.slice(0, 8), 'api']);
    t.match(one.stdout, /^api listening on :8080/, 'one container, raw, by id prefix');
    const bad = await lab.tn(['logs', task.id, 'nope']);
    t.equal(bad.code, 1);
    t.match(bad.stderr, /has no container "nope" \(it has web, api\)/);
    const ps = await lab.tn(['exec', task.id, '--', 'sh', '-c', 'hostname; cat /proc/1/comm; pwd']);
    t.equal(ps.code, 0, ps.stderr);
    const [hostname, init, cwd] = ps.stdout.trim().split('\n');
    t.equal(hostname, 'ip-10-0-0-10');
    t.equal(init, 'sh', 'PID 1 of the container is its init');
    t.equal(cwd, DEMO, "the working directory is the task definition's directory");
    t.equal(
      (await lab.tn(['exec', task.id, '--', 'sh', '-c', 'exit 7'])).code,
      7,
      "exec exits with the command's code",
    );
  });

  await t.test('stop: nothing left, the ENI is back', async (t) => {
    const stop = await lab.tn(['stop', task.id.slice(0, 10)]);
    t.equal(stop.code, 0, stop.stderr);
    t.match(stop.stdout, `${task.id} STOPPED (Task stopped by user)`);
    assertClean(t, lab, [task.id], 2);
    const all = (await lab.tn(['ls', '--all', '--json'])).json;
    t.equal(all[0].status, 'STOPPED');
    t.same(
      all[0].containers.map((c: any) => c.exitCode),
      [0, 0],
      'both exited 0 on SIGTERM',
    );
    t.match((await lab.tn(['logs', task.id, 'web'])).stdout, /SIGTERM, bye/, 'logs outlive the task');
    t.equal((await lab.tn(['stop', task.id])).code, 0, 'stopping a stopped task is fine');
  });

  await t.test('lab down removes every trace', async (t) => {
    const down = await lab.tn(['lab', 'down']);
    t.equal(down.code, 0, down.stderr);
    const left = netnsList().filter((n) => n.startsWith(lab.prefix));
    t.same(left, []);
    t.throws(() => statSync(lab.stateDir), 'state dir removed');
  });
});
