// The agent: runs ECS-style awsvpc tasks on this host. One task's life, as ECS's (docs/agent.md):
//   record (PROVISIONING) -> named netns -> pause container -> CNI ADD (ecs-eni; ecs-bridge +
//   ecs-ipam) -> containers, wave by wave (dependsOn) -> RUNNING
//   stop: containers SIGTERM -> SIGKILL after the timeout -> CNI DEL in reverse -> pause gone ->
//   netns deleted -> record removed.
// Every step is persisted before and after it runs, so a restarted agent adopts what is alive and
// tears down what is not, with nothing in its memory.
import { randomBytes, randomUUID } from 'node:crypto';
import { readdir, rm, stat } from 'node:fs/promises';
import { isAbsolute, resolve } from 'node:path';
import { createNetns, deleteNetns, isNotFound, netnsExists, NETNS_RUN_DIR, setLink } from '../netlink/index.js';
import type { CredentialsProvider } from './endpoint/credentials.js';
import { accountOf, type ClusterIdentity } from './endpoint/metadata.js';
import type { EndpointLookup } from './endpoint/server.js';
import { EniSpecError, hostnameFor, parseEniSpec, parseMac, type EniSpec } from './eni.js';
import { guardPort, portGuardOf, prunePinnedAddresses, unguardPort } from './host-wiring.js';
import { readLab, type Lab } from './lab/lab-file.js';
import { exitCodeOf, startContainer, stopContainer, waitForContainerExit } from './runtime/container.js';
import { pauseUtsPath, startPause } from './runtime/pause.js';
import { isAlive, pidsInNetns, processRef, signalProcess, waitForExit, type ProcessRef } from './runtime/process-ref.js';
import { ensurePrivateDir, readJson, writeJsonAtomic } from './state/files.js';
import { stateLayout, taskNetnsName, type StateLayout } from './state/layout.js';
import { parseTaskDefinition, startOrder, type ContainerDefinition } from './task-definition.js';
import { buildTaskLists, TaskNetwork, type ChainMode } from './task-network.js';
import { summarize, type ContainerRecord, type TaskRecord, type TaskSummary } from './task-record.js';
import type { ChildProcess } from 'node:child_process';

export interface AgentOptions {
  stateDir: string;
  chainMode: ChainMode;
  cniPath: string[];
  blockInstanceMetadata: boolean;
  stopTimeoutMs: number; // for containers without stopTimeout (ECS_CONTAINER_STOP_TIMEOUT: 30 s)
  provider: CredentialsProvider | undefined;
  identity: ClusterIdentity;
  log: (line: string) => void;
}

export interface RunRequest {
  definition: unknown;
  baseDir: string;
  eni: string; // 'auto' (a free lab ENI) or MAC,ip=CIDR,...,gw=IP
  chainMode?: ChainMode;
}

// A request the caller got wrong (400) or a task that does not exist (404).
export class RequestError extends Error {
  override readonly name = 'RequestError';
  constructor(message: string, readonly status = 400) {
    super(message);
  }
}

const STOPPED_KEPT = 50; // stopped tasks listed by `ls --all`, and whose logs are kept

interface LiveTask {
  record: TaskRecord;
  children: Map<string, ChildProcess>; // our own container processes (absent after adoption)
  exits: Map<string, Promise<number | null>>;
  abort: AbortController; // a stop asked while the task is still starting
  stopping?: Promise<void>;
  saving: Promise<void>;
}

export class Agent implements EndpointLookup {
  readonly layout: StateLayout;
  private readonly tasks = new Map<string, LiveTask>();
  private readonly stopped: TaskSummary[] = [];
  private oldLogs: string[] = []; // log dirs of tasks stopped before this agent started, newest first
  private readonly credentialIds = new Map<string, string>();
  private readonly metadataIds = new Map<string, { taskId: string; container: string }>();
  private readonly network: TaskNetwork;
  private lab: Lab | undefined;
  private pauseWatch: NodeJS.Timeout | undefined;

  constructor(readonly options: AgentOptions) {
    this.layout = stateLayout(options.stateDir);
    this.network = new TaskNetwork({ cacheDir: this.layout.cniCacheDir, cniPath: options.cniPath });
  }

