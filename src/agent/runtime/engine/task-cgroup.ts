// A task's own cgroup, the parent of all its containers' cgroups, holding the task-level cpu and
// memory of the task definition (ECS on EC2 does the same under /ecs/<task id>). The engine is
// given it as HostConfig.CgroupParent; that needs the engine's cgroupfs driver (the lab's engine
// is started with it), under which the parent is a path from the root of each hierarchy.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, rmdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';

const ROOT = '/sys/fs/cgroup';
const PARENT = 'tasknet';

const isV2 = (): boolean => existsSync(join(ROOT, 'cgroup.controllers'));

// ECS CPU units are cgroup v1 cpu.shares (1024 = one vCPU); v2's cpu.weight maps from shares as
// runc maps them (1 + (shares - 2) * 9999 / 262142).
const weightOfShares = (shares: number): number => Math.round(1 + ((Math.max(2, shares) - 2) * 9999) / 262142);

export interface TaskLimits {
  cpu?: number; // CPU units
  memory?: number; // MiB
}

// Makes the task's cgroup with its limits; returns the CgroupParent to give the engine, or
// undefined when the task has no limits (its containers go where the engine puts them).
export const createTaskCgroup = async (taskId: string, limits: TaskLimits): Promise<string | undefined> => {
  if (limits.cpu === undefined && limits.memory === undefined) return undefined;
  const memoryBytes = limits.memory !== undefined ? String(limits.memory * 1024 * 1024) : undefined;
  if (isV2()) {
    const parent = join(ROOT, PARENT);
    const dir = join(parent, taskId);
    await mkdir(dir, { recursive: true });
    // Controllers reach a cgroup only when every ancestor delegates them.
    await writeFile(join(ROOT, 'cgroup.subtree_control'), '+memory +cpu').catch(() => {
      /* already, or not ours to change */
    });
    await writeFile(join(parent, 'cgroup.subtree_control'), '+memory +cpu');
    await writeFile(join(dir, 'cgroup.subtree_control'), '+memory +cpu');
    if (memoryBytes) await writeFile(join(dir, 'memory.max'), memoryBytes);
    if (limits.cpu !== undefined) await writeFile(join(dir, 'cpu.weight'), String(weightOfShares(limits.cpu)));
  } else {
    if (memoryBytes) {
      const dir = join(ROOT, 'memory', PARENT, taskId);
      await mkdir(dir, { recursive: true });
      await writeFile(join(dir, 'memory.limit_in_bytes'), memoryBytes);
    }
    if (limits.cpu !== undefined) {
      const dir = join(ROOT, cpuHierarchy(), PARENT, taskId);
      await mkdir(dir, { recursive: true });
      await writeFile(join(dir, 'cpu.shares'), String(Math.max(2, limits.cpu)));
    }
  }
  return `/${PARENT}/${taskId}`;
};

// Removes the task's cgroup in every hierarchy, deepest first. The engine has removed the
// containers by now; whatever process is still in the task's cgroup is a leftover of the task
// (Podman leaves the conmon of each exec session in a "conmon" child) and is killed first.
export const removeTaskCgroup = async (taskId: string): Promise<void> => {
  const tops = isV2()
    ? [join(ROOT, PARENT, taskId)]
    : readdirSync(ROOT)
        .map((h) => join(ROOT, h, PARENT, taskId))
        .filter((d) => existsSync(d));
  for (const top of tops) {
    if (!existsSync(top)) continue; // co-mounted hierarchies (cpu,cpuacct) list one dir twice
    for (const dir of subtree(top).reverse()) {
      await emptyCgroup(dir);
      await rmdir(dir).catch((error: NodeJS.ErrnoException) => {
        if (error.code !== 'ENOENT') throw new Error(`cgroup ${dir}: ${error.message}`);
      });
    }
    await rmdir(dirname(top)).catch(() => {
      /* another task's cgroup is still there */
    });
  }
};

// The directory and every cgroup under it, parents before children.
const subtree = (dir: string): string[] => {
  const out = [dir];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.isDirectory()) out.push(...subtree(join(dir, entry.name)));
  }
  return out;
};

const procsOf = (dir: string): number[] => {
  try {
    return readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
};

const emptyCgroup = async (dir: string): Promise<void> => {
  for (let round = 0; round < 250; round++) {
    const pids = procsOf(dir);
    if (pids.length === 0) return;
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
};

// cgroup v1 mounts cpu alone or co-mounted as "cpu,cpuacct" (a symlink "cpu" usually points there).
const cpuHierarchy = (): string => (existsSync(join(ROOT, 'cpu')) ? 'cpu' : 'cpu,cpuacct');
