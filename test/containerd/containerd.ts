// A private containerd for one test: its own config, root, state and socket under a temp dir, run
// in the test's throwaway netns, stopped by its pid. ctr runs there too, in a private mount
// namespace where the CNI dirs ctr hard-codes (/opt/cni/bin, /etc/cni/net.d, /var/lib/cni) are
// the test's own dirs: nothing of the machine's CNI setup is read or written.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa, type Result } from 'execa';

export interface CniDirs {
  binDir: string;
  confDir: string;
  cacheDir: string;
}

// Bind-mounts each source over its target; a target that does not exist is made inside an overlay
// of its nearest existing parent, so the machine's /etc, /opt and /var/lib are never written.
const VIEW = `set -e
scratch=$1; shift
n=0
while [ "$1" != -- ]; do
  target=$1 source=$2; shift 2; n=$((n + 1))
  if [ ! -d "$target" ]; then
    parent=$target
    while [ ! -d "$parent" ]; do parent=$(dirname "$parent"); done
    [ "$parent" != / ] || { echo "no parent of $target to overlay but /" >&2; exit 1; }
    mkdir -p "$scratch/$n/up" "$scratch/$n/work"
    mount -t overlay overlay -o "lowerdir=$parent,upperdir=$scratch/$n/up,workdir=$scratch/$n/work" "$parent"
    mkdir -p "$target"
  fi
  mount --bind "$source" "$target"
done
shift
exec "$@"`;

// containerd 1.6's shims put their sockets in /run/containerd/s whatever the config says.
const SHIM_DIRS = ['/run/containerd/s', '/run/containerd'];

export class PrivateContainerd {
  readonly socket: string;
  private pid: number | undefined;
  private readonly createdRunDirs = SHIM_DIRS.filter((d) => !existsSync(d));

  constructor(
    readonly dir: string,
    readonly netnsPath: string,
    readonly cni: CniDirs,
    readonly namespace = 'tasknet-test',
  ) {
    this.socket = join(dir, 'containerd.sock');
  }

  get log(): string {
    return readFileSync(join(this.dir, 'containerd.log'), 'utf8');
  }

  async start(): Promise<void> {
    const config = join(this.dir, 'config.toml');
    // restrict_oom_score_adj: root here lacks CAP_SYS_RESOURCE, so CRI must not lower scores.
    writeFileSync(
      config,
      `version = 2
root = "${join(this.dir, 'root')}"
state = "${join(this.dir, 'state')}"
[grpc]
  address = "${this.socket}"
[ttrpc]
  address = "${this.socket}.ttrpc"
[plugins."io.containerd.grpc.v1.cri"]
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "${this.cni.binDir}"
    conf_dir = "${this.cni.confDir}"
`,
    );
    const log = openSync(join(this.dir, 'containerd.log'), 'a');
    // nsenter, not `ip netns exec`: that remounts /sys, which hides the cgroup mounts from runc.
    const child = spawn('nsenter', [`--net=${this.netnsPath}`, 'containerd', '--config', config], {
      stdio: ['ignore', log, log],
      detached: false,
    });
    this.pid = child.pid;
    child.unref();
    for (let i = 0; i < 100; i++) {
      if ((await this.ctr(['version'], { reject: false })).exitCode === 0) return;
      if (child.exitCode !== null) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error(`containerd did not start:\n${this.log.split('\n').slice(-15).join('\n')}`);
  }

  // ctr against this containerd, in its netns and with the test's CNI dirs in place of the defaults.
  ctr(args: string[], options: { reject?: boolean; env?: Record<string, string> } = {}): Promise<Result> {
    const mounts = [
      ['/opt/cni/bin', this.cni.binDir],
      ['/etc/cni/net.d', this.cni.confDir],
      ['/var/lib/cni', this.cni.cacheDir],
    ].flat();
    mkdirSync(join(this.dir, 'fifo'), { recursive: true });
    return execa(
      'nsenter',
      [
        `--net=${this.netnsPath}`,
        'unshare',
        '--mount',
        '--propagation',
        'private',
        'sh',
        '-c',
        VIEW,
        'view',
        join(this.dir, 'overlay'),
        ...mounts,
        '--',
        'ctr',
        '--address',
        this.socket,
        '--namespace',
        this.namespace,
        ...args,
      ],
      { reject: options.reject ?? true, all: true, env: options.env ?? {}, timeout: 60_000 },
    );
  }

  // Options every `ctr run` gets: its FIFOs and runc state in the temp dir, not under /run.
  runOptions(): string[] {
    return ['--fifo-dir', join(this.dir, 'fifo'), '--runc-root', join(this.dir, 'runc')];
  }

  // Kills every task of the namespace, removes its containers, then stops containerd (TERM, then
  // KILL) and waits for it: the shims exit with their tasks, and nothing keeps the temp dir busy.
  async stop(): Promise<void> {
    if (this.pid === undefined) return;
    const list = await this.ctr(['containers', 'list', '--quiet'], { reject: false });
    const ids = String(list.stdout ?? '')
      .split('\n')
      .filter(Boolean);
    for (const id of ids) {
      await this.ctr(['tasks', 'kill', '--signal', 'SIGKILL', id], { reject: false });
      await this.ctr(['tasks', 'delete', '--force', id], { reject: false });
      await this.ctr(['containers', 'delete', id], { reject: false });
    }
    const pid = this.pid;
    this.pid = undefined;
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      return;
    }
    for (let i = 0; i < 50 && alive(pid); i++) await new Promise((r) => setTimeout(r, 100));
    if (alive(pid)) process.kill(pid, 'SIGKILL');
    await unmountUnder(this.dir);
    for (const d of this.createdRunDirs) {
      try {
        rmdirSync(d);
      } catch {
        /* not empty: someone else's containerd uses it */
      }
    }
  }
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return !readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z ');
  } catch {
    return false;
  }
};

// Snapshot mounts a killed task may leave, so the temp dir can be removed.
const unmountUnder = async (dir: string): Promise<void> => {
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[4])
    .filter((m): m is string => m?.startsWith(`${dir}/`) === true)
    .sort((a, b) => b.length - a.length);
  for (const m of mounts) await execa('umount', ['--lazy', m], { reject: false });
};
