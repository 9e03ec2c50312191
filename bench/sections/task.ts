// 4. A whole task's network, as the agent runs it (src/agent/task/network.ts's TaskNetwork): the
// ENI list on eth0 and the bridge list on ecs-eth0 at once, through src/cni/runtime.ts's CniRuntime (result cache
// and all). Ours in-process (invoke hook: skel.runPlugin, our netns as host) and exec'd (CNI_PATH
// = our bin/), against the Go chain host-device(+static) and bridge(+host-local) exec'd through
// the same CniRuntime with CNI_PATH=/usr/lib/cni.
import { join } from 'node:path';
import {
  addNetns,
  type Agent,
  delNetns,
  makeEniPair,
  netnsPath,
  startAgent,
  startRunner,
  tempDir,
  releaseSection,
} from '../lib/lab.js';
import {
  baseEnv,
  cmd,
  cniEnv,
  failureOf,
  GO_CNI,
  goBridgeConf,
  goEniConf,
  goTaskLists,
  ourTaskLists,
} from '../lib/cni.js';
import { exec, progress, type Ctx } from '../lib/context.js';
import {
  createsBridge,
  deriveFloor,
  reportFloors,
  KERNEL_FLOOR_NOTE,
  type KernelFloor,
  replayFloor,
} from '../lib/floor.js';
import { callKey, classifyTrace } from '../lib/ipcount.js';
import { pairOrder, Recorder } from '../lib/recorder.js';
import type { ChainMode, ChainResult, IpTrace } from '../lib/protocol.js';

export interface ChainSide {
  agent: Agent;
  mode: ChainMode;
  cniPath: string[];
  cacheDir: string;
  lists: { eniList: string; bridgeList: string };
}

export const chainCall = (
  s: ChainSide,
  action: 'add' | 'del',
  containerId: string,
  netns: string,
  trace = false,
  cpuProfile?: string,
): Promise<ChainResult> =>
  s.agent.request<ChainResult>({
    op: 'chain',
    action,
    mode: s.mode,
    cniPath: s.cniPath,
    cacheDir: s.cacheDir,
    eniList: s.lists.eniList,
    bridgeList: s.lists.bridgeList,
    containerId,
    netns: netnsPath(netns),
    trace,
    ...(cpuProfile ? { cpuProfile } : {}),
  });

// Per-verb time of the traced `ip` processes of one operation.
export const ipTime = (
  trace: IpTrace[] | undefined,
): { total: number; sync: number; count: number; byVerb: Record<string, { n: number; ms: number }> } => {
  const byVerb: Record<string, { n: number; ms: number }> = {};
  let total = 0;
  let sync = 0;
  let count = 0;
  for (const t of trace ?? []) {
    const c = classifyTrace(t);
    const key = c ? callKey(c) : t.argv.slice(0, 2).join(' ');
    byVerb[key] ??= { n: 0, ms: 0 };
    byVerb[key].n++;
    byVerb[key].ms += t.ms;
    total += t.ms;
    sync += t.syncMs;
    count++;
  }
  return { total, sync, count, byVerb };
};

