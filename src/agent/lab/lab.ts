// The lab: everything tasknet needs to run tasks on a machine with no cloud, built in namespaces
// of its own so the machine's network is never touched:
//   <prefix>-lab  the "host": the agent, ecs-bridge, the endpoint, and the ENIs waiting for tasks
//   <prefix>-vpc  the "VPC": bridge vpc0 with the subnet gateway 10.0.0.1/24; the VPC side of
//                 every ENI is a port of vpc0, so ENIs share the subnet with the gateway
//   ENI i         a veth pair: eni<i> (MAC 0e:74:6e:00:HH:LL, "tn") in <prefix>-lab, handed to a
//                 task as 10.0.0.<10+i>/24 by `run --eni auto`; vpc-eni<i> on vpc0
import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readdir, rm, rmdir } from 'node:fs/promises';
import { batch, createNetns, deleteNetns, netnsExists, NETNS_RUN_DIR } from '../../netlink/index.js';
import { callAgent } from '../daemon/client.js';
import { makeEniSpec } from '../task/eni.js';
import { connectEngine } from '../runtime/engine/client.js';
import { engineLayout, startPrivateEngine, stopPrivateEngine } from '../runtime/engine/daemon.js';
import { ensureLabImages } from '../runtime/engine/images.js';
import type { RuntimeKind } from '../runtime/runtime.js';
import {
  isAlive,
  pidsInNetns,
  processRef,
  signalProcess,
  sleep,
  waitForExit,
  type ProcessRef,
} from '../runtime/process/process-ref.js';
import { ensurePrivateDir, readJson } from '../state/files.js';
import { STATE_ENTRIES, stateLayout, taskNetnsName } from '../state/layout.js';
import type { ChainMode } from '../task/network.js';
import { readLab, writeLab, type Lab } from './lab-file.js';

// A lab that cannot be made or removed as asked; `usage`: the command line was wrong.
export class LabError extends Error {
  override readonly name = 'LabError';
  constructor(
    message: string,
    readonly usage = false,
  ) {
    super(message);
  }
}

export const DEFAULT_LAB_PREFIX = 'tasknet';
export const MAX_ENIS = 200;
const VPC_BRIDGE = 'vpc0';
const SUBNET_BASE = '10.0.0';

export const labNamespaces = (prefix: string): { hostNs: string; vpcNs: string } => ({
  hostNs: `${prefix}-lab`,
  vpcNs: `${prefix}-vpc`,
});

export const validateLabPrefix = (prefix: string): string => {
  if (!/^[a-z0-9][a-z0-9-]{0,30}$/.test(prefix)) {
    throw new LabError(`invalid lab name ${JSON.stringify(prefix)}: 1-31 lower-case letters, digits or "-"`, true);
  }
  return prefix;
};

export const labEniMac = (index: number): string =>
  `0e:74:6e:00:${Math.floor(index / 256)
    .toString(16)
    .padStart(2, '0')}:${(index % 256).toString(16).padStart(2, '0')}`;

export interface LabUpOptions {
  stateDir: string;
  prefix: string;
  enis: number;
  launcher: string; // the tasknet executable the agent runs from
  agentArgs: string[]; // extra `tasknet agent` options
  chain?: ChainMode;
  runtime: RuntimeKind;
  engineSocket?: string; // an engine to use instead of starting one
}

// The lab's runtime unless asked: the engine where dockerd is installed.
export const defaultLabRuntime = (): RuntimeKind =>
  (process.env.PATH ?? '').split(':').some((dir) => dir && existsSync(join(dir, 'dockerd'))) ? 'engine' : 'process';