  // Adopt what survived the last agent, tear down what did not, collect CNI leftovers.
  async start(): Promise<void> {
    for (const dir of [this.layout.root, this.layout.tasksDir, this.layout.logsDir, this.layout.cniCacheDir, this.layout.ipamDir]) {
      await ensurePrivateDir(dir);
    }
    this.lab = await readLab(this.layout.labFile);
    await this.reconcile();
    await this.adoptOldLogs();
    this.pauseWatch = setInterval(() => this.checkPauses(), 500);
    this.pauseWatch.unref();
  }

  // --- lookups (the endpoint and the control socket) ---

  byCredentialsId(id: string): TaskRecord | undefined {
    const taskId = this.credentialIds.get(id);
    return taskId === undefined ? undefined : this.tasks.get(taskId)?.record;
  }

  byMetadataId(id: string): { task: TaskRecord; container: ContainerRecord } | undefined {
    const ref = this.metadataIds.get(id);
    const task = ref && this.tasks.get(ref.taskId)?.record;
    const container = task?.containers.find((c) => c.name === ref!.container);
    return task && container ? { task, container } : undefined;
  }

  list(all = false): TaskSummary[] {
    const live = [...this.tasks.values()].map((t) => summarize(t.record));
    return all ? [...live, ...this.stopped] : live;
  }

  // A task by id or unique id prefix (as `docker` takes them); stopped tasks too.
  find(ref: string): { record?: TaskRecord; summary: TaskSummary } {
    if (!/^[0-9a-f]{1,32}$/.test(ref)) throw new RequestError(`invalid task id ${JSON.stringify(ref)}: expected hex digits`);
    const live = [...this.tasks.values()].filter((t) => t.record.id.startsWith(ref));
    const gone = this.stopped.filter((s) => s.id.startsWith(ref) && !live.some((t) => t.record.id === s.id));
    const matches = live.length + gone.length;
    if (matches === 0) throw new RequestError(`no task ${ref}`, 404);
    if (matches > 1) throw new RequestError(`task id ${ref} is ambiguous (${matches} tasks): give more digits`);
    return live[0] ? { record: live[0].record, summary: summarize(live[0].record) } : { summary: gone[0]! };
  }

  // --- run ---

  async run(request: RunRequest): Promise<TaskSummary> {
    const definition = parseTaskDefinition(request.definition);
    if (definition.taskRoleArn && !this.options.provider) {
      throw new RequestError('the task has a taskRoleArn but this agent has no credentials provider (start it with --credentials-file FILE or --lab-credentials)');
    }
    if (!isAbsolute(request.baseDir)) throw new RequestError(`invalid baseDir ${JSON.stringify(request.baseDir)}: must be absolute`);
    const chainMode = request.chainMode ?? this.options.chainMode;
    const eni = this.claimEni(request.eni);
    const id = randomBytes(16).toString('hex');
    const record: TaskRecord = {
      version: 1,
      id,
      arn: `arn:aws:ecs:${this.options.identity.region}:${accountOf({ definition })}:task/${this.options.identity.cluster}/${id}`,
      status: 'PROVISIONING',
      createdAt: new Date().toISOString(),
      definition,
      baseDir: request.baseDir,
      eni,
      chainMode,
      lists: buildTaskLists(eni, { ipamDir: this.layout.ipamDir, blockInstanceMetadata: this.options.blockInstanceMetadata }),
      netns: taskNetnsName(id),
      hostname: hostnameFor(eni),
      ...(definition.taskRoleArn ? { credentialsId: randomUUID() } : {}),
      containers: definition.containers.map((c) => ({
        name: c.name,
        runtimeId: randomBytes(32).toString('hex'),
        metadataId: `${id}-${randomBytes(4).toString('hex')}`,
        status: 'PENDING',
      })),
    };
    const task = this.track(record);
    const t0 = performance.now();
    try {
      await this.save(task);
      await createNetns(record.netns);
      // The runtime's part (CNI leaves loopback to it): containers talk over 127.0.0.1.
      await setLink('lo', { up: true }, record.netns);
      this.checkAbort(task);
      record.pause = await startPause(netnsPath(record), record.hostname);
      await this.save(task);
      this.checkAbort(task);
      const attachment = await this.network.add(id, netnsPath(record), record.lists, chainMode);
      record.attachment = attachment;
      await this.save(task); // before the guard: a crash after it still finds what to unguard
      await guardPort(portGuardOf(attachment));
      const t1 = performance.now();
      await this.startContainers(task);
      this.checkAbort(task);
      const t2 = performance.now();
      record.status = 'RUNNING';
      record.startedAt = new Date().toISOString();
      record.timings = { networkMs: round(t1 - t0), containersMs: round(t2 - t1), totalMs: round(t2 - t0) };
      await this.save(task);
      this.options.log(`task ${id} (${definition.family}) RUNNING on ${eni.mac} ${eni.addresses.join(' ')}, bridge ${attachment.bridgeAddress}, ${record.timings.totalMs} ms`);
      return summarize(record);
    } catch (error) {
      const reason = task.abort.signal.aborted ? String(task.abort.signal.reason) : (error as Error).message;
      this.options.log(`task ${id} failed to start: ${reason}`);
      await this.teardown(task, `failed to start: ${reason}`).catch(() => { /* logged by teardown */ });
      throw new RequestError(`task ${id} failed to start: ${reason}`, 500);
    }
  }

