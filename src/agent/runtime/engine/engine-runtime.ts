// The engine runtime: a task as the ECS agent runs it on Docker. The pause container has no
// network of its own (NetworkMode none); its netns gets a name (`ip netns attach`), so the CNI
// chain and its DEL find it by the same path as on the process runtime, even after the pause is
// gone. Every container of the task joins the pause's network and IPC namespaces (and so its
// hostname), runs from its image as its user, in its own cgroup under the task's, and carries
// the labels a restarted agent finds it by.
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import type { ContainerCreateOptions, HostConfig } from 'dockerode';
import { attachNetns } from '../../../netlink/index.js';
import { invalid, type ContainerDefinition, type TaskDefinition } from '../../task/definition.js';
import { pidsByCommandLine, processRef } from '../process/process-ref.js';
import {
  LABEL_CONTAINER,
  LABEL_FAMILY,
  LABEL_TASK,
  PAUSE_NAME,
  type ContainerLaunch,
  type ContainerRef,
  type ContainerRuntime,
  type Health,
  type PauseLaunch,
  type PauseRef,
} from '../runtime.js';
import { connectEngine, demuxFrames, drainProgress, engineMessage, engineStatus, type Engine } from './client.js';
import { createTaskCgroup, removeTaskCgroup } from './task-cgroup.js';

export const PAUSE_IMAGE = 'tasknet/pause:1';
// The pause's whole job is to exist; SIGKILL (docker rm -f) ends it.
const PAUSE_COMMAND = ['sleep', '2147483647'];

export interface EngineRuntimeOptions {
  socket: string;
  pauseImage?: string;
  allowPrivileged?: boolean; // `tasknet agent --allow-privileged`
}

const SECOND_NS = 1_000_000_000;
const MIB = 1024 * 1024;

export class EngineRuntime implements ContainerRuntime {
  readonly kind = 'engine';
  readonly pauseImage: string;
  private readonly engineLimits: Limits;

  // Docker gives a container that joins another's network that one's hostname (UTS) too, and
  // refuses a hostname of its own; Podman shares no UTS namespace and needs the hostname given.
  private constructor(
    readonly engine: Engine,
    readonly options: EngineRuntimeOptions,
    private readonly cgroupfs: boolean,
    private readonly podman: boolean,
  ) {
    this.pauseImage = options.pauseImage ?? PAUSE_IMAGE;
    this.engineLimits = limitsOfEngine(options.socket);
  }

  // Connects and checks the engine answers; the cgroup driver decides whether task-level limits
  // can be placed (cgroupfs: a path we make ourselves; systemd: slices we do not manage).
  static async connect(options: EngineRuntimeOptions): Promise<EngineRuntime> {
    const engine = await connectEngine(options.socket);
    let info: { CgroupDriver?: string };
    let version: { Components?: { Name?: string }[] };
    try {
      info = (await engine.info()) as { CgroupDriver?: string };
      version = (await engine.version()) as { Components?: { Name?: string }[] };
    } catch (error) {
      throw new Error(`no container engine answers on ${options.socket}: ${engineMessage(error)}`);
    }
    const podman = (version.Components ?? []).some((c) => /podman/i.test(c.Name ?? ''));
    return new EngineRuntime(engine, options, info.CgroupDriver === 'cgroupfs', podman);
  }

  check(definition: TaskDefinition): void {
    checkForEngine(definition, { allowPrivileged: this.options.allowPrivileged ?? false, cgroupfs: this.cgroupfs });
  }

