// The agent: runs ECS-style awsvpc tasks on this host. One task's life, as ECS's (docs/agent.md):
//   record (PROVISIONING) -> pause container, its netns named -> CNI ADD (ecs-eni; ecs-bridge +
//   ecs-ipam) -> containers, wave by wave (dependsOn) -> RUNNING
//   stop: containers SIGTERM -> SIGKILL after the timeout -> containers removed -> CNI DEL ->
//   pause removed -> netns deleted -> record removed.
// The containers run on a runtime (runtime/: the engine, or host processes); this class keeps the
// registry, drives each task through its steps, and supervises and reconciles them.
// Every step is persisted before and after it runs, so a restarted agent adopts what is alive and
// tears down what is not, with nothing in its memory.
import { randomBytes, randomUUID } from 'node:crypto';
import { readdir, rename, rm, stat } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import { deleteNetns, isNotFound, netnsExists, NETNS_RUN_DIR } from '../../netlink/index.js';
import { AgentError } from './errors.js';
import type { CredentialsProvider } from './endpoint/credentials.js';
import { accountOf, type ClusterIdentity } from './endpoint/metadata.js';
import type { EndpointLookup } from './endpoint/server.js';
import type { AgentLog } from './log.js';
import type { AgentMetrics } from './metrics.js';
import { type EniSpecError, hostnameFor, parseEniSpec, parseMac, type EniSpec } from '../task/eni.js';
import { guardPort, portGuardOf, prunePinnedAddresses, unguardPort } from './host-wiring.js';
import { readLab, type Lab } from '../lab/lab-file.js';
import {
  isAlive,
  pidsInNetns,
  processRef,
  signalProcess,
  type ProcessRef,
  watchExit,
} from '../runtime/process/process-ref.js';
import { hasPauseExitEvents } from '../runtime/process/process-runtime.js';
import type { ContainerRuntime, RuntimeKind } from '../runtime/runtime.js';
import { containerEnv, resolveEnvironment, type SecretsProvider } from '../task/environment.js';
import { ensurePrivateDir, readJson, writeFileAtomic, writeJsonAtomic } from '../state/files.js';
import { stateLayout, taskNetnsName, type StateLayout } from '../state/layout.js';
import { parseTaskDefinition, startOrder, type ContainerDefinition } from '../task/definition.js';
import { buildTaskLists, TaskNetwork, type ChainMode } from '../task/network.js';
import { StoppedTasks } from './stopped-tasks.js';
import { parseTaskRecord, summarize, type ContainerRecord, type TaskRecord, type TaskSummary } from '../task/record.js';

export interface AgentOptions {
  stateDir: string;
  chainMode: ChainMode;
  cniPath: string[];
  blockInstanceMetadata: boolean;
  stopTimeoutMs: number; // for containers without stopTimeout (ECS_CONTAINER_STOP_TIMEOUT: 30 s)
  provider: CredentialsProvider | undefined;
  secrets?: SecretsProvider; // for containerDefinitions.*.secrets
  // The runtimes this agent has (process always; engine when it was given a socket) and the one a
  // task gets unless it asks.
  runtimes: Partial<Record<RuntimeKind, ContainerRuntime>> & { process: ContainerRuntime };
  defaultRuntime: RuntimeKind;
  engineSocket?: string;
  identity: ClusterIdentity;
  log: AgentLog;
  metrics?: Pick<AgentMetrics, 'taskStarted' | 'pluginCalled'>;
}

export interface RunRequest {
  definition: unknown;
  baseDir: string;
  eni: string; // 'auto' (a free lab ENI) or MAC,ip=CIDR,...,gw=IP
  chainMode?: ChainMode;
  runtime?: RuntimeKind;
}

interface LiveTask {
  record: TaskRecord;
  exits: Map<string, Promise<number | null>>;
  abort: AbortController; // a stop asked while the task is still starting
  stopping?: Promise<void>;
  saving: Promise<void>;
  pauseExited?: string; // what saw its pause exit (a task still starting stops once it is RUNNING)
}

// The suffix of a task dir being removed (not a task id, so never read as a task).
const REMOVING = '.removing';

export class Agent implements EndpointLookup {
  readonly layout: StateLayout;
  private readonly tasks = new Map<string, LiveTask>();
  private readonly gone: StoppedTasks;
  private readonly credentialIds = new Map<string, string>();
  private readonly metadataIds = new Map<string, { taskId: string; container: string }>();
  private readonly network: TaskNetwork;
  private lab: Lab | undefined;
  private shuttingDown = false;