// Builds the lab and starts the agent inside it; on any failure, removes whatever it made.
export const labUp = async (options: LabUpOptions): Promise<Lab> => {
  const { stateDir, prefix } = options;
  const layout = stateLayout(stateDir);
  const { hostNs, vpcNs } = labNamespaces(prefix);
  if (await readLab(layout.labFile).catch(() => undefined)) {
    throw new LabError(
      `a lab is already up with state dir ${stateDir} (tasknet lab down --state-dir ${stateDir} removes it)`,
    );
  }
  for (const ns of [hostNs, vpcNs]) {
    if (await netnsExists(ns))
      throw new LabError(
        `netns ${ns} already exists: a lab named ${prefix} is up (tasknet lab down --lab ${prefix} removes it)`,
      );
  }
  const lab: Lab = {
    prefix,
    hostNs,
    vpcNs,
    vpcBridge: VPC_BRIDGE,
    subnet: `${SUBNET_BASE}.0/24`,
    gateway: `${SUBNET_BASE}.1`,
    enis: Array.from({ length: options.enis }, (_, i) =>
      makeEniSpec({
        mac: labEniMac(i),
        addresses: [`${SUBNET_BASE}.${10 + i}/24`],
        gateways: [`${SUBNET_BASE}.1`],
        id: `eni-0${prefix.replaceAll('-', '').slice(0, 8)}${i.toString(16).padStart(4, '0')}`,
        privateDnsName: `ip-10-0-0-${10 + i}.${prefix}.internal`,
      }),
    ),
  };
  await ensurePrivateDir(stateDir);
  await writeLab(layout.labFile, lab); // first: `lab down` can then undo a half-built lab
  try {
    await createNetns(hostNs);
    await createNetns(vpcNs);
    await batch(vpcNs)
      .linkSet('lo', { up: true })
      .createBridge({ name: VPC_BRIDGE })
      .addrAdd(VPC_BRIDGE, `${lab.gateway}/24`)
      .linkSet(VPC_BRIDGE, { up: true })
      .run();
    const host = batch(hostNs).linkSet('lo', { up: true });
    const vpc = batch(vpcNs);
    lab.enis.forEach((eni, i) => {
      host.createVeth({ name: `eni${i}`, mac: eni.mac, peerName: `vpc-eni${i}`, peerNetns: vpcNs });
      vpc.linkSet(`vpc-eni${i}`, { master: VPC_BRIDGE, up: true });
    });
    await host.run();
    await vpc.run();
    lab.runtime = options.runtime;
    const agentArgs = [...options.agentArgs, '--runtime', options.runtime];
    if (options.runtime === 'engine') {
      if (options.engineSocket) {
        lab.engine = { socket: options.engineSocket };
      } else {
        // Recorded before it starts: `lab down` then removes a half-started engine too.
        lab.engine = { socket: engineLayout(layout.engineDir).socket, dir: layout.engineDir };
        await writeLab(layout.labFile, lab);
        lab.engine = await startPrivateEngine(layout.engineDir, `${NETNS_RUN_DIR}/${hostNs}`);
      }
      await writeLab(layout.labFile, lab);
      await ensureLabImages(await connectEngine(lab.engine.socket));
      agentArgs.push('--engine-socket', lab.engine.socket);
    }
    const agent = await startLabAgent({ ...options, agentArgs }, hostNs);
    lab.agentPid = agent.pid;
    lab.agentStartTime = agent.startTime;
    await writeLab(layout.labFile, lab);
    return lab;
  } catch (error) {
    await labDown({ stateDir, prefix }).catch(() => {
      /* report the first error */
    });
    throw error;
  }
};

// `tasknet agent` inside the lab's host netns, detached, its output in agent.log.
const startLabAgent = async (options: LabUpOptions, hostNs: string): Promise<ProcessRef> => {
  const layout = stateLayout(options.stateDir);
  const log = openSync(layout.agentLog, 'a', 0o600);
  const args = [
    'agent',
    '--state-dir',
    options.stateDir,
    '--lab-credentials',
    ...(options.chain ? ['--chain', options.chain] : []),
    ...options.agentArgs,
  ];
  const child = spawn(
    'nsenter',
    [`--net=${NETNS_RUN_DIR}/${hostNs}`, '--', process.execPath, options.launcher, ...args],
    {
      env: withoutExtraCaCerts(),
      detached: true,
      stdio: ['ignore', log, log],
    },
  );
  closeSync(log);
  child.unref();
  let exited = false;
  child.on('exit', () => {
    exited = true;
  });
  for (let i = 0; i < 300 && !exited; i++) {
    const health = await callAgent<{ pid: number }>(options.stateDir, 'GET', '/health', undefined, 1000).catch(
      () => undefined,
    );
    if (health?.status === 200) {
      const ref = processRef(health.body.pid);
      if (ref) return ref;
    }
    await sleep(50);
  }
  signalProcess(processRef(child.pid!), 'SIGKILL');
  const tail = readFileSync(layout.agentLog, 'utf8').trim().split('\n').slice(-5).join('\n');
  throw new LabError(`the lab agent did not start${tail ? `:\n${tail}` : ''}`);
};