  async startPause(launch: PauseLaunch): Promise<PauseRef> {
    const cgroupParent = await createTaskCgroup(launch.taskId, launch.limits);
    const container = await this.create({
      name: `tasknet-${launch.taskId}-pause`,
      Image: this.pauseImage,
      Entrypoint: [],
      Cmd: PAUSE_COMMAND,
      Hostname: launch.hostname,
      Labels: { [LABEL_TASK]: launch.taskId, [LABEL_FAMILY]: launch.family, [LABEL_CONTAINER]: PAUSE_NAME },
      HostConfig: {
        NetworkMode: 'none',
        IpcMode: 'shareable',
        Ulimits: defaultUlimits([], this.engineLimits),
        ...(cgroupParent ? { CgroupParent: cgroupParent } : {}),
      },
    }).catch((error: Error) => {
      throw new Error(`the pause container: ${error.message}`);
    });
    try {
      await container.start();
      // Podman reports no SandboxKey for NetworkMode none: the pause's PID finds the netns everywhere.
      const pid = ((await container.inspect()) as { State: { Pid: number } }).State.Pid;
      const ref = processRef(pid);
      if (!ref) throw new Error(`the pause container exited at once (pid ${pid})`);
      await attachNetns(launch.netnsName, pid);
      return { process: ref, engineId: container.id, ...(cgroupParent ? { cgroupParent } : {}) };
    } catch (error) {
      await container.remove({ force: true }).catch(() => {
        /* report the first error */
      });
      throw new Error(`the pause container: ${engineMessage(error)}`);
    }
  }

  async removePause(pause: PauseRef): Promise<void> {
    if (pause.engineId) await this.remove({ engineId: pause.engineId });
  }

  // Resources of the task that outlive its containers (its cgroup): gone once they are.
  async releaseTask(taskId: string): Promise<void> {
    await removeTaskCgroup(taskId);
  }

  async start(launch: ContainerLaunch): Promise<ContainerRef> {
    const { def } = launch;
    const options = this.containerOptions(launch);
    await this.ensureImage(def.image);
    const container = await this.create(options);
    try {
      await container.start();
    } catch (error) {
      await container.remove({ force: true, v: true }).catch(() => {
        /* report the first error */
      });
      throw new Error(engineMessage(error));
    }
    const state = ((await container.inspect()) as { State: { Pid: number } }).State;
    const init = state.Pid > 0 ? processRef(state.Pid) : undefined;
    return { engineId: container.id, ...(init ? { init } : {}) };
  }

  // The task definition, in the Engine API's words.
  private containerOptions(launch: ContainerLaunch): ContainerCreateOptions {
    const { def, pause } = launch;
    const cgroupParent = pause.cgroupParent;
    const hostConfig: HostConfig = {
      NetworkMode: `container:${pause.engineId}`,
      IpcMode: `container:${pause.engineId}`,
      ReadonlyRootfs: def.readonlyRootFilesystem,
      Privileged: def.privileged,
      Init: def.initProcessEnabled,
      CapAdd: def.capabilities.add,
      CapDrop: def.capabilities.drop,
      Ulimits: defaultUlimits(def.ulimits, this.engineLimits),
      ...(def.memory !== undefined ? { Memory: def.memory * MIB } : {}),
      ...(def.memoryReservation !== undefined ? { MemoryReservation: def.memoryReservation * MIB } : {}),
      // ECS gives a container without cpu 2 shares (the kernel's minimum), not the engine's 1024.
      CpuShares: Math.max(2, def.cpu ?? 2),
      ...(cgroupParent ? { CgroupParent: cgroupParent } : {}),
      LogConfig: { Type: 'json-file', Config: {} },
    };
    return {
      name: `tasknet-${launch.taskId}-${def.name}`,
      Image: def.image,
      ...(def.entryPoint !== undefined ? { Entrypoint: def.entryPoint } : {}),
      ...(def.command !== undefined ? { Cmd: def.command } : {}),
      Env: Object.entries(launch.env).map(([k, v]) => `${k}=${v}`),
      ...(this.podman ? { Hostname: launch.hostname } : {}),
      ...(def.workingDirectory !== undefined ? { WorkingDir: def.workingDirectory } : {}),
      ...(def.user !== undefined ? { User: def.user } : {}),
      Labels: {
        ...def.dockerLabels,
        [LABEL_TASK]: launch.taskId,
        [LABEL_FAMILY]: launch.family,
        [LABEL_CONTAINER]: def.name,
      },
      ...(def.stopTimeout !== undefined ? { StopTimeout: def.stopTimeout } : {}),
      ...(def.healthCheck
        ? {
            Healthcheck: {
              Test: def.healthCheck.command,
              Interval: def.healthCheck.interval * SECOND_NS,
              Timeout: def.healthCheck.timeout * SECOND_NS,
              Retries: def.healthCheck.retries,
              StartPeriod: def.healthCheck.startPeriod * SECOND_NS,
            },
          }
        : {}),
      HostConfig: hostConfig,
    };
  }