  constructor(readonly options: AgentOptions) {
    this.layout = stateLayout(options.stateDir);
    this.gone = new StoppedTasks(this.layout);
    const { metrics } = options;
    this.network = new TaskNetwork({
      cacheDir: this.layout.cniCacheDir,
      cniPath: options.cniPath,
      observe: (call) => {
        metrics?.pluginCalled(call);
        const failed = call.code === undefined ? '' : `, failed with code ${call.code}`;
        options.log.debug(`cni ${call.verb} ${call.plugin}: ${round(call.seconds * 1000)} ms${failed}`, { ...call });
      },
    });
  }

  // Adopt what survived the last agent, tear down what did not, collect CNI leftovers.
  async start(): Promise<void> {
    for (const dir of [
      this.layout.root,
      this.layout.tasksDir,
      this.layout.logsDir,
      this.layout.cniCacheDir,
      this.layout.ipamDir,
    ]) {
      await ensurePrivateDir(dir);
    }
    this.lab = await readLab(this.layout.labFile);
    await this.reconcile();
    await this.gone.listKept();
    await this.gone.adoptOldLogs(new Set(this.tasks.keys()));
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

  stats(task: TaskRecord, container: ContainerRecord): Promise<unknown> {
    return this.runtimeFor(task.runtime).stats(container);
  }

  list(all = false): TaskSummary[] {
    const live = [...this.tasks.values()].map((t) => summarize(t.record));
    return [...live, ...this.gone.list(all)];
  }

  // A task by id or unique id prefix (as `docker` takes them); stopped tasks too.
  find(ref: string): { record?: TaskRecord; summary: TaskSummary } {
    if (!/^[0-9a-f]{1,32}$/.test(ref))
      throw new AgentError('invalid', `invalid task id ${JSON.stringify(ref)}: expected hex digits`);
    const live = [...this.tasks.values()].filter((t) => t.record.id.startsWith(ref));
    const gone = this.gone.list(true).filter((s) => s.id.startsWith(ref) && !live.some((t) => t.record.id === s.id));
    const matches = live.length + gone.length;
    if (matches === 0) throw new AgentError('not-found', `no task ${ref}`);
    if (matches > 1)
      throw new AgentError('invalid', `task id ${ref} is ambiguous (${matches} tasks): give more digits`);
    return live[0] ? { record: live[0].record, summary: summarize(live[0].record) } : { summary: gone[0]! };
  }

  // --- run ---

  async run(request: RunRequest): Promise<TaskSummary> {
    const definition = parseTaskDefinition(request.definition);
    const runtime = this.runtimeFor(request.runtime ?? this.options.defaultRuntime);
    runtime.check(definition);
    if (definition.taskRoleArn && !this.options.provider) {
      throw new AgentError(
        'invalid',
        'the task has a taskRoleArn but this agent has no credentials provider (start it with --credentials-file FILE or --lab-credentials)',
      );
    }
    if (!isAbsolute(request.baseDir))
      throw new AgentError('invalid', `invalid baseDir ${JSON.stringify(request.baseDir)}: must be absolute`);
    // Secrets and environment files are read now, so a missing one fails the run before anything exists.
    const environments = await resolveEnvironment(definition, request.baseDir, this.options.secrets);
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
      runtime: runtime.kind,
      eni,
      chainMode,
      lists: buildTaskLists(eni, {
        ipamDir: this.layout.ipamDir,
        blockInstanceMetadata: this.options.blockInstanceMetadata,
      }),
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
      this.checkAbort(task);
      record.pause = await runtime.startPause({
        taskId: id,
        family: definition.family,
        hostname: record.hostname,
        netnsName: record.netns,
        limits: {
          ...(definition.cpu !== undefined ? { cpu: definition.cpu } : {}),
          ...(definition.memory !== undefined ? { memory: definition.memory } : {}),
        },
      });
      this.watchPause(task);
      await this.save(task);
      this.checkAbort(task);
      const attachment = await this.network.add(id, netnsPath(record), record.lists, chainMode);
      record.attachment = attachment;
      await this.save(task); // before the guard: a crash after it still finds what to unguard
      await guardPort(portGuardOf(attachment));
      const t1 = performance.now();
      this.options.log.debug(`task ${id}: network ready (${attachment.bridgeAddress}) in ${round(t1 - t0)} ms`, {
        taskId: id,
      });
      await this.startContainers(task, environments);
      this.checkAbort(task);
      const t2 = performance.now();
      record.status = 'RUNNING';
      record.startedAt = new Date().toISOString();
      record.timings = { networkMs: round(t1 - t0), containersMs: round(t2 - t1), totalMs: round(t2 - t0) };
      await this.save(task);
      if (task.pauseExited) this.pauseGone(task, `${task.pauseExited}, while it started`);
      this.options.metrics?.taskStarted(runtime.kind, (t2 - t0) / 1000, true);
      this.options.log.info(
        `task ${id} (${definition.family}) RUNNING on ${runtime.kind}, ENI ${eni.mac} ${eni.addresses.join(' ')}, bridge ${attachment.bridgeAddress}, ${record.timings.totalMs} ms`,
        { taskId: id, family: definition.family, runtime: runtime.kind, ms: record.timings.totalMs },
      );
      return summarize(record);
    } catch (error) {
      const reason = task.abort.signal.aborted ? String(task.abort.signal.reason) : (error as Error).message;
      this.options.metrics?.taskStarted(runtime.kind, (performance.now() - t0) / 1000, false);
      this.options.log.error(`task ${id} failed to start: ${reason}`, { taskId: id });
      await this.teardown(task, `failed to start: ${reason}`).catch(() => {
        /* logged by teardown */
      });
      throw new AgentError('failed', `task ${id} failed to start: ${reason}`);
    }
  }

