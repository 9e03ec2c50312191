// examples/cni/: every conflist parses as our runtime reads it and every plugin of ours in it
// passes its config parser; the awsvpc pair runs end to end through installed launchers, with the
// ENI given per container in CNI_ARGS. (tasknet-pod.conflist runs under containerd in
// test/containerd/.)
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import t from 'tap';
import { parseCniArgs } from '../../src/cni/args.js';
import { checkConflist } from '../../src/agent/install/conflist.js';
import { KNOWN_ARGS } from '../../src/plugins/eni/args.js';
import { tempDir } from '../cni/temp.js';
import { makeNetns, needsRoot } from '../helpers/netns.js';
import { installInto, ROOT } from './helpers.js';

const DIR = join(ROOT, 'examples', 'cni');
const read = (name: string): string => readFileSync(join(DIR, name), 'utf8');
const ENI_MAC = '0e:74:6e:aa:00:01';
const CNI_ARGS = `IgnoreUnknown=1;ENIMACAddress=${ENI_MAC};ENIIPAddresses=10.0.1.5/24;GatewayIPAddresses=10.0.1.1`;

t.test("every example conflist parses and passes its plugins' config parsers", async (t) => {
  const files = readdirSync(DIR)
    .filter((f) => f.endsWith('.conflist'))
    .sort();
  t.same(files, ['awsvpc-bridge.conflist', 'awsvpc-eni.conflist', 'tasknet-pod.conflist']);
  for (const file of files) {
    const list = checkConflist(read(file));
    t.equal(list.cniVersion, '1.1.0', `${file}: tasknet's runtime picks 1.1.0 from cniVersions`);
    t.equal(JSON.parse(read(file)).cniVersion, '1.0.0', `${file}: cniVersion 1.0.0 for libcni 1.1 (containerd 1.6)`);
  }
  t.equal(checkConflist(read('tasknet-pod.conflist')).plugins[0]!.type, 'ecs-bridge');
  // The static ENI list names no ENI: a runtime's CNI_ARGS must, and then ADD has all it needs.
  t.throws(
    () => checkConflist(read('awsvpc-eni.conflist'), new Map()),
    /missing required parameter eniMACAddress or eniName/,
  );
  t.doesNotThrow(() => checkConflist(read('awsvpc-eni.conflist'), parseCniArgs(CNI_ARGS, KNOWN_ARGS)));
});

t.test(
  'the awsvpc pair through installed launchers: ENI on eth0, bridge on ecs-eth0',
  { skip: needsRoot },
  async (t) => {
    const dir = tempDir(t, 'tasknet-examples-');
    const binDir = join(dir, 'bin');
    await installInto(binDir, join(dir, 'net.d'));
    const [host, task, vpc] = await makeNetns(t, 3, 'tnex');
    // The ENI stand-in: a veth in the "host" whose peer in the "VPC" netns owns the subnet gateway.
    await execa('ip', [
      '-n',
      host,
      'link',
      'add',
      'eni0',
      'address',
      ENI_MAC,
      'type',
      'veth',
      'peer',
      'name',
      'gw0',
      'netns',
      vpc,
    ]);
    await execa('ip', ['-n', vpc, 'addr', 'add', '10.0.1.1/24', 'dev', 'gw0']);
    await execa('ip', ['-n', vpc, 'link', 'set', 'gw0', 'up']);

    const netns = `/var/run/netns/${task}`;
    const env = { CNI_PATH: binDir, IPAM_DB_PATH: join(dir, 'ipam') };
    const cni = (verb: string, list: string, ifname: string, extra: Record<string, string> = {}) =>
      execa(
        'nsenter',
        [
          `--net=/var/run/netns/${host}`,
          process.execPath,
          join(ROOT, 'dist', 'tasknet.cjs'),
          'cni',
          verb,
          join(DIR, list),
          netns,
          '--ifname',
          ifname,
          '--container-id',
          'task-1',
          '--cache-dir',
          join(dir, 'cache'),
        ],
        { env: { ...env, ...extra }, reject: false },
      );
    const inTask = (...args: string[]) => execa('ip', ['netns', 'exec', task, ...args], { reject: false });

    const eni = await cni('add', 'awsvpc-eni.conflist', 'eth0', { CNI_ARGS });
    t.equal(eni.exitCode, 0, eni.stderr);
    const bridge = await cni('add', 'awsvpc-bridge.conflist', 'ecs-eth0');
    t.equal(bridge.exitCode, 0, bridge.stderr);
    t.match(
      JSON.parse(bridge.stdout),
      { ips: [{ address: '169.254.172.2/22', gateway: '169.254.172.1' }] },
      'ecs-ipam gave the bridge address',
    );
    const addrs = (await inTask('ip', '-o', '-4', 'addr')).stdout;
    t.match(addrs, /eth0\s+inet 10\.0\.1\.5\/24/, 'the ENI is eth0 with its CNI_ARGS address');
    t.match(addrs, /ecs-eth0\s+inet 169\.254\.172\.2\/22/);
    t.equal(
      (await inTask('ping', '-c', '1', '-W', '5', '10.0.1.1')).exitCode,
      0,
      'the task reaches the VPC gateway through its ENI',
    );
    t.equal(
      (await inTask('ping', '-c', '1', '-W', '5', '169.254.172.1')).exitCode,
      0,
      'and the host bridge through ecs-eth0',
    );

    t.equal((await cni('del', 'awsvpc-bridge.conflist', 'ecs-eth0')).exitCode, 0);
    t.equal((await cni('del', 'awsvpc-eni.conflist', 'eth0', { CNI_ARGS })).exitCode, 0);
    const hostLinks = (await execa('ip', ['-n', host, '-o', 'link'])).stdout;
    t.match(hostLinks, /eni0/, 'the ENI is back in the host under its name');
    t.notMatch(hostLinks, /veth/, 'the host veth is gone');
    t.same(
      readdirSync(join(dir, 'ipam', 'awsvpc-bridge', '169.254.172.0_22')).filter((f) => f !== 'cursor'),
      [],
      'the bridge address is released',
    );
  },
);