  // An image the engine has is used as it is; one it lacks is pulled (when it can reach a registry).
  private async ensureImage(image: string): Promise<void> {
    try {
      await this.engine.getImage(image).inspect();
      return;
    } catch (error) {
      if (engineStatus(error) !== 404) throw new Error(`image ${image}: ${engineMessage(error)}`);
    }
    try {
      await drainProgress(this.engine, await this.engine.pull(image));
    } catch (error) {
      throw new Error(
        `image ${image} is not on the engine and could not be pulled (${engineMessage(error)}): load it with tasknet image load FILE.tar`,
      );
    }
  }

  private async create(options: ContainerCreateOptions) {
    try {
      return await this.engine.createContainer(options);
    } catch (error) {
      throw new Error(engineMessage(error));
    }
  }

  // The engine's wait; if the connection breaks (the engine restarted, or descriptors ran out),
  // the container has not exited for that: wait again, a second later.
  async waitExit(ref: ContainerRef): Promise<number | null> {
    for (;;) {
      try {
        const { StatusCode } = (await this.engine.getContainer(ref.engineId!).wait()) as { StatusCode: number };
        return StatusCode;
      } catch (error) {
        if (engineStatus(error) === 404) return null; // removed under us: its status is lost
        await new Promise((resolve) => setTimeout(resolve, 1000).unref());
      }
    }
  }

  private async state(
    ref: ContainerRef,
  ): Promise<{ Running: boolean; ExitCode: number; Health?: { Status: string } } | undefined> {
    try {
      return (
        (await this.engine.getContainer(ref.engineId!).inspect()) as {
          State: { Running: boolean; ExitCode: number; Health?: { Status: string } };
        }
      ).State;
    } catch (error) {
      if (engineStatus(error) === 404) return undefined;
      throw new Error(`container ${ref.engineId?.slice(0, 12)}: ${engineMessage(error)}`);
    }
  }

  private async isRunning(ref: ContainerRef): Promise<boolean> {
    return (await this.state(ref))?.Running ?? false;
  }

  // The engine sends the image's stop signal (SIGTERM by default), then SIGKILL after t seconds.
  async stop(ref: ContainerRef, timeoutMs: number): Promise<'exited' | 'killed' | 'gone'> {
    if (!ref.engineId || !(await this.isRunning(ref))) return 'gone';
    const t0 = performance.now();
    try {
      await this.engine.getContainer(ref.engineId).stop({ t: Math.ceil(timeoutMs / 1000) });
    } catch (error) {
      const status = engineStatus(error);
      if (status === 304 || status === 404) return 'gone';
      throw new Error(`stopping container ${ref.engineId.slice(0, 12)}: ${engineMessage(error)}`);
    }
    const state = await this.state(ref);
    return state?.ExitCode === 137 && performance.now() - t0 >= timeoutMs ? 'killed' : 'exited';
  }

  async saveLogs(ref: ContainerRef, logFile: string): Promise<void> {
    if (!ref.engineId) return;
    let data: Buffer;
    try {
      data = await this.engine.getContainer(ref.engineId).logs({ stdout: true, stderr: true, follow: false });
    } catch (error) {
      if (engineStatus(error) === 404) return;
      throw new Error(`logs of container ${ref.engineId.slice(0, 12)}: ${engineMessage(error)}`);
    }
    await writeFile(logFile, Buffer.concat(demuxFrames(data).map((f) => f.payload)), { mode: 0o600 });
  }

  async remove(ref: ContainerRef): Promise<void> {
    if (!ref.engineId) return;
    try {
      await this.engine.getContainer(ref.engineId).remove({ force: true, v: true });
    } catch (error) {
      const status = engineStatus(error);
      // 404: already gone; 409: a removal already in progress (ours, from another path).
      if (status !== 404 && status !== 409)
        throw new Error(`removing container ${ref.engineId.slice(0, 12)}: ${engineMessage(error)}`);
    }
  }

  async health(ref: ContainerRef): Promise<Health | undefined> {
    const status = (await this.state(ref))?.Health?.Status;
    return status === 'healthy' || status === 'unhealthy' || status === 'starting' ? status : undefined;
  }