  // The engine's API socket, for the CLI's logs and exec (they talk to the engine directly).
  engineSocket(): string | undefined {
    return this.options.runtimes.engine ? this.options.engineSocket : undefined;
  }

  // The runtime a task runs on; asking for one this agent lacks is the caller's mistake.
  runtimeFor(kind: RuntimeKind): ContainerRuntime {
    const runtime = this.options.runtimes[kind];
    if (!runtime)
      throw new AgentError(
        'invalid',
        `this agent has no ${kind} runtime (start it with --engine-socket PATH, or run the task with --runtime process)`,
      );
    return runtime;
  }

  private claimEni(spec: string): EniSpec {
    const inUse = new Set([...this.tasks.values()].map((t) => t.record.eni.mac));
    if (spec === 'auto') {
      if (!this.lab)
        throw new AgentError(
          'invalid',
          '--eni auto needs a lab (tasknet lab up); give --eni MAC,ip=CIDR,gw=IP instead',
        );
      const free = this.lab.enis.find((e) => !inUse.has(e.mac));
      if (!free)
        throw new AgentError(
          'invalid',
          `all ${this.lab.enis.length} lab ENIs are in use (tasknet lab up --enis N makes more)`,
        );
      return free;
    }
    let eni: EniSpec;
    try {
      // A bare MAC names a lab ENI, with the lab's addresses for it.
      const labEni = spec.includes(',') ? undefined : this.lab?.enis.find((e) => e.mac === parseMac(spec));
      eni = labEni ?? parseEniSpec(spec);
    } catch (error) {
      throw new AgentError('invalid', (error as EniSpecError).message);
    }
    if (inUse.has(eni.mac)) throw new AgentError('invalid', `ENI ${eni.mac} is already used by another task`);
    const fromLab = this.lab?.enis.find((e) => e.mac === eni.mac);
    return fromLab && !eni.privateDnsName && fromLab.privateDnsName
      ? { ...eni, privateDnsName: fromLab.privateDnsName }
      : eni;
  }

  private checkAbort(task: LiveTask): void {
    if (task.abort.signal.aborted) throw new Error(String(task.abort.signal.reason));
  }

  // Waves of containers (dependsOn): START is met by the wave order; COMPLETE and SUCCESS wait for
  // the dependency to exit (SUCCESS: with 0); HEALTHY waits for its health check to pass.
  private async startContainers(task: LiveTask, environments: Map<string, Record<string, string>>): Promise<void> {
    const { record } = task;
    for (const wave of startOrder(record.definition.containers)) {
      await Promise.all(
        wave.map(async (def) => {
          for (const dep of def.dependsOn) {
            if (dep.condition === 'START') continue;
            if (dep.condition === 'HEALTHY') {
              await this.waitHealthy(task, dep.containerName);
              continue;
            }
            const code = await abortable(task, task.exits.get(dep.containerName)!);
            if (dep.condition === 'SUCCESS' && code !== 0) {
              throw new Error(
                `container ${def.name} depends on ${dep.containerName} succeeding, but it exited with ${code}`,
              );
            }
          }
          this.checkAbort(task);
          await this.startOne(task, def, environments.get(def.name) ?? {});
        }),
      );
    }
  }