// The agent makes no TLS connections; the variable only costs start-up time (see bin/tasknet).
const withoutExtraCaCerts = (): NodeJS.ProcessEnv => {
  const env = { ...process.env };
  delete env.NODE_EXTRA_CA_CERTS;
  return env;
};

export interface LabDownReport {
  prefix: string;
  stoppedTasks: number;
  killedProcesses: number;
  removedNetns: string[];
  removedStateDir: boolean;
  stoppedEngine: boolean;
}

// Removes every trace of a lab: its tasks (stopped through the agent when it answers, killed and
// their netns deleted otherwise), the agent, both namespaces (with every link, address and
// iptables rule in them), and the lab's state. Safe to run on a half-built or half-removed lab.
export const labDown = async ({
  stateDir,
  prefix: given,
}: {
  stateDir: string;
  prefix?: string;
}): Promise<LabDownReport> => {
  const layout = stateLayout(stateDir);
  const lab = await readLab(layout.labFile).catch(() => undefined);
  const prefix = lab?.prefix ?? given ?? DEFAULT_LAB_PREFIX;
  const { hostNs, vpcNs } = labNamespaces(prefix);
  const report: LabDownReport = {
    prefix,
    stoppedTasks: 0,
    killedProcesses: 0,
    removedNetns: [],
    removedStateDir: false,
    stoppedEngine: false,
  };
  const ownsState = lab !== undefined; // never touch the state of an agent that is not the lab's

  if (ownsState) {
    const agent = (await readJson(layout.pidFile).catch(() => undefined)) as ProcessRef | undefined;
    if (agent && isAlive(agent)) {
      const before = await callAgent<{ tasks?: unknown[] }>(stateDir, 'GET', '/tasks', undefined, 5000).catch(
        () => undefined,
      );
      report.stoppedTasks = before?.body?.tasks?.length ?? 0;
      const asked = await callAgent(stateDir, 'POST', '/shutdown', { stopTasks: true }, 5000).catch(() => undefined);
      // Containers get their stop timeout (up to 120 s in ECS terms) before SIGKILL.
      if (!asked || !(await waitForExit(agent, 150_000, 50))) signalProcess(agent, 'SIGKILL');
      await waitForExit(agent, 5000, 20);
    }
    // What the agent could not stop: kill everything in each task netns and delete it.
    for (const id of await readdir(layout.tasksDir).catch(() => [] as string[])) {
      if (!/^[0-9a-f]{32}$/.test(id)) continue;
      report.killedProcesses += await killAll(`${NETNS_RUN_DIR}/${taskNetnsName(id)}`);
      if (await deleteNetnsIfThere(taskNetnsName(id))) report.removedNetns.push(taskNetnsName(id));
    }
  }
  // The lab's own engine (never one it was given): stopped, and every trace of it removed.
  if (ownsState && lab.engine?.dir) {
    await stopPrivateEngine(
      lab.engine.dir,
      lab.engine.pid && lab.engine.startTime ? { pid: lab.engine.pid, startTime: lab.engine.startTime } : undefined,
    );
    report.stoppedEngine = true;
  }
  for (const ns of [vpcNs, hostNs]) {
    report.killedProcesses += await killAll(`${NETNS_RUN_DIR}/${ns}`);
    if (await deleteNetnsIfThere(ns)) report.removedNetns.push(ns);
  }
  if (ownsState) {
    for (const entry of STATE_ENTRIES) await rm(`${stateDir}/${entry}`, { recursive: true, force: true });
    report.removedStateDir = await rmdir(stateDir).then(
      () => true,
      () => false,
    );
  }
  for (const ns of [vpcNs, hostNs]) {
    if (await netnsExists(ns)) throw new LabError(`netns ${ns} is still there after lab down`);
  }
  return report;
};

const killAll = async (netnsPath: string): Promise<number> => {
  let killed = 0;
  for (let round = 0; round < 50; round++) {
    const pids = pidsInNetns(netnsPath);
    if (pids.length === 0) break;
    for (const pid of pids) if (signalProcess(processRef(pid), 'SIGKILL')) killed++;
    await sleep(20);
  }
  return killed;
};

const deleteNetnsIfThere = async (name: string): Promise<boolean> => {
  if (!(await netnsExists(name))) return false;
  await deleteNetns(name);
  return true;
};
