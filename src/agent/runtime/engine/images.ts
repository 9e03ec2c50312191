// Images without a registry. The lab makes the few it needs from files already on the host
// (`docker import` of a root filesystem): busybox-static for the pause container and for shell
// tasks, and the host's node binary with the libraries it links for the demo's node programs.
// Users bring theirs with `tasknet image load FILE.tar` (`docker save` output) or build on them
// with `tasknet image build DIR -t NAME` (a Dockerfile whose FROM is an image the engine has).
import { execFileSync, spawn } from 'node:child_process';
import { createReadStream, existsSync, realpathSync } from 'node:fs';
import { copyFile, link, mkdir, mkdtemp, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import type { Engine } from './client.js';
import { drainProgress, engineMessage } from './client.js';
import { PAUSE_IMAGE } from './engine-runtime.js';

export const BUSYBOX_IMAGE = 'tasknet/busybox:1';
export const NODE_IMAGE = 'tasknet/node:20';
const BUSYBOX = '/bin/busybox';

// A file into the staging root: a hard link when it can be (same filesystem), else a copy.
const place = async (src: string, root: string, dst = src): Promise<void> => {
  const target = join(root, dst);
  await mkdir(dirname(target), { recursive: true });
  await link(src, target).catch(() => copyFile(src, target));
};

// Imports a staged root filesystem as an image (tar by the system's tar, streamed to the engine).
const importRoot = async (engine: Engine, root: string, tag: string): Promise<void> => {
  const tar = spawn('tar', ['-C', root, '--numeric-owner', '-c', '.'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  tar.stderr.on('data', (d: Buffer) => {
    stderr += d;
  });
  try {
    // The tag goes in `repo` ("may include a tag", says the API): Podman ignores a separate `tag`.
    await drainProgress(engine, await engine.importImage(tar.stdout, { repo: tag }));
  } catch (error) {
    throw new Error(`importing ${tag}: ${engineMessage(error)}${stderr ? ` (tar: ${stderr.trim()})` : ''}`);
  }
};

const stageBusybox = async (root: string): Promise<void> => {
  if (!existsSync(BUSYBOX))
    throw new Error(`${BUSYBOX} is missing: install Debian's busybox-static (scripts/setup.sh does)`);
  await place(BUSYBOX, root, '/bin/busybox');
  // Every applet this busybox has, as /bin/NAME (what `busybox --install` would make).
  const applets = execFileSync(BUSYBOX, ['--list'], { encoding: 'utf8' })
    .split('\n')
    .filter((a) => /^[\w.[-]+$/.test(a) && a !== 'busybox');
  for (const applet of applets) await symlink('busybox', join(root, 'bin', applet));
  for (const dir of ['tmp', 'etc', 'proc', 'sys', 'dev', 'root']) await mkdir(join(root, dir), { recursive: true });
  // Users and groups the tests and tasks name (65534 = nobody, as on Debian).
  await writeFile(
    join(root, 'etc/passwd'),
    'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n',
  );
  await writeFile(join(root, 'etc/group'), 'root:x:0:\nnogroup:x:65534:\n');
};

// The shared libraries a binary links, as ldd lists them (absolute paths, the loader included).
const librariesOf = (binary: string): string[] =>
  execFileSync('ldd', [binary], { encoding: 'utf8' })
    .split('\n')
    .map((line) => /(\/\S+) \(0x/.exec(line)?.[1])
    .filter((p): p is string => p !== undefined);

// Makes the lab's images; an image the engine already has is left as it is.
export const ensureLabImages = async (engine: Engine): Promise<void> => {
  // Podman lists short names under their registry (docker.io/tasknet/busybox:1).
  const have = new Set(
    (await engine.listImages()).flatMap((i) => i.RepoTags ?? []).map((t) => t.replace(/^(docker\.io|localhost)\//, '')),
  );
  const stage = await mkdtemp(join(tmpdir(), 'tasknet-image-'));
  try {
    if (!have.has(BUSYBOX_IMAGE) || !have.has(PAUSE_IMAGE)) {
      const root = join(stage, 'busybox');
      await stageBusybox(root);
      await importRoot(engine, root, BUSYBOX_IMAGE);
      const [repo = PAUSE_IMAGE, tag = 'latest'] = PAUSE_IMAGE.split(':');
      await engine.getImage(BUSYBOX_IMAGE).tag({ repo, tag });
    }
    if (!have.has(NODE_IMAGE)) {
      const root = join(stage, 'node');
      await stageBusybox(root);
      const node = realpathSync(process.execPath);
      await place(node, root, '/usr/local/bin/node');
      for (const lib of librariesOf(node)) {
        await place(realpathSync(lib), root, lib);
      }
      await importRoot(engine, root, NODE_IMAGE);
    }
  } finally {
    await rm(stage, { recursive: true, force: true });
  }
};

// `docker load`: a tarball made by `docker save` (or `podman save --format docker-archive`).
export const loadImageFile = async (engine: Engine, file: string): Promise<string[]> => {
  const output = await drainProgress(engine, await engine.loadImage(createReadStream(file)));
  return output.map((o) => (o as { stream?: string }).stream?.trim()).filter((s): s is string => !!s);
};

// `docker build DIR -t TAG`: the directory is the context (its Dockerfile at the top).
export const buildImageDir = async (engine: Engine, dir: string, tag: string): Promise<string[]> => {
  const src = (await readdir(dir, { recursive: true, withFileTypes: true }))
    .filter((e) => e.isFile())
    .map((e) => relative(dir, join(e.parentPath ?? e.path, e.name)));
  const output = await drainProgress(
    engine,
    await engine.buildImage({ context: dir, src }, { t: tag, rm: true, forcerm: true }),
  );
  return output.map((o) => (o as { stream?: string }).stream?.trimEnd()).filter((s): s is string => !!s);
};