  // Until the engine says the container is healthy; its exit, a failed check, or no verdict by the
  // time its checks would all have run (start period, then retries + 1 rounds of interval and
  // timeout) fails the start. The last happens where the engine runs no checks at all: Podman
  // runs them from systemd timers, so on a host without systemd they never start.
  private async waitHealthy(task: LiveTask, name: string): Promise<void> {
    const c = task.record.containers.find((x) => x.name === name)!;
    const check = task.record.definition.containers.find((d) => d.name === name)!.healthCheck!;
    const runtime = this.runtimeFor(task.record.runtime);
    const budgetS = check.startPeriod + (check.interval + check.timeout) * (check.retries + 1) + 10;
    const deadline = Date.now() + budgetS * 1000;
    let exited = false;
    void task.exits.get(name)?.then(() => {
      exited = true;
    });
    for (;;) {
      this.checkAbort(task);
      const health = await runtime.health(c);
      c.health = health;
      if (health === 'healthy') return;
      if (health === 'unhealthy') throw new Error(`container ${name} is unhealthy`);
      if (exited) throw new Error(`container ${name} exited before it was healthy`);
      if (Date.now() > deadline) {
        throw new Error(
          `container ${name} had no health verdict within ${budgetS} s (${health ?? 'no health status'}: does the engine run health checks? Podman needs systemd for them)`,
        );
      }
      await sleepMs(200);
    }
  }

  private async startOne(task: LiveTask, def: ContainerDefinition, own: Record<string, string>): Promise<void> {
    const { record } = task;
    const c = record.containers.find((x) => x.name === def.name)!;
    await ensurePrivateDir(this.layout.taskLogsDir(record.id));
    const runtime = this.runtimeFor(record.runtime);
    const ref = await runtime
      .start({
        taskId: record.id,
        family: record.definition.family,
        def,
        hostname: record.hostname,
        pause: record.pause!,
        env: this.containerEnv(record, def, c, own),
        baseDir: record.baseDir,
        logFile: this.layout.logFile(record.id, def.name),
        exitFile: this.layout.exitFile(record.id, def.name),
      })
      .catch((error: Error) => {
        throw new Error(`container ${def.name}: ${error.message}`);
      });
    Object.assign(c, ref);
    c.status = 'RUNNING';
    c.startedAt = new Date().toISOString();
    this.watchContainer(task, c);
    await this.save(task);
  }

  // What a container sees: never the agent's environment; the ECS variables and its own.
  containerEnv(
    record: TaskRecord,
    def: ContainerDefinition,
    c: ContainerRecord,
    own: Record<string, string> = {},
  ): Record<string, string> {
    return containerEnv({
      runtime: record.runtime,
      hostname: record.hostname,
      metadataId: c.metadataId,
      ...(record.credentialsId ? { credentialsId: record.credentialsId } : {}),
      region: this.options.identity.region,
      environment: { ...own, ...Object.fromEntries(def.environment.map((e) => [e.name, e.value])) },
    });
  }

  // When an essential container exits, the task stops (ECS: "Essential container in task exited").
  private watchContainer(task: LiveTask, c: ContainerRecord): void {
    const def = task.record.definition.containers.find((d) => d.name === c.name)!;
    const runtime = this.runtimeFor(task.record.runtime);
    const exited = runtime.waitExit(c, this.layout.exitFile(task.record.id, c.name)).then(async (code) => {
      c.status = 'STOPPED';
      c.exitCode = code;
      c.finishedAt = new Date().toISOString();
      if (!task.stopping) {
        await this.save(task).catch(() => {
          /* the task may be going away */
        });
        this.options.log.info(
          `task ${task.record.id}: container ${c.name} exited with ${c.exitCode ?? 'unknown status'}`,
          { taskId: task.record.id, container: c.name, exitCode: c.exitCode },
        );
        if (def.essential) {
          void this.stop(
            task.record.id,
            `Essential container in task exited (${c.name}: exit code ${c.exitCode ?? 'unknown'})`,
          ).catch(() => {
            /* logged */
          });
        }
      }
      return c.exitCode;
    });
    task.exits.set(c.name, exited);
  }

