// A private Docker Engine for the lab and the tests: dockerd (which starts its own containerd)
// inside a netns of the caller's choosing, with its data root, exec root, socket, pid file and key
// file all under one directory, so the machine's /var/lib/docker, /etc/docker and own netns are
// never touched, and `stopPrivateEngine` can remove every trace of it.
//
// Started with `nsenter --net=`, not `ip netns exec`: the latter remounts /sys in a new mount
// namespace, which hides the cgroup mounts runc needs.
import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { rm, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ensurePrivateDir } from '../../state/files.js';
import {
  isAlive,
  pidsByCommandLine,
  processRef,
  signalProcess,
  sleep,
  waitForExit,
  type ProcessRef,
} from '../process/process-ref.js';
import { pingEngine } from './client.js';

export interface PrivateEngine {
  dir: string;
  socket: string;
  pid: number;
  startTime: string;
}

export const engineLayout = (dir: string) => ({
  dir,
  socket: join(dir, 'docker.sock'),
  pidFile: join(dir, 'dockerd.pid'),
  config: join(dir, 'daemon.json'),
  dataRoot: join(dir, 'data'),
  execRoot: join(dir, 'exec'),
  log: join(dir, 'dockerd.log'),
});

// How long dockerd may take to answer its first /_ping (a loaded 2-core machine: ~1-3 s).
const START_TIMEOUT_MS = 60_000;

export const startPrivateEngine = async (dir: string, netnsPath: string): Promise<PrivateEngine> => {
  const paths = engineLayout(dir);
  await ensurePrivateDir(dir);
  // Without deprecated-key-path, dockerd 20.10 writes its identity key to /etc/docker/key.json.
  await writeFile(paths.config, `${JSON.stringify({ 'deprecated-key-path': join(dir, 'key.json') })}\n`, {
    mode: 0o600,
  });
  const log = openSync(paths.log, 'a', 0o600);
  const child = spawn(
    'nsenter',
    [
      `--net=${netnsPath}`,
      '--',
      'dockerd',
      '--data-root',
      paths.dataRoot,
      '--exec-root',
      paths.execRoot,
      '--pidfile',
      paths.pidFile,
      '-H',
      `unix://${paths.socket}`,
      '--config-file',
      paths.config,
      // No network of the engine's own: tasks get theirs from the CNI chain, and nothing of the
      // engine may add bridges, iptables rules or sysctls to the netns it runs in.
      '--bridge=none',
      '--iptables=false',
      '--ip6tables=false',
      '--ip-forward=false',
      '--ip-masq=false',
      // Task-level limits live in a cgroup tasknet makes (task-cgroup.ts): a path, not a systemd slice.
      '--exec-opt',
      'native.cgroupdriver=cgroupfs',
    ],
    { detached: true, stdio: ['ignore', log, log] },
  );
  closeSync(log);
  let exited: string | undefined;
  child.on('exit', (code, signal) => {
    exited = `exited with ${signal ?? `code ${code}`}`;
  });
  child.on('error', (error) => {
    exited = `could not start: ${error.message}`;
  });
  child.unref();
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (exited === undefined && Date.now() < deadline) {
    if (await pingEngine(paths.socket)) {
      const ref = processRef(child.pid!);
      if (ref) return { dir, socket: paths.socket, ...ref };
    }
    await sleep(50);
  }
  if (child.pid) signalProcess(processRef(child.pid), 'SIGKILL');
  const tail = readTail(paths.log);
  await removeEngineDir(dir);
  throw new Error(
    `dockerd ${exited ?? `did not answer within ${START_TIMEOUT_MS / 1000} s`}${tail ? `: ${tail}` : ''}`,
  );
};

// SIGTERM (dockerd stops its containers and its containerd), SIGKILL after the grace; then every
// process still using the engine's directories (containerd, shims), every mount under them
// (overlay layers, netns files) and the directory itself.
export const stopPrivateEngine = async (dir: string, engine?: ProcessRef): Promise<void> => {
  const pid = engine ?? readPidFile(engineLayout(dir).pidFile);
  if (pid && isAlive(pid)) {
    signalProcess(pid, 'SIGTERM');
    if (!(await waitForExit(pid, 30_000, 50))) signalProcess(pid, 'SIGKILL');
    await waitForExit(pid, 5000, 20);
  }
  await killProcessesUsing(dir);
  await removeEngineDir(dir);
  // dockerd and containerd make these fixed, empty directories whatever their roots; remove them
  // only when empty (a system engine's would hold its sockets).
  for (const empty of ['/run/docker/plugins', '/run/docker', '/run/containerd/s', '/run/containerd']) {
    await rmdir(empty).catch(() => {
      /* in use or absent */
    });
  }
};

const readPidFile = (path: string): ProcessRef | undefined => {
  try {
    return processRef(Number(readFileSync(path, 'utf8').trim()));
  } catch {
    return undefined;
  }
};

// Processes whose command line names the directory: containerd and the shims it started.
const killProcessesUsing = async (dir: string): Promise<void> => {
  for (let round = 0; round < 50; round++) {
    const pids = pidsByCommandLine((args) => args.some((arg) => arg.includes(dir)));
    if (pids.length === 0) return;
    for (const pid of pids) signalProcess(processRef(pid), 'SIGKILL');
    await sleep(20);
  }
};

// Mount points at or under the directory, deepest first (from /proc/self/mountinfo, field 5, with
// the kernel's octal escapes for spaces and the like).
const mountsUnder = (dir: string): string[] =>
  readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[4])
    .filter((p): p is string => p !== undefined)
    .map((p) => p.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))))
    .filter((p) => p === dir || p.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);

const removeEngineDir = async (dir: string): Promise<void> => {
  for (const mount of mountsUnder(dir)) {
    await new Promise<void>((resolve) =>
      spawn('umount', ['-l', mount], { stdio: 'ignore' })
        .on('close', () => resolve())
        .on('error', () => resolve()),
    );
  }
  await rm(dir, { recursive: true, force: true, maxRetries: 3 });
};

const readTail = (path: string): string => {
  try {
    return readFileSync(path, 'utf8').trim().split('\n').slice(-3).join(' | ');
  } catch {
    return '';
  }
};
