// vagrant/: the Vagrantfile validates offline (`vagrant validate --ignore-provider`), the shell
// scripts pass shellcheck, and eni-task.sh (the VM's per-NIC task) runs here against a veth
// stand-in for the VM's extra NIC, in throwaway namespaces.
import { join } from 'node:path';
import { execa } from 'execa';
import t from 'tap';
import { tempDir } from '../cni/temp.js';
import { makeNetns, needsRoot } from '../helpers/netns.js';
import { installInto, ROOT } from './helpers.js';

const VAGRANT = join(ROOT, 'vagrant');
const SCRIPTS = ['provision.sh', 'eni-task.sh'];

// The Debian package that provides `cmd`, installed when missing; a reason to skip if it cannot be.
const ensure = async (cmd: string, pkg: string): Promise<string | false> => {
  const has = async () => (await execa('sh', ['-c', `command -v ${cmd}`], { reject: false })).exitCode === 0;
  if (await has()) return false;
  if (process.getuid?.() !== 0) return `${cmd} is missing and installing ${pkg} needs root`;
  const env = { DEBIAN_FRONTEND: 'noninteractive' };
  const install = () =>
    execa('apt-get', ['-q', 'install', '-y', '--no-install-recommends', pkg], { env, reject: false });
  let r = await install();
  if (r.exitCode !== 0) {
    await execa('apt-get', ['-q', 'update'], { env, reject: false });
    r = await install();
  }
  if (r.exitCode !== 0 || !(await has()))
    return `${cmd} is missing and Debian's ${pkg} could not be installed: ${(r.stderr || r.stdout).trim().split('\n').at(-1)}`;
  return false;
};

const noVagrant = await ensure('vagrant', 'vagrant');
if (noVagrant) t.comment(`vagrant validate skipped: ${noVagrant}`);
const noShellcheck = await ensure('shellcheck', 'shellcheck');
if (noShellcheck) t.comment(`shellcheck skipped: ${noShellcheck}`);

t.test('vagrant validate --ignore-provider passes offline', { skip: noVagrant, timeout: 300_000 }, async (t) => {
  const dir = tempDir(t, 'tasknet-vagrant-');
  // Its state (.vagrant/, ~/.vagrant.d) in the temp dir, not in the checkout or root's home.
  const r = await execa('vagrant', ['validate', '--ignore-provider'], {
    cwd: VAGRANT,
    reject: false,
    env: { VAGRANT_DOTFILE_PATH: join(dir, 'dot'), VAGRANT_HOME: join(dir, 'home'), VAGRANT_CHECKPOINT_DISABLE: '1' },
  });
  t.equal(r.exitCode, 0, `${r.stdout}\n${r.stderr}`);
  t.match(r.stdout, /Vagrantfile validated successfully/);
});

t.test('the provisioning scripts pass shellcheck', { skip: noShellcheck }, async (t) => {
  const r = await execa('shellcheck', ['--shell=bash', '--severity=style', ...SCRIPTS], {
    cwd: VAGRANT,
    reject: false,
  });
  t.equal(r.exitCode, 0, r.stdout);
});

t.test('eni-task.sh runs a task on a NIC found by MAC and gives the NIC back', { skip: needsRoot }, async (t) => {
  const dir = tempDir(t, 'tasknet-eni-task-');
  const binDir = join(dir, 'bin');
  const confDir = join(dir, 'net.d');
  await installInto(binDir, confDir, '--conflist', 'awsvpc-eni', '--conflist', 'awsvpc-bridge');
  const [host, vpc] = await makeNetns(t, 2, 'tnvg');
  // Random: eni-task.sh names its netns after the MAC, and another test run may be beside this one.
  const mac = [
    '0e',
    '74',
    '6e',
    ...Array.from({ length: 3 }, () =>
      Math.floor(Math.random() * 256)
        .toString(16)
        .padStart(2, '0'),
    ),
  ].join(':');
  await execa('ip', [
    '-n',
    host,
    'link',
    'add',
    'ens6',
    'address',
    mac,
    'type',
    'veth',
    'peer',
    'name',
    'gw0',
    'netns',
    vpc,
  ]);
  await execa('ip', ['-n', vpc, 'addr', 'add', '192.168.56.1/24', 'dev', 'gw0']);
  await execa('ip', ['-n', vpc, 'link', 'set', 'gw0', 'up']);
  const env = {
    CNI_PATH: binDir,
    CNI_CONF_DIR: confDir,
    TASKNET: join(ROOT, 'bin', 'tasknet'),
    IPAM_DB_PATH: join(dir, 'ipam'),
  };
  const inHost = (args: string[]) =>
    execa('nsenter', [`--net=/var/run/netns/${host}`, 'bash', join(VAGRANT, 'eni-task.sh'), ...args], {
      env,
      reject: false,
    });

  const list = await inHost(['--list-macs']);
  t.equal(list.exitCode, 0, list.stderr);
  t.same(list.stdout.split('\n'), [mac], 'the spare NIC is listed by MAC');
  const run = await inHost([mac, '192.168.56.20/24', '192.168.56.1']);
  t.equal(run.exitCode, 0, `${run.stdout}\n${run.stderr}`);
  t.match(run.stdout, /reached the gateway 192\.168\.56\.1 through the ENI/);
  t.match(run.stdout, /reached the host bridge 169\.254\.172\.1/);
  t.match(run.stdout, /DEL: ens6 is back in the host/);
  const links = (await execa('ip', ['-n', host, '-o', 'link'])).stdout;
  t.match(links, /ens6@/, 'the NIC is in the host under its name');
  t.notMatch(links, /veth[0-9a-f]/, 'no host veth left');
  const netns = (await execa('ip', ['netns', 'list'])).stdout;
  t.notMatch(netns, new RegExp(`tasknet-eni-${mac.replaceAll(':', '')}`), 'the task netns is gone');
});

// The VM builds from an rsync copy without .git: the Vagrantfile passes the checkout's commit in.
t.test('a build outside git takes its commit from TASKNET_GIT_HASH', { timeout: 300_000 }, async (t) => {
  const dir = tempDir(t, 'tasknet-nogit-');
  for (const f of ['package.json', 'tsconfig.json', 'scripts', 'src']) await execa('cp', ['-r', join(ROOT, f), dir]);
  await execa('ln', ['-s', join(ROOT, 'node_modules'), join(dir, 'node_modules')]);
  const version = async (env: Record<string, string>) => {
    await execa(process.execPath, ['scripts/build.mjs'], { cwd: dir, env, extendEnv: false });
    return JSON.parse(
      (await execa(process.execPath, [join(dir, 'dist', 'ecs-eni.cjs'), '--version'], { env: {}, extendEnv: false }))
        .stdout,
    );
  };
  t.match(await version({ TASKNET_GIT_HASH: '0123abcd4567ef', TASKNET_GIT_DIRTY: '0' }), {
    gitShortHash: '0123abcd',
    dirty: false,
  });
  t.match(
    await version({ TASKNET_GIT_HASH: '0123abcd4567ef' }),
    { gitShortHash: '0123abcd', dirty: true },
    'dirty unless said clean',
  );
  t.match(
    await version({ TASKNET_GIT_HASH: 'not-a-hash' }),
    { gitShortHash: 'unknown', dirty: true },
    'control: no commit given',
  );
});