  // The pause container died under a running task: the netns holder is gone, the task stops.
  // A pause the runtime started in this agent is its child, and its exit an event: nothing is
  // polled for it. The others (adopted after a restart, the engine's) join the shared exit watch
  // of process-ref.ts (one timer, kill(pid, 0) per tick, the /proc identity check every 10th).
  private watchPause(task: LiveTask): void {
    const { pause } = task.record;
    const runtime = this.runtimeFor(task.record.runtime);
    const event = pause && hasPauseExitEvents(runtime) ? runtime.pauseExit(pause) : undefined;
    const [exited, seenBy] = event
      ? [event, 'its exit event']
      : [
          pause?.process
            ? watchExit(pause.process, (error) =>
                this.options.log.warn(`task ${task.record.id}: cannot check its pause container: ${error.message}`, {
                  taskId: task.record.id,
                }),
              )
            : Promise.resolve(),
          'the pause check',
        ];
    void exited.then(() => {
      task.pauseExited = seenBy;
      this.pauseGone(task, seenBy);
    });
  }

  private pauseGone(task: LiveTask, seenBy: string): void {
    if (this.shuttingDown || task.record.status !== 'RUNNING' || task.stopping) return;
    if (this.tasks.get(task.record.id) !== task) return;
    this.options.log.info(`task ${task.record.id}: its pause container exited (seen by ${seenBy})`, {
      taskId: task.record.id,
    });
    void this.stop(task.record.id, 'pause container exited').catch(() => {
      /* logged */
    });
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
    return this.gone.find(task.record.id) ?? summarize(task.record);
  }

  // Idempotent, and safe on any partial state: each step checks what is there.
  // A teardown that failed is forgotten, so the next stop (or agent start) tries again.
  private teardown(task: LiveTask, reason: string): Promise<void> {
    task.stopping ??= this.doTeardown(task, reason).catch((error: unknown) => {
      task.stopping = undefined;
      throw error;
    });
    return task.stopping;
  }

  private async doTeardown(task: LiveTask, reason: string): Promise<void> {
    const { record } = task;
    const t0 = performance.now();
    const phases: string[] = [];
    const phase = (name: string): void => {
      phases.push(`${name} ${round(performance.now() - t0)}`);
    };
    record.stoppedReason ??= reason;
    record.status = 'STOPPING';
    task.abort.abort(reason);
    await this.save(task).catch(() => {
      /* keep going: the record is rewritten below */
    });
    const runtime = this.runtimeFor(record.runtime);
    const errors: string[] = [];
    const waves = startOrder(record.definition.containers).reverse();
    for (const wave of waves) {
      await Promise.all(
        wave.map(async (def) => {
          const c = record.containers.find((x) => x.name === def.name)!;
          const timeout = def.stopTimeout !== undefined ? def.stopTimeout * 1000 : this.options.stopTimeoutMs;
          try {
            const how = await runtime.stop(c, timeout);
            if (how === 'killed') {
              this.options.log.warn(
                `task ${record.id}: container ${c.name} ignored SIGTERM for ${timeout} ms: killed`,
                { taskId: record.id, container: c.name },
              );
            }
          } catch (error) {
            errors.push((error as Error).message);
          }
        }),
      );
    }
    await Promise.race([Promise.all(task.exits.values()), sleepMs(2000)]);
    for (const c of record.containers) {
      await runtime.saveLogs(c, this.layout.logFile(record.id, c.name)).catch((error: Error) =>
        this.options.log.warn(`task ${record.id}: keeping the logs of ${c.name}: ${error.message}`, {
          taskId: record.id,
          container: c.name,
        }),
      );
      await runtime.remove(c).catch((error: Error) => errors.push(error.message));
    }
    phase('containers');
    const path = netnsPath(record);
    killAllIn(path, record.pause?.process);
    if (record.attachment) {
      // A pin left behind is overwritten by the next task given the address, and pruned at start.
      await unguardPort(portGuardOf(record.attachment)).catch((error: Error) =>
        this.options.log.warn(`task ${record.id}: unpinning ${record.attachment!.bridgeAddress}: ${error.message}`, {
          taskId: record.id,
        }),
      );
    }
    try {
      await this.network.del(record.id, path, record.lists, record.chainMode);
    } catch (error) {
      errors.push((error as Error).message);
    }
    phase('cni-del');
    if (record.pause) await runtime.removePause(record.pause).catch((error: Error) => errors.push(error.message));
    killAllIn(path);
    await runtime.releaseTask(record.id).catch((error: Error) => errors.push(error.message));
    if (errors.length === 0) {
      await deleteNetns(record.netns).catch((error: unknown) => {
        if (!isNotFound(error) && !/No such file/.test((error as Error).message))
          errors.push(`netns ${record.netns}: ${(error as Error).message}`);
      });
    }
    if (errors.length > 0) {
      // Keep the record (and the netns, so the ENI can still be handed back): `tasknet stop` or
      // the next agent start retries.
      record.stoppedReason = `${record.stoppedReason}; teardown failed: ${errors.join('; ')}`;
      await this.save(task).catch(() => {
        /* nothing more to do */
      });
      task.stopping = undefined;
      this.options.log.error(`task ${record.id}: teardown failed: ${errors.join('; ')}`, { taskId: record.id });
      throw new AgentError('failed', `task ${record.id}: teardown failed: ${errors.join('; ')}`);
    }
    record.status = 'STOPPED';
    record.stoppedAt = new Date().toISOString();
    // Untracked first: a save queued from now on is a no-op, so none can recreate the dir below.
    this.untrack(task);
    await task.saving.catch(() => {
      /* superseded */
    });
    await this.removeTaskDir(record.id);
    this.options.provider?.forget?.(record.id);
    await this.gone.add(summarize(record));
    phase('done');
    this.options.log.info(`task ${record.id} STOPPED: ${record.stoppedReason} (ms: ${phases.join(', ')})`, {
      taskId: record.id,
    });
  }