  async stats(ref: ContainerRef): Promise<unknown> {
    if (!ref.engineId || !(await this.isRunning(ref))) return null;
    try {
      return await this.engine.getContainer(ref.engineId).stats({ stream: false });
    } catch (error) {
      if (engineStatus(error) === 404) return null;
      throw new Error(`stats of container ${ref.engineId.slice(0, 12)}: ${engineMessage(error)}`);
    }
  }

  async removeStrays(live: ReadonlySet<string>): Promise<string[]> {
    const all = await this.engine.listContainers({ all: true, filters: { label: [LABEL_TASK] } });
    const strays = all.filter((c) => !live.has(c.Labels[LABEL_TASK] ?? ''));
    for (const c of strays) await this.remove({ engineId: c.Id });
    for (const taskId of new Set(strays.map((c) => c.Labels[LABEL_TASK]!)))
      await removeTaskCgroup(taskId).catch(() => {
        /* reported on the next try */
      });
    return strays.map((c) => c.Names[0]?.replace(/^\//, '') ?? c.Id.slice(0, 12));
  }
}

// What the engine runtime cannot run as asked: the ECS rule that every container has a memory
// figure when the task has none, privileged only where the agent allows it, task-level limits
// only where tasknet can place the task's cgroup.
export const checkForEngine = (
  definition: TaskDefinition,
  { allowPrivileged, cgroupfs }: { allowPrivileged: boolean; cgroupfs: boolean },
): void => {
  if ((definition.cpu !== undefined || definition.memory !== undefined) && !cgroupfs) {
    throw invalid(
      definition.memory !== undefined ? 'memory' : 'cpu',
      definition.memory ?? definition.cpu,
      "task-level limits need an engine with the cgroupfs cgroup driver (the lab's engine has it): set them per container instead",
    );
  }
  definition.containers.forEach((c, i) => {
    const field = `containerDefinitions.${i}`;
    if (c.memory === undefined && c.memoryReservation === undefined && definition.memory === undefined) {
      throw invalid(
        `${field}.memory`,
        undefined,
        'memory or memoryReservation is required when the task has no memory',
      );
    }
    if (c.privileged && !allowPrivileged) {
      throw invalid(
        `${field}.privileged`,
        true,
        'this agent does not run privileged containers (start it with --allow-privileged)',
      );
    }
  });
};

type Limits = Record<string, { soft: number; hard: number }>;

// Podman sets nofile and nproc of a container to values of its own unless told, and that fails
// where root cannot raise rlimits (no CAP_SYS_RESOURCE: runc's "error setting rlimit"). A
// container that does not ask gets the engine's own limits, which any engine can give: those of
// the process serving the socket, found by the socket's path on its command line (dockerd -H,
// podman system service). An engine started by socket activation is not found: its defaults apply.
export const limitsOfEngine = (socket: string): Limits => {
  const [pid] = pidsByCommandLine((args) => args.some((arg) => arg === socket || arg === `unix://${socket}`));
  try {
    return pid === undefined ? {} : limitsOf(`/proc/${pid}/limits`);
  } catch {
    return {}; // it exited meanwhile
  }
};

const defaultUlimits = (
  given: ContainerDefinition['ulimits'],
  engine: Limits,
): { Name: string; Soft: number; Hard: number }[] => {
  const out = given.map((u) => ({ Name: u.name, Soft: u.softLimit, Hard: u.hardLimit }));
  for (const [name, limit] of Object.entries(engine)) {
    if (!out.some((u) => u.Name === name)) out.push({ Name: name, Soft: limit.soft, Hard: limit.hard });
  }
  return out;
};

const limitsOf = (file: string): Limits => {
  const rows: Record<string, string> = { nofile: 'Max open files', nproc: 'Max processes' };
  const text = readFileSync(file, 'utf8');
  const out: Limits = {};
  for (const [name, label] of Object.entries(rows)) {
    const m = new RegExp(`^${label}\\s+(\\S+)\\s+(\\S+)`, 'm').exec(text);
    if (!m) continue;
    const num = (s: string): number => (s === 'unlimited' ? -1 : Number(s));
    out[name] = { soft: num(m[1]!), hard: num(m[2]!) };
  }
  return out;
};