  private claimEni(spec: string): EniSpec {
    const inUse = new Set([...this.tasks.values()].map((t) => t.record.eni.mac));
    if (spec === 'auto') {
      if (!this.lab) throw new RequestError('--eni auto needs a lab (tasknet lab up); give --eni MAC,ip=CIDR,gw=IP instead');
      const free = this.lab.enis.find((e) => !inUse.has(e.mac));
      if (!free) throw new RequestError(`all ${this.lab.enis.length} lab ENIs are in use (tasknet lab up --enis N makes more)`);
      return free;
    }
    let eni: EniSpec;
    try {
      // A bare MAC names a lab ENI, with the lab's addresses for it.
      const labEni = spec.includes(',') ? undefined : this.lab?.enis.find((e) => e.mac === parseMac(spec));
      eni = labEni ?? parseEniSpec(spec);
    } catch (error) {
      throw new RequestError((error as EniSpecError).message);
    }
    if (inUse.has(eni.mac)) throw new RequestError(`ENI ${eni.mac} is already used by another task`);
    const fromLab = this.lab?.enis.find((e) => e.mac === eni.mac);
    return fromLab && !eni.privateDnsName && fromLab.privateDnsName ? { ...eni, privateDnsName: fromLab.privateDnsName } : eni;
  }

  private checkAbort(task: LiveTask): void {
    if (task.abort.signal.aborted) throw new Error(String(task.abort.signal.reason));
  }

  // Waves of containers (dependsOn); START is met by the wave order, COMPLETE and SUCCESS wait for
  // the dependency to exit (SUCCESS: with 0).
  private async startContainers(task: LiveTask): Promise<void> {
    const { record } = task;
    for (const wave of startOrder(record.definition.containers)) {
      await Promise.all(wave.map(async (def) => {
        for (const dep of def.dependsOn) {
          if (dep.condition === 'START') continue;
          const code = await abortable(task, task.exits.get(dep.containerName)!);
          if (dep.condition === 'SUCCESS' && code !== 0) {
            throw new Error(`container ${def.name} depends on ${dep.containerName} succeeding, but it exited with ${code}`);
          }
        }
        this.checkAbort(task);
        await this.startOne(task, def);
      }));
    }
  }

  private async startOne(task: LiveTask, def: ContainerDefinition): Promise<void> {
    const { record } = task;
    const c = record.containers.find((x) => x.name === def.name)!;
    await ensurePrivateDir(this.layout.taskLogsDir(record.id));
    const started = await startContainer({
      netnsPath: netnsPath(record),
      utsPath: pauseUtsPath(record.pause!),
      argv: def.argv,
      env: this.containerEnv(record, def, c),
      cwd: def.workingDirectory ? resolve(record.baseDir, def.workingDirectory) : record.baseDir,
      logFile: this.layout.logFile(record.id, def.name),
      exitFile: this.layout.exitFile(record.id, def.name),
    }).catch((error: Error) => { throw new Error(`container ${def.name}: ${error.message}`); });
    c.process = started.process;
    if (started.init) c.init = started.init;
    c.status = 'RUNNING';
    c.startedAt = new Date().toISOString();
    task.children.set(def.name, started.child);
    this.watchContainer(task, c, started.child);
    await this.save(task);
  }

  // What a container sees: a clean environment (never the agent's), the ECS variables, its own.
  containerEnv(record: TaskRecord, def: ContainerDefinition, c: ContainerRecord): Record<string, string> {
    return {
      PATH: `${resolve(process.execPath, '..')}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`,
      HOME: '/root',
      HOSTNAME: record.hostname,
      ECS_CONTAINER_METADATA_URI_V4: `http://169.254.170.2/v4/${c.metadataId}`,
      ECS_CONTAINER_METADATA_URI: `http://169.254.170.2/v3/${c.metadataId}`,
      ...(record.credentialsId ? { AWS_CONTAINER_CREDENTIALS_RELATIVE_URI: `/v2/credentials/${record.credentialsId}` } : {}),
      ...(process.env.AWS_REGION ? {} : { AWS_DEFAULT_REGION: this.options.identity.region, AWS_REGION: this.options.identity.region }),
      ...Object.fromEntries(def.environment.map((e) => [e.name, e.value])),
    };
  }

