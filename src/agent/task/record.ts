// What the agent persists per task (tasks/<id>/task.json): enough to adopt the task after a
// restart or to tear it down after a crash, without the agent's memory.
import * as z from 'zod/mini';
import type { Result } from '../../cni/result.js';
import { parseConfig } from '../../cni/schema.js';
import type { EniSpec } from './eni.js';
import type { ContainerRef, Health, PauseRef, RuntimeKind } from '../runtime/runtime.js';
import type { TaskDefinition } from './definition.js';
import type { ChainMode, TaskLists } from './network.js';

// PROVISIONING until every container started; only a RUNNING task is adopted after a restart.
export const TASK_STATUSES = ['PROVISIONING', 'RUNNING', 'STOPPING', 'STOPPED'] as const;
export type TaskStatus = (typeof TASK_STATUSES)[number];
// What `tasknet ls` can show: a record's status, or FAILED for a record the agent could not read.
export const SUMMARY_STATUSES = [...TASK_STATUSES, 'FAILED'] as const;
export type ContainerStatus = 'PENDING' | 'RUNNING' | 'STOPPED';

// engineId (engine runtime), or process (process runtime: util-linux unshare, in the task netns),
// and init: the container's PID 1 as the host sees it.
export interface ContainerRecord extends ContainerRef {
  name: string;
  runtimeId: string; // the Docker id in metadata before the engine gave one (process runtime: always)
  metadataId: string; // the <id> of ECS_CONTAINER_METADATA_URI_V4
  status: ContainerStatus;
  health?: Health;
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
  runtime: RuntimeKind;
  eni: EniSpec;
  chainMode: ChainMode;
  lists: TaskLists;
  netns: string; // named netns, /var/run/netns/<netns>
  hostname: string;
  pause?: PauseRef;
  attachment?: { bridgeAddress: string; eni: Result; bridge: Result };
  credentialsId?: string;
  containers: ContainerRecord[];
  timings?: { networkMs: number; containersMs: number; totalMs: number };
}

// The part of a task the CLI shows (`run`, `ls`). FAILED: its record could not be read; what is
// known of it is the reason.
export interface TaskSummary {
  id: string;
  arn: string;
  family: string;
  status: (typeof SUMMARY_STATUSES)[number];
  eni: { id: string; mac: string; addresses: string[]; gateways: string[] };
  bridgeAddress?: string;
  credentialsId?: string;
  netns: string;
  createdAt: string;
  startedAt?: string;
  stoppedAt?: string;
  stoppedReason?: string;
  chainMode: ChainMode;
  runtime: RuntimeKind;
  containers: {
    name: string;
    status: ContainerStatus;
    health?: Health;
    pid?: number;
    engineId?: string;
    exitCode?: number | null;
    metadataId: string;
  }[];
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
  runtime: task.runtime,
  containers: task.containers.map((c) => ({
    name: c.name,
    status: c.status,
    ...(c.health ? { health: c.health } : {}),
    ...(c.engineId ? { engineId: c.engineId } : {}),
    ...(c.init ? { pid: c.init.pid } : {}),
    ...(c.exitCode !== undefined ? { exitCode: c.exitCode } : {}),
    metadataId: c.metadataId,
  })),
  ...(task.timings ? { timings: task.timings } : {}),
});

// A record read back from disk is checked for the shape the agent relies on before it is used: a
// truncated or hand-edited file is refused whole (and kept aside, agent.ts) instead of breaking
// the agent's lists for every task. The task definition inside was validated when the task ran;
// here only the parts the agent reads are checked.
const processRef = z.looseObject({ pid: z.number().check(z.int(), z.positive()), startTime: z.string() });
const recordSchema = z.looseObject({
  version: z.literal(1),
  id: z.string().check(z.regex(/^[0-9a-f]{32}$/)),
  arn: z.string(),
  status: z.enum(TASK_STATUSES),
  createdAt: z.string(),
  definition: z.looseObject({
    family: z.string(),
    containers: z.array(z.looseObject({ name: z.string(), dependsOn: z.array(z.unknown()) })),
  }),
  baseDir: z.string(),
  runtime: z.optional(z.enum(['engine', 'process'])),
  eni: z.looseObject({
    id: z.string(),
    mac: z.string(),
    addresses: z.array(z.string()),
    gateways: z.array(z.string()),
  }),
  chainMode: z.enum(['in-process', 'exec']),
  lists: z.looseObject({ eni: z.string(), bridge: z.string() }),
  netns: z.string(),
  hostname: z.string(),
  pause: z.optional(z.looseObject({ process: processRef, engineId: z.optional(z.string()) })),
  attachment: z.optional(z.looseObject({ bridgeAddress: z.string() })),
  credentialsId: z.optional(z.string()),
  containers: z.array(
    z.looseObject({
      name: z.string(),
      runtimeId: z.string(),
      metadataId: z.string(),
      status: z.enum(['PENDING', 'RUNNING', 'STOPPED']),
      engineId: z.optional(z.string()),
      process: z.optional(processRef),
      init: z.optional(processRef),
    }),
  ),
});

export const parseTaskRecord = (json: unknown, file: string): TaskRecord => {
  const record = parseConfig(recordSchema, json, { prefix: file }) as unknown as TaskRecord;
  record.runtime ??= 'process'; // records from before the engine runtime
  return record;
};

export const failedSummary = (id: string, reason: string): TaskSummary => ({
  id,
  arn: '',
  family: '(unknown)',
  status: 'FAILED',
  eni: { id: '', mac: '', addresses: [], gateways: [] },
  netns: `tasknet-${id}`,
  createdAt: '',
  stoppedReason: reason,
  chainMode: 'in-process',
  runtime: 'process',
  containers: [],
});
