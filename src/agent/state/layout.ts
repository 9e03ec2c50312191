// Where everything of one agent lives under its state dir (docs/agent.md "State"). The CLI, the
// agent and the lab all derive paths from here, so they cannot disagree.
import { join } from 'node:path';

export const DEFAULT_STATE_DIR = '/var/lib/tasknet';

// --state-dir, else $TASKNET_STATE_DIR, else the ECS agent's $ECS_DATADIR, else the default.
export const resolveStateDir = (flag: string | undefined): string =>
  flag ?? (process.env.TASKNET_STATE_DIR || process.env.ECS_DATADIR || DEFAULT_STATE_DIR);

export const stateLayout = (root: string) => ({
  root,
  pidFile: join(root, 'agent.pid'),
  socket: join(root, 'agent.sock'),
  agentLog: join(root, 'agent.log'),
  labFile: join(root, 'lab.json'),
  tasksDir: join(root, 'tasks'),
  taskDir: (id: string) => join(root, 'tasks', id),
  taskFile: (id: string) => join(root, 'tasks', id, 'task.json'),
  exitFile: (id: string, container: string) => join(root, 'tasks', id, `${container}.exit`),
  logsDir: join(root, 'logs'),
  taskLogsDir: (id: string) => join(root, 'logs', id),
  logFile: (id: string, container: string) => join(root, 'logs', id, `${container}.log`),
  cniCacheDir: join(root, 'cni'),
  ipamDir: join(root, 'ipam'),
  keptDir: join(root, 'kept'), // task records the agent could not read, for a human
  keptRecord: (id: string) => join(root, 'kept', `${id}.task.json`),
  keptReason: (id: string) => join(root, 'kept', `${id}.reason`),
  engineDir: join(root, 'engine'), // the lab's private engine (data, exec root, socket)
});

export type StateLayout = ReturnType<typeof stateLayout>;

// Every top-level entry the agent or the lab may create; `lab down` removes exactly these.
export const STATE_ENTRIES = [
  'agent.pid',
  'agent.sock',
  'agent.log',
  'lab.json',
  'tasks',
  'logs',
  'cni',
  'ipam',
  'engine',
  'kept',
] as const;

// The named netns that holds a task (also what `ip netns` shows while it runs).
export const taskNetnsName = (taskId: string): string => `tasknet-${taskId}`;
