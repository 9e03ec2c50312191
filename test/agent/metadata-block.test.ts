// `tasknet agent --block-instance-metadata` (ECS_AWSVPC_BLOCK_IMDS): a task cannot reach the
// instance metadata service at 169.254.169.254 or fd00:ec2::254, though its ENI routes there. The
// lab's VPC plays the metadata service on both addresses; the control removes the task's
// blackhole routes and the same request is answered.
import { spawn } from 'node:child_process';
import t from 'tap';
import { container, inNetns, makeLab, needsRoot, taskdef, waitFor } from './harness.js';

const GET =
  "const u=process.argv[1];fetch(u,{signal:AbortSignal.timeout(1500)}).then(async r=>{console.log(r.status+' '+await r.text());process.exit(0)},e=>{console.log('ERR '+(e.cause?.code??e.name));process.exit(1)})";

t.test('metadata blocked for tasks, v4 and v6', { skip: needsRoot }, async (t) => {
  const lab = await makeLab(t, { enis: 1, blockImds: true });
  const vpc = (cmd: string) => inNetns(lab.vpcNs, ['sh', '-c', cmd]);
  vpc(
    'ip addr add 169.254.169.254/32 dev lo && ip addr add fd00:ec2::254/128 dev lo && ip addr add 2001:db8::1/64 dev vpc0 nodad',
  );
  const server = spawn(
    'nsenter',
    [
      `--net=/var/run/netns/${lab.vpcNs}`,
      process.execPath,
      '-e',
      "require('http').createServer((q,r)=>r.end('imds')).listen(80,'::')",
    ],
    { stdio: 'ignore' },
  );
  t.teardown(() => {
    server.kill('SIGKILL');
  });
  const get = (ns: string, url: string) => inNetns(ns, [process.execPath, '-e', GET, url]).out.trim();
  await waitFor('the metadata service', () => get(lab.vpcNs, 'http://169.254.169.254/') === '200 imds');

  const task = await lab.run(taskdef('blocked', [container('main', ['sleep', 'infinity'])]));
  const ns = `tasknet-${task.id}`;
  const inTask = (cmd: string) => inNetns(ns, ['sh', '-c', cmd]);
  // The lab's ENIs are IPv4-only; give this one an IPv6 address and route, as a dual-stack ENI has.
  inTask('ip addr add 2001:db8::10/64 dev eth0 nodad && ip -6 route add default via 2001:db8::1 dev eth0');
  t.equal(inTask('ping -c1 -W1 10.0.0.1').code, 0, 'the task reaches its gateway');
  t.equal(inTask('ping -c1 -W1 2001:db8::1').code, 0, 'over IPv6 too');

  const blackholes = (family: string) =>
    JSON.parse(inNetns(ns, ['ip', '-j', family, 'route', 'show', 'type', 'blackhole']).out || '[]');
  t.same(
    [...blackholes('-4'), ...blackholes('-6')].map((r: any) => r.dst).sort(),
    ['169.254.169.254', 'fd00:ec2::254'],
    'both blackholes are in the task netns',
  );
  t.match(get(ns, 'http://169.254.169.254/latest/meta-data/'), /^ERR/, '169.254.169.254: no');
  t.match(get(ns, 'http://[fd00:ec2::254]/latest/meta-data/'), /^ERR/, 'fd00:ec2::254: no');

  inTask('ip route del blackhole 169.254.169.254/32 && ip -6 route del blackhole fd00:ec2::254/128');
  t.equal(
    get(ns, 'http://169.254.169.254/latest/meta-data/'),
    '200 imds',
    'control: without its blackhole the task reaches it',
  );
  t.equal(get(ns, 'http://[fd00:ec2::254]/latest/meta-data/'), '200 imds', 'control: over IPv6 too');
  t.equal((await lab.tn(['stop', task.id])).code, 0);
});
