// What the agent persists per task (tasks/<id>/task.json): enough to adopt the task after a
// restart or to tear it down after a crash, without the agent's memory.
import type { Result } from '../cni/result.js';
import type { EniSpec } from './eni.js';
import type { ProcessRef } from './runtime/process-ref.js';
import type { TaskDefinition } from './task-definition.js';
import type { ChainMode, TaskLists } from './task-network.js';

// PROVISIONING until every container started; only a RUNNING task is adopted after a restart.
export type TaskStatus = 'PROVISIONING' | 'RUNNING' | 'STOPPING' | 'STOPPED';
export type ContainerStatus = 'PENDING' | 'RUNNING' | 'STOPPED';

export interface ContainerRecord {
  name: string;
  runtimeId: string; // stands in for the Docker id in metadata
  metadataId: string; // the <id> of ECS_CONTAINER_METADATA_URI_V4
  status: ContainerStatus;
  // The process the agent spawned (util-linux unshare, in the task netns) and the container's
  // PID 1 (its init, in the container's own PID namespace).
  process?: ProcessRef;
  init?: ProcessRef;
  startedAt?: string;
  finishedAt?: string;
  exitCode?: number | null;
}

export interface TaskRecord {
  version: 1;
  id: string;
  arn: string;
  status: TaskStatus;
  createdAt: string;
  startedAt?: string;
  stoppedAt?: string;
  stoppedReason?: string;
  definition: TaskDefinition;
  baseDir: string; // relative workingDirectory and commands resolve here (the task definition's dir)
  eni: EniSpec;
  chainMode: ChainMode;
  lists: TaskLists;
  netns: string; // named netns, /var/run/netns/<netns>
  hostname: string;
  pause?: ProcessRef;
  attachment?: { bridgeAddress: string; eni: Result; bridge: Result };
  credentialsId?: string;
  containers: ContainerRecord[];
  timings?: { networkMs: number; containersMs: number; totalMs: number };
}

// The part of a task the CLI shows (`run`, `ls`).
export interface TaskSummary {
  id: string;
  arn: string;
  family: string;
  status: TaskStatus;
  eni: { id: string; mac: string; addresses: string[]; gateways: string[] };
  bridgeAddress?: string;
  credentialsId?: string;
  netns: string;
  createdAt: string;
  startedAt?: string;
  stoppedAt?: string;
  stoppedReason?: string;
  chainMode: ChainMode;
  containers: { name: string; status: ContainerStatus; pid?: number; exitCode?: number | null; metadataId: string }[];
  timings?: TaskRecord['timings'];
}

export const summarize = (task: TaskRecord): TaskSummary => ({
  id: task.id,
  arn: task.arn,
  family: task.definition.family,
  status: task.status,
  eni: { id: task.eni.id, mac: task.eni.mac, addresses: task.eni.addresses, gateways: task.eni.gateways },
  ...(task.attachment ? { bridgeAddress: task.attachment.bridgeAddress } : {}),
  ...(task.credentialsId ? { credentialsId: task.credentialsId } : {}),
  netns: task.netns,
  createdAt: task.createdAt,
  ...(task.startedAt ? { startedAt: task.startedAt } : {}),
  ...(task.stoppedAt ? { stoppedAt: task.stoppedAt } : {}),
  ...(task.stoppedReason ? { stoppedReason: task.stoppedReason } : {}),
  chainMode: task.chainMode,
  containers: task.containers.map((c) => ({
    name: c.name,
    status: c.status,
    ...(c.init ? { pid: c.init.pid } : {}),
    ...(c.exitCode !== undefined ? { exitCode: c.exitCode } : {}),
    metadataId: c.metadataId,
  })),
  ...(task.timings ? { timings: task.timings } : {}),
});