export async function task(ctx: Ctx): Promise<Recorder> {
  const rec = new Recorder(
    'task',
    "4. A whole task's network (ENI list + bridge list through CniRuntime)",
    `per side a test host netns with a fake ENI and its bench agent; ADD = ENI list on eth0 and bridge list on ecs-eth0 at once, DEL both at once, through the agent's TaskNetwork for both sides (src/agent/task/network.ts), result cache written/read by CniRuntime; per variant and run a fresh task netns; the three variants rotate; in every run, first, the ${KERNEL_FLOOR_NOTE}, here of the whole task (both lists' changes, recorded from one untimed in-process ADD and DEL), run by a vfork runner in our host netns on our fake ENI and bridge: one batch per netns holding both lists' changes, so sequential where the agent runs the lists at once (ADD: host, then task; DEL: task, then host, since each netns's batch needs the other's done)`,
    ctx.runs,
  );
  const { ourHost, goHost, ourMac, goMac, namespaces } = await makeEniPair('tk');
  const oursAgent = await startAgent(ourHost);
  const nodeSpawnAgent = await startAgent(ourHost, { ...process.env, BENCH_NODE_SPAWN: '1' });
  const goAgent = await startAgent(goHost);
  const goRunner = await startRunner(goHost);
  const ourRunner = await startRunner(ourHost); // the kernel floor's
  const floorEnv = baseEnv();
  delete floorEnv.NODE_EXTRA_CA_CERTS;
  const dirs = ['tk-ipam-ours', 'tk-cache-ip', 'tk-cache-ex', 'tk-ipam-go', 'tk-cache-go', 'tk-cache-ns'].map(tempDir);
  const [ourIpam, cacheIp, cacheEx, goIpam, cacheGo, cacheNs] = dirs as [
    string,
    string,
    string,
    string,
    string,
    string,
  ];
  const sides: Record<string, ChainSide & { side: 'ours' | 'go' }> = {
    'ours in-process': {
      side: 'ours',
      agent: oursAgent,
      mode: 'in-process',
      cniPath: [ctx.ourBin],
      cacheDir: cacheIp,
      lists: ourTaskLists(ourMac, ourIpam),
    },
    // The same, in an agent whose `ip` children Node's spawn() forks (no spawn server).
    "ours in-process, Node's spawn": {
      side: 'ours',
      agent: nodeSpawnAgent,
      mode: 'in-process',
      cniPath: [ctx.ourBin],
      cacheDir: cacheNs,
      lists: ourTaskLists(ourMac, ourIpam),
    },
    "Go exec'd": {
      side: 'go',
      agent: goAgent,
      mode: 'exec',
      cniPath: [GO_CNI],
      cacheDir: cacheGo,
      lists: goTaskLists(goMac, goIpam),
    },
    "ours exec'd": {
      side: 'ours',
      agent: oursAgent,
      mode: 'exec',
      cniPath: [ctx.ourBin],
      cacheDir: cacheEx,
      lists: ourTaskLists(ourMac, ourIpam),
    },
  };
  const ipInproc: number[] = [];
  const ipCountInproc: number[] = [];
  try {
    for (const [name, s] of Object.entries(sides)) {
      rec.declare(`${name} ADD`, s.side);
      rec.declare(`${name} DEL`, s.side);
    }
    const RUNNER = "Go exec'd by the vfork runner (no CniRuntime)";
    rec.declare(
      `${RUNNER} ADD`,
      'go',
      'ms',
      "host-device then bridge, each exec'd by the python runner; no result cache",
    );
    rec.declare(`${RUNNER} DEL`, 'go');
    // The Go chain as a Go runtime would exec it: no Node parent forking per plugin, no cache.
    const goByRunner = async (run: number): Promise<void> => {
      const netns = addNetns('tk-t');
      const id = `taskr-${run + ctx.warmup}`;
      const env = (command: 'ADD' | 'DEL', ifname: string) =>
        cniEnv({ command, containerId: id, netns: netnsPath(netns), ifname, cniPath: GO_CNI });
      const eniCall = (command: 'ADD' | 'DEL') =>
        exec(goRunner, cmd(join(GO_CNI, 'host-device'), env(command, 'eth0'), goEniConf(goMac)));
      const bridgeCall = (command: 'ADD' | 'DEL') =>
        exec(goRunner, cmd(join(GO_CNI, 'bridge'), env(command, 'ecs-eth0'), goBridgeConf(goIpam)));
      const a1 = await eniCall('ADD');
      const a2 = await bridgeCall('ADD');
      const d1 = await bridgeCall('DEL');
      const d2 = await eniCall('DEL');
      delNetns(netns);
      if (run < 0) return;
      rec.record(`${RUNNER} ADD`, 'go', a1.ms + a2.ms, failureOf(a1) ?? failureOf(a2));
      rec.record(`${RUNNER} DEL`, 'go', d1.ms + d2.ms, failureOf(d1) ?? failureOf(d2));
    };
    rec.declare(
      'kernel floor ADD',
      'floor',
      'ms',
      "the whole task's changes: one ip -batch in the host netns, then one in the task's",
    );
    rec.declare('kernel floor DEL', 'floor', 'ms', 'one ip -batch in the task netns, then one in the host netns');
    // One untimed in-process ADD + DEL of the whole task with every child recorded.
    const inprocSide = sides['ours in-process']!;
    const record = async (): Promise<{ add: KernelFloor; del: KernelFloor }> => {
      const t = addNetns('tk-rec');
      try {
        const names = { host: ourHost, task: t };
        const add = await chainCall(inprocSide, 'add', 'floor-rec', t, true);
        const del = await chainCall(inprocSide, 'del', 'floor-rec', t, true);
        if (!add.ok || !del.ok) throw new Error(`kernel floor: the recorded task failed: ${add.error ?? del.error}`);
        return { add: deriveFloor(add.trace ?? [], names), del: deriveFloor(del.trace ?? [], names) };
      } finally {
        delNetns(t);
      }
    };
    let floor: { add: KernelFloor; del: KernelFloor } | undefined;
    for (let run = -ctx.warmup; run < ctx.runs; run++) {
      if (run === 0) {
        floor = await record(); // after the warm-up: the bridge exists, as for every measured ADD
        if (createsBridge(floor.add)) floor = await record();
      }
      if (run >= 0 && floor) {
        const t = addNetns('tk-kf');
        const names = { host: ourHost, task: t };
        const a = await replayFloor(ourRunner, floor.add, names, floorEnv);
        rec.record('kernel floor ADD', 'floor', a.ms, a.failure);
        if (!a.failure) {
          const d = await replayFloor(ourRunner, floor.del, names, floorEnv);
          rec.record('kernel floor DEL', 'floor', d.ms, d.failure);
        }
        delNetns(t);
      }
      for (const [name, s] of pairOrder(Math.max(0, run), Object.entries(sides))) {
        const netns = addNetns('tk-t');
        const id = `task-${run + ctx.warmup}`;
        const add = await chainCall(s, 'add', id, netns, s.mode === 'in-process');
        const del = await chainCall(s, 'del', id, netns);
        delNetns(netns);
        if (run < 0) continue;
        rec.record(`${name} ADD`, s.side, add.ms, add.ok ? undefined : add.error);
        rec.record(`${name} DEL`, s.side, del.ms, del.ok ? undefined : del.error);
        if (name === 'ours in-process' && add.ok) {
          const t = ipTime(add.trace);
          ipInproc.push(t.total);
          ipCountInproc.push(add.ipCalls);
        }
      }
      await goByRunner(run);
      if (run >= 0) progress(ctx, 'task', run, ctx.runs);
    }
    const go = rec.median("Go exec'd ADD");
    const inproc = rec.median('ours in-process ADD');
    rec.ratioOf("ours in-process ADD / Go exec'd ADD", ['ours in-process ADD', "Go exec'd ADD"]);
    rec.ratioOf(
      "ours in-process ADD / ours in-process, Node's spawn ADD",
      ['ours in-process ADD', "ours in-process, Node's spawn ADD"],
      undefined,
      "what the agent's spawn server (src/netlink/spawn-server.ts) gives a task's ADD",
    );
    rec.ratioOf("ours in-process DEL / ours in-process, Node's spawn DEL", [
      'ours in-process DEL',
      "ours in-process, Node's spawn DEL",
    ]);
    rec.ratioOf("ours exec'd ADD / Go exec'd ADD", ["ours exec'd ADD", "Go exec'd ADD"]);
    rec.ratioOf("ours in-process DEL / Go exec'd DEL", ['ours in-process DEL', "Go exec'd DEL"]);
    rec.ratioOf("ours exec'd DEL / Go exec'd DEL", ["ours exec'd DEL", "Go exec'd DEL"]);
    rec.note(
      "The exec'd variants are spawned by the Node bench agent through CniRuntime.execPlugin, as the agent's exec mode does; Node 20 spawns with fork(), which blocks the parent a few ms per child and grows with its memory (see section 9): that cost is in both exec'd columns, ours and Go's, and in the in-process column for every `ip` child.",
    );
    rec.ratioOf(
      `ours in-process ADD / ${RUNNER} ADD`,
      ['ours in-process ADD', `${RUNNER} ADD`],
      undefined,
      "the Go chain without the Node runtime's fork per plugin",
    );
    rec.targetOf(
      'task:inproc',
      'whole task in-process ADD <= 0.5x Go exec chain ADD',
      `${inproc.toFixed(1)} ms / ${go.toFixed(1)} ms`,
      ['ours in-process ADD', "Go exec'd ADD"],
      (m) => m[0]! / m[1]!,
      0.5,
    );
    rec.targetOf(
      'task:floor',
      'agent task network (ours in-process ADD) <= 1.2x kernel floor ADD',
      `${inproc.toFixed(1)} ms / ${rec.median('kernel floor ADD').toFixed(1)} ms`,
      ['ours in-process ADD', 'kernel floor ADD'],
      (m) => m[0]! / m[1]!,
      1.2,
    );
    rec.ratioOf('ours in-process DEL / kernel floor DEL', ['ours in-process DEL', 'kernel floor DEL']);
    rec.note(
      "The kernel floor of the whole task runs its two batches one after the other (one per netns, each holding both lists' changes, and the task's needs the host's done, or for DEL the other way round); the agent runs the ENI list and the bridge list at once, so the kernel's waits of the two (moving the ENI between namespaces, deleting the veth: both wait for RCU grace periods) can overlap, and ours can come near this floor or under it, DEL especially.",
    );
    if (floor) {
      await reportFloors(
        rec,
        'Kernel floors of the whole task: the lines replayed (recorded from our own in-process ADD and DEL in this run, both lists; `{host}`/`{task}` are the netns files; reads left out)',
        'task',
        floor,
        record,
      );
    }
    for (const v of ipInproc) rec.add('ours in-process ADD: time in `ip` processes', 'info', v);
    for (const v of ipCountInproc) rec.add('ours in-process ADD: `ip` processes', 'info', v, 'count');
  } finally {
    await releaseSection([oursAgent, nodeSpawnAgent, goAgent, goRunner, ourRunner], namespaces, dirs);
  }
  return rec;
}
