// containerd's own client runs tasknet's pod network (examples/cni/tasknet-pod.conflist) through
// launchers written by `tasknet install`: `ctr run --cni` gets an address from ecs-ipam and reaches
// the bridge gateway, and `--rm` gives both back; then the pause pattern, an app container joining
// a pause container's netns. A private containerd in a throwaway netns: the machine's own network,
// CNI dirs and containerd are untouched.
import { existsSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import t from 'tap';
import { parseConflist, pluginConfig } from '../../src/cni/runtime.js';
import { tempDir } from '../cni/temp.js';
import { makeNetns } from '../helpers/netns.js';
import { installInto, ROOT } from '../install/helpers.js';
import { PrivateContainerd } from './containerd.js';
import { buildBusyboxImage } from './image.js';
import { prerequisites } from './prerequisites.js';

const EXAMPLE = join(ROOT, 'examples', 'cni', 'tasknet-pod.conflist');
const IMAGE = 'tasknet.test/busybox:latest';
const GATEWAY = '10.87.0.1';
const POOL = '10.87.0.0_16';

const ready = await prerequisites(join(tmpdir(), 'tasknet-test-cache'));
const skip = 'skip' in ready ? `containerd tests cannot run here: ${ready.skip}` : false;
if (skip) t.comment(skip);

const hostLinks = async (ns: string): Promise<{ ifname: string; kind?: string }[]> =>
  (
    JSON.parse((await execa('ip', ['-n', ns, '-j', '-d', 'link'])).stdout) as {
      ifname: string;
      linkinfo?: { info_kind?: string };
    }[]
  ).map((l) => ({ ifname: l.ifname, ...(l.linkinfo?.info_kind ? { kind: l.linkinfo.info_kind } : {}) }));

t.test('ctr run --cni with the tasknet-pod conflist', { skip, timeout: 480_000 }, async (t) => {
  if ('skip' in ready) return;
  const dir = tempDir(t, 'tasknet-containerd-');
  const [host] = await makeNetns(t, 1, 'tnctr');
  const cni = { binDir: join(dir, 'cni-bin'), confDir: join(dir, 'net.d'), cacheDir: join(dir, 'cni-cache') };
  mkdirSync(cni.cacheDir);
  const ipamDir = join(dir, 'ipam');
  const env = { IPAM_DB_PATH: ipamDir }; // ctr's environment reaches the plugins (libcni passes it on)
  await installInto(cni.binDir, cni.confDir, '--conflist', EXAMPLE);
  const pool = join(ipamDir, 'tasknet-pod', POOL);
  const held = () => (existsSync(pool) ? readdirSync(pool).filter((f) => f !== 'cursor') : []);

  const containerd = new PrivateContainerd(join(dir, 'containerd'), `/var/run/netns/${host}`, cni);
  mkdirSync(containerd.dir);
  t.teardown(() => containerd.stop());
  await containerd.start();
  const image = await buildBusyboxImage(join(dir, 'image'), ready.busybox, IMAGE);
  await containerd.ctr(['images', 'import', image]);

  t.test('a container gets an ecs-ipam address, reaches the gateway, and --rm gives it back', async (t) => {
    const run = await containerd.ctr(
      [
        'run',
        '--rm',
        '--cni',
        ...containerd.runOptions(),
        IMAGE,
        'one',
        'sh',
        '-c',
        `ip -o -4 addr show eth0; ping -c 1 -W 5 ${GATEWAY}`,
      ],
      { reject: false, env },
    );
    t.equal(run.exitCode, 0, `ctr run: ${run.all}`);
    const address = /inet (10\.87\.\d+\.\d+)\/16/.exec(String(run.all))?.[1];
    t.ok(address, 'eth0 has an address of the tasknet-pod subnet');
    t.match(run.all, /1 packets received/, `the container pinged ${GATEWAY}, the bridge`);
    t.same(held(), [], 'the address is released (ctr ran CNI DEL on --rm)');
    t.ok(existsSync(join(pool, 'cursor')), 'ecs-ipam allocated it from its store');
    t.same(
      (await hostLinks(host)).filter((l) => l.kind === 'veth'),
      [],
      'the host veth is gone',
    );
    t.ok(
      (await hostLinks(host)).some((l) => l.ifname === 'tasknet0' && l.kind === 'bridge'),
      'the bridge stays for the next container',
    );
  });

  t.test("pause pattern: an app container joins the pause container's netns", async (t) => {
    const pidFile = join(dir, 'pause.pid');
    const pause = await containerd.ctr(
      ['run', '--detach', '--cni', '--pid-file', pidFile, ...containerd.runOptions(), IMAGE, 'pause', 'sleep', '600'],
      { reject: false, env },
    );
    t.equal(pause.exitCode, 0, `ctr run pause: ${pause.all}`);
    const pid = readFileSync(pidFile, 'utf8').trim();
    const netns = `/proc/${pid}/ns/net`;
    t.equal(held().length, 1, 'the pause container holds one address');
    const record = JSON.parse(readFileSync(join(pool, held()[0]!), 'utf8')) as { containerId: string; ifname: string };
    t.match(
      record,
      { containerId: 'tasknet-test-pause', ifname: 'eth0' },
      'allocated for the pause container (namespace-id, as ctr names it)',
    );

    const app = await containerd.ctr(
      [
        'run',
        '--rm',
        ...containerd.runOptions(),
        '--with-ns',
        `network:${netns}`,
        IMAGE,
        'app',
        'sh',
        '-c',
        `ip -o -4 addr show eth0; ping -c 1 -W 5 ${GATEWAY}`,
      ],
      { reject: false, env },
    );
    t.equal(app.exitCode, 0, `ctr run app: ${app.all}`);
    t.match(app.all, `inet ${held()[0]}/16`, "the app sees the pause container's address");
    t.match(app.all, /1 packets received/, 'and reaches the gateway through it');
    t.equal(held().length, 1, 'the app container took no address of its own');

    // ctr runs no CNI DEL for a detached task: do what a runtime does before it kills the pause
    // container, with the stdin libcni would send (the conflist's 1.0.0, as containerd 1.6 speaks).
    const list = { ...parseConflist(readFileSync(EXAMPLE, 'utf8')), cniVersion: '1.0.0' };
    const del = await execa('nsenter', [`--net=/var/run/netns/${host}`, join(cni.binDir, 'ecs-bridge')], {
      input: pluginConfig(list, list.plugins[0]!, {}),
      env: {
        ...env,
        CNI_COMMAND: 'DEL',
        CNI_CONTAINERID: 'tasknet-test-pause',
        CNI_NETNS: netns,
        CNI_IFNAME: 'eth0',
        CNI_PATH: cni.binDir,
      },
      extendEnv: false,
      reject: false,
    });
    t.equal(del.exitCode, 0, `CNI DEL: ${del.stdout}${del.stderr}`);
    t.same(held(), [], 'DEL released the address');
    t.same(
      (await hostLinks(host)).filter((l) => l.kind === 'veth'),
      [],
      'and removed the veth',
    );
    const ip = await execa('nsenter', [`--net=${netns}`, 'ip', '-o', 'link', 'show', 'eth0'], { reject: false });
    t.not(ip.exitCode, 0, 'eth0 is gone from the pause netns');
    await containerd.ctr(['tasks', 'kill', '--signal', 'SIGKILL', 'pause'], { reject: false });
    await containerd.ctr(['tasks', 'delete', '--force', 'pause']);
    await containerd.ctr(['containers', 'delete', 'pause']);
  });
});