  // A task's dir goes in one step: renamed out of the way (atomic), then removed. An agent killed
  // inside a plain recursive rm would leave a dir without task.json, which the next agent must take
  // for a task whose record was lost.
  private async removeTaskDir(id: string): Promise<void> {
    const doomed = `${this.layout.taskDir(id)}${REMOVING}`;
    await rename(this.layout.taskDir(id), doomed).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'ENOENT') throw error;
    });
    await rm(doomed, { recursive: true, force: true });
  }

  // --- restart: adopt or tear down ---

  private async reconcile(): Promise<void> {
    let ids: string[];
    try {
      ids = await readdir(this.layout.tasksDir);
    } catch {
      ids = [];
    }
    // What a killed agent was removing is finished first: its task had already been torn down.
    for (const name of ids.filter((x) => x.endsWith(REMOVING))) {
      await rm(join(this.layout.tasksDir, name), { recursive: true, force: true });
    }
    const adopted: string[] = [];
    for (const id of ids.filter((x) => /^[0-9a-f]{32}$/.test(x))) {
      let record: TaskRecord | undefined;
      let why = 'no task.json in it';
      try {
        const json = await readJson(this.layout.taskFile(id));
        if (json !== undefined) record = parseTaskRecord(json, 'task.json');
        if (record && record.id !== id) throw new Error(`its id is ${record.id}`);
      } catch (error) {
        record = undefined;
        why = (error as Error).message;
      }
      if (!record) {
        await this.recoverUnreadable(id, why);
        continue;
      }
      const task = this.track(record);
      const alive = record.status === 'RUNNING' && isAlive(record.pause?.process) && (await netnsExists(record.netns));
      if (alive) {
        adopted.push(id);
        this.watchPause(task);
        for (const c of record.containers) {
          if (c.status === 'RUNNING' && (c.process || c.engineId)) this.watchContainer(task, c);
        }
        // Idempotent; also guards a task started by an agent from before the guard existed.
        if (record.attachment) {
          await guardPort(portGuardOf(record.attachment)).catch((error: Error) =>
            this.options.log.warn(`task ${id}: guarding its bridge port: ${error.message}`, { taskId: id }),
          );
        }
        this.options.log.info(
          `task ${id} adopted (${record.containers.filter((c) => c.status === 'RUNNING').length} containers running)`,
          { taskId: id },
        );
      } else {
        const why =
          record.status === 'RUNNING'
            ? 'pause container exited while the agent was down'
            : `agent restarted while the task was ${record.status}`;
        await this.teardown(task, why).catch(() => {
          /* kept for a retry; logged */
        });
      }
    }
    // Containers the engine holds for no task this agent knows (a crash between create and record).
    const live = new Set(this.tasks.keys());
    for (const runtime of Object.values(this.options.runtimes)) {
      await runtime.removeStrays(live).then(
        (gone) => {
          if (gone.length > 0) this.options.log.info(`removed containers of no known task: ${gone.join(' ')}`);
        },
        (error: Error) => this.options.log.warn(`${runtime.kind} runtime: removing stray containers: ${error.message}`),
      );
    }
    // Attachments no adopted task owns (a crash between ADD and the record) go too.
    const sample = buildTaskLists(
      { id: 'eni-0', mac: '02:00:00:00:00:00', addresses: ['192.0.2.1/32'], gateways: [], subnets: [] },
      { ipamDir: this.layout.ipamDir, blockInstanceMetadata: false },
    );
    await this.network
      .gc(sample, [...this.tasks.keys()])
      .catch((error: Error) => this.options.log.warn(`CNI GC: ${error.message}`));
    const held = new Set(
      [...this.tasks.values()].flatMap((t) => (t.record.attachment ? [t.record.attachment.bridgeAddress] : [])),
    );
    await prunePinnedAddresses(held).then(
      (stale) => {
        if (stale.length > 0) this.options.log.info(`unpinned ${stale.join(' ')}: no live task holds them`);
      },
      (error: Error) => this.options.log.warn(`pruning pinned addresses: ${error.message}`),
    );
  }

  // A task dir whose record cannot be read (truncated, hand-edited, of the wrong shape): the
  // record goes aside for a human, and what the netns holds goes back without it: the ENI (found
  // by ecs-eni's alias) to the host and its bridge address to the pool, before the netns goes. A
  // netns whose network could not be given back is kept, and the task stays listed as FAILED.
  private async recoverUnreadable(id: string, why: string): Promise<void> {
    await ensurePrivateDir(this.layout.keptDir);
    const kept = this.layout.keptRecord(id);
    await rename(this.layout.taskFile(id), kept).catch(() => {
      /* no record to keep */
    });
    const name = taskNetnsName(id);
    const path = `${NETNS_RUN_DIR}/${name}`;
    killAllIn(path);
    let outcome = 'nothing of it was left';
    if (await netnsExists(name)) {
      try {
        const mac = await this.network.recover(id, path, this.layout.ipamDir);
        await deleteNetns(name);
        outcome = mac
          ? `its ENI ${mac} and its bridge address were given back`
          : 'it held no ENI; its netns was removed';
      } catch (error) {
        outcome = `its network could not be given back (netns ${name} kept): ${(error as Error).message}`;
      }
    }
    await this.removeTaskDir(id);
    const reason = `task record unreadable (${why}): kept at ${kept}; ${outcome}`;
    await writeFileAtomic(this.layout.keptReason(id), `${reason}\n`).catch(() => {
      /* the log has it */
    });
    this.options.log.error(`task ${id}: ${reason}`, { taskId: id });
    this.gone.markFailed(id, reason);
  }

  // --- shutdown ---

  async shutdown(stopTasks: boolean): Promise<void> {
    this.shuttingDown = true; // a pause that exits now is the next agent's to find
    if (stopTasks) {
      await Promise.allSettled([...this.tasks.keys()].map((id) => this.stop(id, 'agent shut down with its tasks')));
    }
    await Promise.allSettled([...this.tasks.values()].map((t) => t.saving));
  }

  // --- bookkeeping ---

  private track(record: TaskRecord): LiveTask {
    const task: LiveTask = { record, exits: new Map(), abort: new AbortController(), saving: Promise.resolve() };
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
    task.saving = task.saving
      .catch(() => undefined)
      .then(async () => {
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
      throw new AgentError(
        'not-found',
        `task ${summary.id} has no container ${JSON.stringify(container)} (it has ${names.join(', ')})`,
      );
    }
    const out: { container: string; path: string }[] = [];
    for (const name of container ? [container] : names) {
      const path = this.layout.logFile(summary.id, name);
      if (
        await stat(path).then(
          () => true,
          () => false,
        )
      )
        out.push({ container: name, path });
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

const abortable = <T>(task: LiveTask, promise: Promise<T>): Promise<T> =>
  new Promise((resolve, reject) => {
    if (task.abort.signal.aborted) reject(new Error(String(task.abort.signal.reason)));
    task.abort.signal.addEventListener('abort', () => reject(new Error(String(task.abort.signal.reason))), {
      once: true,
    });
    promise.then(resolve, reject);
  });