  // When an essential container exits, the task stops (ECS: "Essential container in task exited").
  private watchContainer(task: LiveTask, c: ContainerRecord, child?: ChildProcess): void {
    const def = task.record.definition.containers.find((d) => d.name === c.name)!;
    const exitFile = this.layout.exitFile(task.record.id, c.name);
    const exited = waitForContainerExit(c.process!, child).then(async () => {
      c.status = 'STOPPED';
      c.exitCode = exitCodeOf(exitFile, child);
      c.finishedAt = new Date().toISOString();
      task.children.delete(c.name);
      if (!task.stopping) {
        await this.save(task).catch(() => { /* the task may be going away */ });
        this.options.log(`task ${task.record.id}: container ${c.name} exited with ${c.exitCode ?? 'unknown status'}`);
        if (def.essential) {
          void this.stop(task.record.id, `Essential container in task exited (${c.name}: exit code ${c.exitCode ?? 'unknown'})`).catch(() => { /* logged */ });
        }
      }
      return c.exitCode;
    });
    task.exits.set(c.name, exited);
  }

  // The pause container died under a running task: the netns holder is gone, the task stops.
  private checkPauses(): void {
    for (const task of this.tasks.values()) {
      if (task.record.status === 'RUNNING' && !task.stopping && !isAlive(task.record.pause)) {
        void this.stop(task.record.id, 'pause container exited').catch(() => { /* logged */ });
      }
    }
  }

  // --- stop ---

  async stop(ref: string, reason = 'Task stopped by user'): Promise<TaskSummary> {
    const found = this.find(ref);
    const task = found.record && this.tasks.get(found.record.id);
    if (!task) return found.summary;
    if (task.record.status === 'PROVISIONING' && !task.stopping) {
      // The start in progress sees the abort at its next step and tears the task down itself.
      task.abort.abort(reason);
      while (this.tasks.has(task.record.id) && !task.stopping) await sleepMs(10);
      await task.stopping;
    } else {
      await this.teardown(task, reason);
    }
    return this.stopped.find((s) => s.id === task.record.id) ?? summarize(task.record);
  }

  // Idempotent, and safe on any partial state: each step checks what is there.
  private teardown(task: LiveTask, reason: string): Promise<void> {
    task.stopping ??= this.doTeardown(task, reason);
    return task.stopping;
  }

  private async doTeardown(task: LiveTask, reason: string): Promise<void> {
    const { record } = task;
    const t0 = performance.now();
    const phases: string[] = [];
    const phase = (name: string): void => { phases.push(`${name} ${round(performance.now() - t0)}`); };
    record.stoppedReason ??= reason;
    record.status = 'STOPPING';
    task.abort.abort(reason);
    await this.save(task).catch(() => { /* keep going: the record is rewritten below */ });
    const waves = startOrder(record.definition.containers).reverse();
    for (const wave of waves) {
      await Promise.all(wave.map(async (def) => {
        const c = record.containers.find((x) => x.name === def.name)!;
        const timeout = def.stopTimeout !== undefined ? def.stopTimeout * 1000 : this.options.stopTimeoutMs;
        const how = await stopContainer(c, timeout);
        if (how === 'killed') this.options.log(`task ${record.id}: container ${c.name} ignored SIGTERM for ${timeout} ms: killed`);
      }));
    }
    await Promise.race([Promise.all(task.exits.values()), sleepMs(2000)]);
    phase('containers');
    const path = netnsPath(record);
    killAllIn(path, record.pause);
    const errors: string[] = [];
    if (record.attachment) {
      // A pin left behind is overwritten by the next task given the address, and pruned at start.
      await unguardPort(portGuardOf(record.attachment))
        .catch((error: Error) => this.options.log(`task ${record.id}: unpinning ${record.attachment!.bridgeAddress}: ${error.message}`));
    }
    try {
      await this.network.del(record.id, path, record.lists, record.chainMode);
    } catch (error) {
      errors.push((error as Error).message);
    }
    phase('cni-del');
    signalProcess(record.pause, 'SIGKILL');
    await waitForExit(record.pause, 5000, 10);
    killAllIn(path);
    if (errors.length === 0) {
      await deleteNetns(record.netns).catch((error: unknown) => {
        if (!isNotFound(error) && !/No such file/.test((error as Error).message)) errors.push(`netns ${record.netns}: ${(error as Error).message}`);
      });
    }
    if (errors.length > 0) {
      // Keep the record (and the netns, so the ENI can still be handed back): `tasknet stop` or
      // the next agent start retries.
      record.stoppedReason = `${record.stoppedReason}; teardown failed: ${errors.join('; ')}`;
      await this.save(task).catch(() => { /* nothing more to do */ });
      task.stopping = undefined;
      this.options.log(`task ${record.id}: teardown failed: ${errors.join('; ')}`);
      throw new RequestError(`task ${record.id}: teardown failed: ${errors.join('; ')}`, 500);
    }
    record.status = 'STOPPED';
    record.stoppedAt = new Date().toISOString();
    // Untracked first: a save queued from now on is a no-op, so none can recreate the dir below.
    this.untrack(task);
    await task.saving.catch(() => { /* superseded */ });
    await rm(this.layout.taskDir(record.id), { recursive: true, force: true });
    this.stopped.unshift(summarize(record));
    this.options.provider?.forget?.(record.id);
    await this.pruneLogs();
    phase('done');
    this.options.log(`task ${record.id} STOPPED: ${record.stoppedReason} (ms: ${phases.join(', ')})`);
  }

