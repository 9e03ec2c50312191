// What the containerd tests need from Debian (containerd, runc, a static busybox for the image),
// installed when missing. Quick when everything is there: a few `command -v` and one ldd.
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';

const has = async (cmd: string): Promise<boolean> =>
  (await execa('sh', ['-c', `command -v ${cmd}`], { reject: false })).exitCode === 0;

const APT_ENV = { DEBIAN_FRONTEND: 'noninteractive' };

// apt-get as the CI runs it: root, Debian's registry only. A fresh machine may have no
// package lists yet, so a failed install is retried once after `apt-get update`.
const aptGet = async (args: string[], cwd?: string): Promise<string | undefined> => {
  const run = () => execa('apt-get', ['-q', ...args], { env: APT_ENV, reject: false, ...(cwd ? { cwd } : {}) });
  let r = await run();
  if (r.exitCode !== 0) {
    await execa('apt-get', ['-q', 'update'], { env: APT_ENV, reject: false });
    r = await run();
  }
  return r.exitCode === 0
    ? undefined
    : `apt-get ${args.join(' ')} failed: ${(r.stderr || r.stdout).trim().split('\n').at(-1)}`;
};

const isStatic = async (file: string): Promise<boolean> =>
  existsSync(file) &&
  /not a dynamic executable|statically linked/.test(
    (await execa('ldd', [file], { reject: false, all: true })).all ?? '',
  );

// The busybox the image is made of: /bin/busybox when it is static (busybox-static), else the one
// inside Debian's busybox-static .deb, unpacked into a cache without installing it (installing
// would replace a dynamic busybox the machine may depend on).
const staticBusybox = async (cacheDir: string): Promise<string | { skip: string }> => {
  if (await isStatic('/bin/busybox')) return '/bin/busybox';
  const unpacked = join(cacheDir, 'busybox-static', 'bin', 'busybox');
  if (await isStatic(unpacked)) return unpacked;
  if (!existsSync('/bin/busybox')) {
    const failed = await aptGet(['install', '-y', '--no-install-recommends', 'busybox-static']);
    if (failed) return { skip: failed };
    return '/bin/busybox';
  }
  mkdirSync(cacheDir, { recursive: true });
  const failed = await aptGet(['download', 'busybox-static'], cacheDir);
  if (failed) return { skip: failed };
  const deb = readdirSync(cacheDir).find((f) => f.startsWith('busybox-static_') && f.endsWith('.deb'));
  if (!deb) return { skip: 'apt-get download busybox-static left no .deb' };
  await execa('dpkg-deb', ['-x', join(cacheDir, deb), join(cacheDir, 'busybox-static')]);
  return (await isStatic(unpacked)) ? unpacked : { skip: `${unpacked} is not a static busybox` };
};

export interface Prerequisites {
  busybox: string;
}

// Either everything the tests need, or the specific reason they cannot run here.
export const prerequisites = async (cacheDir: string): Promise<Prerequisites | { skip: string }> => {
  if (process.getuid?.() !== 0) return { skip: 'needs root (runs containerd and creates network namespaces)' };
  for (const cmd of ['nsenter', 'unshare', 'tar', 'ip']) {
    if (!(await has(cmd))) return { skip: `${cmd} is missing (scripts/setup.sh installs it)` };
  }
  if (!(await has('containerd')) || !(await has('ctr')) || !(await has('runc'))) {
    const failed = await aptGet(['install', '-y', '--no-install-recommends', 'containerd', 'runc']);
    if (failed) return { skip: `containerd is not installed and could not be: ${failed}` };
  }
  const busybox = await staticBusybox(cacheDir);
  if (typeof busybox !== 'string') return busybox;
  if (
    !existsSync('/proc/filesystems') ||
    !/\toverlay$/m.test(await execa('cat', ['/proc/filesystems']).then((r) => r.stdout))
  ) {
    await execa('modprobe', ['overlay'], { reject: false });
  }
  return { busybox };
};
