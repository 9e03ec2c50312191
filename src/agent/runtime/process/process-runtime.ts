// The process runtime: no engine, no images. The pause is a `sleep` in a named netns made first;
// a container is a host command run in that netns with its own PID and mount namespaces and
// without NET_ADMIN or SYS_ADMIN (container.ts). It shares the host's filesystem, users and
// resources, so it refuses every task-definition field that would promise otherwise.
import { resolve } from 'node:path';
import { createNetns, NETNS_RUN_DIR, setLink } from '../../../netlink/index.js';
import { invalid, type TaskDefinition } from '../../task/definition.js';
import type { ContainerLaunch, ContainerRef, ContainerRuntime, PauseLaunch, PauseRef } from '../runtime.js';
import { exitCodeOf, startContainer, stopContainer, waitForContainerExit } from './container.js';
import { pauseUtsPath, startPause } from './pause.js';
import { signalProcess, waitForExit, type ProcessRef } from './process-ref.js';
import type { ChildProcess } from 'node:child_process';

// The image a task definition names to say "run this command from the host" (no engine).
export const LOCAL_IMAGE = 'local';

// A runtime whose pauses report their exit as an event (the process runtime: a pause it started is
// its child). The agent watches those so, and checks only the others (pauses adopted after an
// agent restart, the engine's) on a timer.
export interface PauseExitEvents {
  // Resolves when the pause exits; undefined for a pause this runtime did not start.
  pauseExit(pause: PauseRef): Promise<void> | undefined;
}

export const hasPauseExitEvents = (runtime: ContainerRuntime): runtime is ContainerRuntime & PauseExitEvents =>
  typeof (runtime as Partial<PauseExitEvents>).pauseExit === 'function';

const refKey = (ref: ProcessRef): string => `${ref.pid}:${ref.startTime}`;

// Always dropped: with them a task could undo its own network (the IMDS blackhole, its routes) or
// enter another task's netns.
const ALWAYS_DROPPED = ['net_admin', 'sys_admin'];

export class ProcessRuntime implements ContainerRuntime, PauseExitEvents {
  readonly kind = 'process';
  // Our own children report their exit; adopted ones are polled.
  private readonly children = new Map<number, ChildProcess>();
  // The exit events of the pauses this runtime started, until they are removed.
  private readonly pauses = new Map<string, Promise<void>>();

  check(definition: TaskDefinition): void {
    const why =
      'the process runtime cannot honour it (it runs host commands without an engine): run the task on the engine runtime';
    if (definition.cpu !== undefined) throw invalid('cpu', definition.cpu, why);
    if (definition.memory !== undefined) throw invalid('memory', definition.memory, why);
    definition.containers.forEach((c, i) => {
      const field = (name: string): string => `containerDefinitions.${i}.${name}`;
      if (c.image !== LOCAL_IMAGE)
        throw invalid(
          field('image'),
          c.image,
          `the process runtime has no images: use "${LOCAL_IMAGE}" to run host commands, or run the task on the engine runtime`,
        );
      if (c.argv.length === 0)
        throw invalid(
          field('command'),
          undefined,
          'is required (with or without entryPoint): the process runtime has no image to take a default command from',
        );
      const refused: [string, unknown][] = [
        ['user', c.user],
        ['readonlyRootFilesystem', c.readonlyRootFilesystem || undefined],
        ['privileged', c.privileged || undefined],
        ['cpu', c.cpu],
        ['memory', c.memory],
        ['memoryReservation', c.memoryReservation],
        ['ulimits', c.ulimits.length > 0 ? c.ulimits : undefined],
        ['linuxParameters.capabilities.add', c.capabilities.add.length > 0 ? c.capabilities.add : undefined],
        ['healthCheck', c.healthCheck],
        ['dockerLabels', Object.keys(c.dockerLabels).length > 0 ? c.dockerLabels : undefined],
      ];
      for (const [name, value] of refused) if (value !== undefined) throw invalid(field(name), value, why);
      c.dependsOn.forEach((d, j) => {
        if (d.condition === 'HEALTHY') throw invalid(field(`dependsOn.${j}.condition`), d.condition, why);
      });
    });
  }

  async startPause(launch: PauseLaunch): Promise<PauseRef> {
    await createNetns(launch.netnsName);
    // The runtime's part (CNI leaves loopback to it): containers talk over 127.0.0.1.
    await setLink('lo', { up: true }, launch.netnsName);
    const started = await startPause(`${NETNS_RUN_DIR}/${launch.netnsName}`, launch.hostname);
    this.pauses.set(refKey(started.process), started.exited);
    return { process: started.process };
  }

  pauseExit(pause: PauseRef): Promise<void> | undefined {
    return this.pauses.get(refKey(pause.process));
  }

  async removePause(pause: PauseRef): Promise<void> {
    signalProcess(pause.process, 'SIGKILL');
    await waitForExit(pause.process, 5000, 10);
    this.pauses.delete(refKey(pause.process));
  }

  async start(launch: ContainerLaunch): Promise<ContainerRef> {
    const { def } = launch;
    const started = await startContainer({
      netnsPath: `${NETNS_RUN_DIR}/tasknet-${launch.taskId}`,
      utsPath: pauseUtsPath(launch.pause.process),
      argv: def.argv,
      env: launch.env,
      cwd: def.workingDirectory ? resolve(launch.baseDir, def.workingDirectory) : launch.baseDir,
      logFile: launch.logFile,
      exitFile: launch.exitFile,
      dropCapabilities: def.capabilities.drop.includes('ALL')
        ? ['all']
        : [...new Set([...ALWAYS_DROPPED, ...def.capabilities.drop.map((c) => c.toLowerCase())])],
    });
    this.children.set(started.process.pid, started.child);
    return { process: started.process, ...(started.init ? { init: started.init } : {}) };
  }

  async waitExit(ref: ContainerRef, exitFile: string): Promise<number | null> {
    const child = ref.process ? this.children.get(ref.process.pid) : undefined;
    await waitForContainerExit(ref.process!, child);
    if (ref.process) this.children.delete(ref.process.pid);
    return exitCodeOf(exitFile, child);
  }

  stop(ref: ContainerRef, timeoutMs: number): Promise<'exited' | 'killed' | 'gone'> {
    return stopContainer(ref, timeoutMs);
  }

  async releaseTask(): Promise<void> {
    /* nothing beyond the processes */
  }

  async saveLogs(): Promise<void> {
    /* the log file is the container's stdout and stderr */
  }

  async remove(): Promise<void> {
    /* nothing is kept of a stopped process */
  }

  async health(): Promise<undefined> {
    return undefined;
  }

  async stats(): Promise<null> {
    return null; // no engine keeps any
  }

  async removeStrays(): Promise<string[]> {
    return []; // a process left by a crash dies with its netns (the agent kills what is in it)
  }
}