  // --- restart: adopt or tear down ---

  private async reconcile(): Promise<void> {
    let ids: string[];
    try {
      ids = await readdir(this.layout.tasksDir);
    } catch {
      ids = [];
    }
    const adopted: string[] = [];
    for (const id of ids.filter((x) => /^[0-9a-f]{32}$/.test(x))) {
      let record: TaskRecord | undefined;
      try {
        record = (await readJson(this.layout.taskFile(id))) as TaskRecord | undefined;
      } catch (error) {
        this.options.log(`task ${id}: unreadable record (${(error as Error).message}): removing what it may have left`);
      }
      if (!record || record.id !== id) {
        await this.removeOrphan(id);
        continue;
      }
      const task = this.track(record);
      const alive = record.status === 'RUNNING' && isAlive(record.pause) && (await netnsExists(record.netns));
      if (alive) {
        adopted.push(id);
        for (const c of record.containers) {
          if (c.status === 'RUNNING' && c.process) this.watchContainer(task, c);
        }
        // Idempotent; also guards a task started by an agent from before the guard existed.
        if (record.attachment) {
          await guardPort(portGuardOf(record.attachment))
            .catch((error: Error) => this.options.log(`task ${id}: guarding its bridge port: ${error.message}`));
        }
        this.options.log(`task ${id} adopted (${record.containers.filter((c) => isAlive(c.process)).length} containers alive)`);
      } else {
        const why = record.status === 'RUNNING' ? 'pause container exited while the agent was down' : `agent restarted while the task was ${record.status}`;
        await this.teardown(task, why).catch(() => { /* kept for a retry; logged */ });
      }
    }
    // Attachments no adopted task owns (a crash between ADD and the record) go too.
    const sample = buildTaskLists({ id: 'eni-0', mac: '02:00:00:00:00:00', addresses: ['192.0.2.1/32'], gateways: [], subnets: [] },
      { ipamDir: this.layout.ipamDir, blockInstanceMetadata: false });
    await this.network.gc(sample, [...this.tasks.keys()]).catch((error: Error) => this.options.log(`CNI GC: ${error.message}`));
    const held = new Set([...this.tasks.values()].flatMap((t) => (t.record.attachment ? [t.record.attachment.bridgeAddress] : [])));
    await prunePinnedAddresses(held).then(
      (stale) => { if (stale.length > 0) this.options.log(`unpinned ${stale.join(' ')}: no live task holds them`); },
      (error: Error) => this.options.log(`pruning pinned addresses: ${error.message}`),
    );
  }

