// What the agent needs from a container runtime, and nothing more. Two implementations:
//   engine   real OCI containers through the Docker Engine API (Docker Engine or Podman's
//            compatible service): images, users, limits, capabilities, health checks
//   process  the embedded fallback for hosts without an engine: host commands in the task's
//            netns, no images, no limits; it refuses every field it cannot honour
// Both leave the task's netns at the same place (/var/run/netns/tasknet-<task id>), so the CNI
// chain, the host wiring and the teardown do not care which one ran the task.
import type { ProcessRef } from './process/process-ref.js';
import type { ContainerDefinition, TaskDefinition } from '../task/definition.js';

export type RuntimeKind = 'engine' | 'process';
export const RUNTIME_KINDS: readonly RuntimeKind[] = ['engine', 'process'];

// What a runtime remembers of a pause container in the task record.
export interface PauseRef {
  process: ProcessRef; // its PID 1 on the host: alive while the task's netns holder is
  engineId?: string;
  cgroupParent?: string; // the task's cgroup, holding its task-level limits
}

// What a runtime remembers of a task container in the task record.
export interface ContainerRef {
  engineId?: string;
  process?: ProcessRef; // process runtime: util-linux unshare, our child
  init?: ProcessRef; // the container's PID 1, as the host sees it
}

export interface PauseLaunch {
  taskId: string;
  family: string;
  hostname: string;
  netnsName: string; // the runtime leaves the pause's netns at /var/run/netns/<netnsName>
  limits: { cpu?: number; memory?: number }; // the task definition's task-level cpu units and MiB
}

export interface ContainerLaunch {
  taskId: string;
  family: string;
  def: ContainerDefinition;
  hostname: string; // the task's (its ENI's), which every container shows
  pause: PauseRef;
  env: Record<string, string>; // the whole environment the container gets (ECS variables, secrets, its own)
  baseDir: string; // the task definition's directory
  logFile: string; // process runtime: where its output goes
  exitFile: string; // process runtime: where its init records the exit status
}

export type Health = 'healthy' | 'unhealthy' | 'starting';

export interface ContainerRuntime {
  readonly kind: RuntimeKind;
  // Throws a TaskDefinitionError naming the first field this runtime cannot honour.
  check(definition: TaskDefinition): void;
  startPause(launch: PauseLaunch): Promise<PauseRef>;
  // Kills and removes the pause container (the named netns stays: the CNI DEL may still need it).
  removePause(pause: PauseRef): Promise<void>;
  // Frees what the task held beyond its containers (the engine: the task's cgroup).
  releaseTask(taskId: string): Promise<void>;
  start(launch: ContainerLaunch): Promise<ContainerRef>;
  // Resolves with the exit code once the container has exited (null: unknown), also for a
  // container started by an earlier agent.
  waitExit(ref: ContainerRef, exitFile: string): Promise<number | null>;
  // SIGTERM, SIGKILL after the timeout.
  stop(ref: ContainerRef, timeoutMs: number): Promise<'exited' | 'killed' | 'gone'>;
  // Copies a stopped container's output to the file `tasknet logs` reads once the task is gone
  // (the process runtime writes there all along).
  saveLogs(ref: ContainerRef, logFile: string): Promise<void>;
  // Removes what the runtime keeps of a stopped container (the engine: the container and its
  // anonymous volumes).
  remove(ref: ContainerRef): Promise<void>;
  health(ref: ContainerRef): Promise<Health | undefined>;
  // The engine's resource stats of a running container (Docker's stats JSON); null where none.
  stats(ref: ContainerRef): Promise<unknown>;
  // Removes every container labelled with a task id that is not in `live` (a crash between
  // create and record, or a task torn down while the engine was away). Returns what it removed.
  removeStrays(live: ReadonlySet<string>): Promise<string[]>;
}

// Labels the engine runtime puts on everything it creates: how a restarted agent finds them.
export const LABEL_TASK = 'io.tasknet.task-id';
export const LABEL_CONTAINER = 'io.tasknet.container-name';
export const LABEL_FAMILY = 'io.tasknet.task-family';
export const PAUSE_NAME = '~internal~ecs~pause';
