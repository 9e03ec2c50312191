// The built executable (bin/ecs-eni, `npm run build`), run inside the lab's host netns through
// nsenter as a runtime would run it: its own netns is the host, and answers match in-process runs.
import { existsSync } from 'node:fs';
import t from 'tap';
import { getLink } from '../../../src/netlink/index.js';
import { needsRoot } from '../../helpers/netns.js';
import { ADDR4, cniExec, GW4, makeLab, ping, REPO, vpcConfig, leavesNothingBehind } from './lab.js';
import { assertEniHome, taskRoutes } from './state.js';

const built = existsSync(`${REPO}dist/ecs-eni.cjs`) ? false : 'needs `npm run build` (dist/ecs-eni.cjs)';
const skip = needsRoot || built;

t.test('exec: ADD, CHECK, DEL and a second round trip', { skip }, async (t) => {
  const lab = await makeLab(t);
  const config = vpcConfig(lab, { blockInstanceMetadata: true });
  for (const round of [1, 2]) {
    const add = await cniExec('ADD', lab, config);
    t.equal(add.exitCode, 0, `round ${round}: ADD succeeds ${add.stderr}`);
    t.same(add.out, {
      cniVersion: '1.0.0',
      interfaces: [{ name: 'eth0', mac: lab.mac, sandbox: lab.taskPath }],
      ips: [{ interface: 0, address: ADDR4, gateway: GW4 }],
      routes: [{ dst: '0.0.0.0/0', gw: GW4 }],
    });
    t.ok(await ping(lab, GW4), 'the task reaches the gateway');
    const check = await cniExec('CHECK', lab, { ...config, prevResult: add.out });
    t.equal(check.exitCode, 0, `CHECK passes ${check.stderr}`);
    const del = await cniExec('DEL', lab, config);
    t.equal(del.exitCode, 0, `DEL succeeds ${del.stderr}`);
    t.equal(del.out, undefined);
    await assertEniHome(t, lab);
  }
});

t.test('exec: missing ENI is code 11, a failure after the move gives the ENI back', { skip }, async (t) => {
  const lab = await makeLab(t);
  const missing = await cniExec('ADD', lab, vpcConfig(lab, { eniMACAddress: '0e:00:00:00:00:01' }));
  t.equal(missing.exitCode, 1);
  t.match(missing.out, { code: 11, msg: /no link with MAC 0e:00:00:00:00:01/ });
  const failed = await cniExec('ADD', lab, vpcConfig(lab), { failpoint: 'eni:after-configure' });
  t.match(failed.out, { code: 100, msg: 'failpoint eni:after-configure reached' });
  await assertEniHome(t, lab);
});

t.test('exec: the host name taken at DEL: fallback name, said on stderr', { skip }, async (t) => {
  const lab = await makeLab(t);
  const config = vpcConfig(lab);
  t.equal((await cniExec('ADD', lab, config)).exitCode, 0);
  const { execa } = await import('execa');
  await execa('ip', ['-n', lab.host, 'link', 'add', lab.eni, 'type', 'bridge']);
  const del = await cniExec('DEL', lab, config);
  t.equal(del.exitCode, 0);
  const fallback = `eni${lab.mac.replaceAll(':', '')}`;
  t.match(
    del.stderr,
    `host name ${lab.eni} of ENI ${lab.mac} is taken in the host netns; gave the ENI back as ${fallback}`,
  );
  t.match(await getLink(fallback, lab.host), { mac: lab.mac, up: false });
});

t.test(
  'exec: addresses without a gateway (a misspelt key): ADD succeeds without a default route and says so on stderr',
  { skip },
  async (t) => {
    const lab = await makeLab(t);
    const config = vpcConfig(lab, { gatewayIPAddresses: undefined, gatewayIpAddresses: [GW4] });
    const add = await cniExec('ADD', lab, config);
    t.equal(add.exitCode, 0, 'ADD succeeds, as upstream');
    t.same(
      add.out,
      {
        cniVersion: '1.0.0',
        interfaces: [{ name: 'eth0', mac: lab.mac, sandbox: lab.taskPath }],
        ips: [{ interface: 0, address: ADDR4 }],
      },
      'no gateway, no default route in the result',
    );
    t.match(
      add.stderr,
      /\[WARN\] ecs-eni: no IPv4 gateway in gatewayIPAddresses \(or CNI_ARGS GatewayIPAddresses\) for 10\.0\.1\.5\/24: the task gets no IPv4 default route from ecs-eni; the config has "gatewayIpAddresses", which ecs-eni does not read: misspelt\?/,
    );
    t.notMatch(add.stderr, /\n {4}at /, 'no stack trace');
    t.same(await taskRoutes(lab), ['unicast 10.0.1.0/24 dev eth0'], 'nor in the task netns');
    t.equal((await cniExec('DEL', lab, config)).exitCode, 0);
    const withGateway = await cniExec('ADD', lab, vpcConfig(lab));
    t.equal(withGateway.exitCode, 0);
    t.equal(withGateway.stderr, '', 'a config with its gateway: no warning');
    t.equal((await cniExec('DEL', lab, vpcConfig(lab))).exitCode, 0);
    await assertEniHome(t, lab);
  },
);

t.test('exec: VERSION and the ECS flags', { skip: built }, async (t) => {
  const { execa } = await import('execa');
  const caps = await execa(`${REPO}bin/ecs-eni`, ['--capabilities']);
  t.same(JSON.parse(caps.stdout), { capabilities: ['awsvpc-network-mode'] });
  const version = await execa(`${REPO}bin/ecs-eni`, [], {
    env: { CNI_COMMAND: 'VERSION' },
    input: '{"cniVersion":"1.0.0"}',
  });
  t.match(JSON.parse(version.stdout), {
    cniVersion: '1.0.0',
    supportedVersions: ['0.1.0', '0.2.0', '0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'],
  });
});

leavesNothingBehind(t);