  // Logs are kept for the last STOPPED_KEPT stopped tasks. Those stopped before this agent started
  // are in no list (`ls --all` and `tasknet logs` know the tasks stopped since), so without this
  // every restart would leave up to STOPPED_KEPT log dirs for ever: they count too, oldest first out.
  private async adoptOldLogs(): Promise<void> {
    const known = new Set([...this.tasks.keys(), ...this.stopped.map((s) => s.id)]);
    const ids = (await readdir(this.layout.logsDir).catch(() => [] as string[])).filter((n) => /^[0-9a-f]{32}$/.test(n) && !known.has(n));
    const dirs = await Promise.all(ids.map(async (id) => ({ id, mtime: (await stat(this.layout.taskLogsDir(id)).catch(() => undefined))?.mtimeMs ?? 0 })));
    this.oldLogs = dirs.sort((a, b) => b.mtime - a.mtime).map((d) => d.id);
    await this.pruneLogs();
  }

  private async pruneLogs(): Promise<void> {
    const gone = this.stopped.splice(STOPPED_KEPT).map((s) => s.id);
    gone.push(...this.oldLogs.splice(Math.max(0, STOPPED_KEPT - this.stopped.length)));
    for (const id of gone) await rm(this.layout.taskLogsDir(id), { recursive: true, force: true });
  }

  // A task dir without a readable record: kill what lives in its netns and delete the netns.
  private async removeOrphan(id: string): Promise<void> {
    const name = taskNetnsName(id);
    killAllIn(`${NETNS_RUN_DIR}/${name}`);
    await deleteNetns(name).catch(() => { /* not there */ });
    await rm(this.layout.taskDir(id), { recursive: true, force: true });
  }

  // --- shutdown ---

  async shutdown(stopTasks: boolean): Promise<void> {
    if (this.pauseWatch) clearInterval(this.pauseWatch);
    if (stopTasks) {
      await Promise.allSettled([...this.tasks.keys()].map((id) => this.stop(id, 'agent shut down with its tasks')));
    }
    await Promise.allSettled([...this.tasks.values()].map((t) => t.saving));
  }

  // --- bookkeeping ---

  private track(record: TaskRecord): LiveTask {
    const task: LiveTask = { record, children: new Map(), exits: new Map(), abort: new AbortController(), saving: Promise.resolve() };
    this.tasks.set(record.id, task);
    if (record.credentialsId) this.credentialIds.set(record.credentialsId, record.id);
    for (const c of record.containers) this.metadataIds.set(c.metadataId, { taskId: record.id, container: c.name });
    return task;
  }

  private untrack(task: LiveTask): void {
    this.tasks.delete(task.record.id);
    if (task.record.credentialsId) this.credentialIds.delete(task.record.credentialsId);
    for (const c of task.record.containers) this.metadataIds.delete(c.metadataId);
  }

  // Saves are queued per task, and each writes the record as it is when its turn comes.
  private save(task: LiveTask): Promise<void> {
    task.saving = task.saving.catch(() => undefined).then(async () => {
      if (!this.tasks.has(task.record.id)) return;
      await writeJsonAtomic(this.layout.taskFile(task.record.id), task.record);
    });
    return task.saving;
  }

  // Log files of a task (live or recently stopped), for `tasknet logs`.
  async logFiles(ref: string, container?: string): Promise<{ container: string; path: string }[]> {
    const { summary } = this.find(ref);
    const names = summary.containers.map((c) => c.name);
    if (container !== undefined && !names.includes(container)) {
      throw new RequestError(`task ${summary.id} has no container ${JSON.stringify(container)} (it has ${names.join(', ')})`, 404);
    }
    const out: { container: string; path: string }[] = [];
    for (const name of container ? [container] : names) {
      const path = this.layout.logFile(summary.id, name);
      if (await stat(path).then(() => true, () => false)) out.push({ container: name, path });
    }
    return out;
  }
}

const netnsPath = (record: TaskRecord): string => `${NETNS_RUN_DIR}/${record.netns}`;
const round = (ms: number): number => Math.round(ms * 10) / 10;
const sleepMs = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms).unref());

// Everything still in the task netns but `keep` (the pause, until the CNI DEL ran): processes a
// crash left unrecorded, and whatever `tasknet exec` started.
const killAllIn = (path: string, keep?: ProcessRef): void => {
  for (const pid of pidsInNetns(path)) {
    if (keep && pid === keep.pid) continue;
    signalProcess(processRef(pid), 'SIGKILL');
  }
};

const abortable = <T>(task: LiveTask, promise: Promise<T>): Promise<T> => new Promise((resolve, reject) => {
  if (task.abort.signal.aborted) reject(new Error(String(task.abort.signal.reason)));
  task.abort.signal.addEventListener('abort', () => reject(new Error(String(task.abort.signal.reason))), { once: true });
  promise.then(resolve, reject);
});
