// 3. ENI: ecs-eni ADD and DEL against host-device (+ static IPAM, the same address and default
// route), each moving a fake ENI (a veth end with an ENI-like MAC whose peer sits in a "VPC"
// netns holding the gateway) from its test host netns into a fresh task netns and back. Floors in
// the same loop, on our side's runner: `node -e 0` and the kernel floors (lib/floor.ts).
import { join } from 'node:path';
import {
  addNetns,
  delNetns,
  makeEniPair,
  netnsPath,
  startRunner,
  releaseSection,
  tempDir,
  removeDir,
} from '../lib/lab.js';
import { baseEnv, cmd, cniEnv, failureOf, GO_CNI, goEniConf, ourEniConf } from '../lib/cni.js';
import { exec, progress, type Ctx } from '../lib/context.js';
import {
  deriveFloor,
  reportFloors,
  KERNEL_FLOOR_NOTE,
  type KernelFloor,
  recordExec,
  replayFloor,
} from '../lib/floor.js';
import { pairOrder, Recorder } from '../lib/recorder.js';

export async function eni(ctx: Ctx): Promise<Recorder> {
  const rec = new Recorder(
    'eni',
    "3. ENI ADD and DEL, exec'd (ecs-eni vs host-device + static)",
    `per side a test host netns holding a fake ENI (veth, ENI-like MAC, peer in a VPC netns with 10.0.1.1/24); per run a fresh task netns per side; ADD (found by MAC, moved in as eth0, 10.0.1.5/24, default via 10.0.1.1) then DEL (moved back); floors measured in every run by our side's runner, before the pairs, on our side's fake ENI: node -e 0, and the ${KERNEL_FLOOR_NOTE} (ADD moves the ENI into a fresh task netns, DEL moves it back)`,
    ctx.runs,
  );
  const { ourHost, goHost, ourMac, goMac, namespaces } = await makeEniPair('en');
  const ours = await startRunner(ourHost);
  const go = await startRunner(goHost);
  const traceDir = tempDir('en-trace');
  const floorEnv = baseEnv();
  delete floorEnv.NODE_EXTRA_CA_CERTS;
  // One untimed ADD + DEL of ours with every child recorded, in a fresh task netns.
  const record = async (): Promise<{ add: KernelFloor; del: KernelFloor }> => {
    const t = addNetns('en-rec');
    try {
      const env = (command: 'ADD' | 'DEL') =>
        cniEnv({ command, containerId: 'floor-rec', netns: netnsPath(t), ifname: 'eth0', cniPath: ctx.ourBin });
      const names = { host: ourHost, task: t };
      const plugin = join(ctx.ourBin, 'ecs-eni');
      const add = await recordExec(ours, cmd(plugin, env('ADD'), ourEniConf(ourMac)), traceDir);
      const del = await recordExec(ours, cmd(plugin, env('DEL'), ourEniConf(ourMac)), traceDir);
      return { add: deriveFloor(add.spawns, names), del: deriveFloor(del.spawns, names) };
    } finally {
      delNetns(t);
    }
  };
  try {
    for (const n of ['ours ADD', 'ours DEL']) rec.declare(n, 'ours');
    for (const n of ['Go ADD', 'Go DEL']) rec.declare(n, 'go');
    rec.declare('node -e 0 (floor)', 'floor');
    rec.declare('kernel floor ADD', 'floor', 'ms', 'the changes of our ADD as one ip -batch per netns (host, task)');
    rec.declare('kernel floor DEL', 'floor', 'ms', 'the changes of our DEL as one ip -batch per netns (task, host)');
    let floor: { add: KernelFloor; del: KernelFloor } | undefined;
    for (let run = -ctx.warmup; run < ctx.runs; run++) {
      if (run === 0) floor = await record(); // after the warm-up, as the measured runs
      const ourTask = addNetns('en-t');
      const goTask = addNetns('en-t');
      const id = `eni-${run + ctx.warmup}`;
      const env = (command: 'ADD' | 'DEL', netns: string, cniPath: string) =>
        cniEnv({ command, containerId: id, netns: netnsPath(netns), ifname: 'eth0', cniPath });
      const call = async (name: string, side: 'ours' | 'go', c: ReturnType<typeof cmd>) => {
        const r = await exec(side === 'ours' ? ours : go, c);
        if (run >= 0) rec.record(name, side, r.ms, failureOf(r));
      };
      const p = Math.max(0, run);
      const nf = await exec(ours, { file: process.execPath, args: ['-e', '0'], env: floorEnv });
      if (run >= 0) rec.record('node -e 0 (floor)', 'floor', nf.ms, failureOf(nf));
      if (run >= 0 && floor) {
        // Our side's ENI, while it is in its host netns (ours moves it only between ADD and DEL).
        const t = addNetns('en-kf');
        const names = { host: ourHost, task: t };
        const a = await replayFloor(ours, floor.add, names, floorEnv);
        rec.record('kernel floor ADD', 'floor', a.ms, a.failure);
        if (!a.failure) {
          const d = await replayFloor(ours, floor.del, names, floorEnv);
          rec.record('kernel floor DEL', 'floor', d.ms, d.failure);
        }
        delNetns(t);
      }
      for (const s of pairOrder(p, [
        () =>
          call(
            'ours ADD',
            'ours',
            cmd(join(ctx.ourBin, 'ecs-eni'), env('ADD', ourTask, ctx.ourBin), ourEniConf(ourMac)),
          ),
        () => call('Go ADD', 'go', cmd(join(GO_CNI, 'host-device'), env('ADD', goTask, GO_CNI), goEniConf(goMac))),
      ]))
        await s();
      for (const s of pairOrder(p, [
        () =>
          call(
            'ours DEL',
            'ours',
            cmd(join(ctx.ourBin, 'ecs-eni'), env('DEL', ourTask, ctx.ourBin), ourEniConf(ourMac)),
          ),
        () => call('Go DEL', 'go', cmd(join(GO_CNI, 'host-device'), env('DEL', goTask, GO_CNI), goEniConf(goMac))),
      ]))
        await s();
      delNetns(ourTask);
      delNetns(goTask);
      if (run >= 0) progress(ctx, 'eni', run, ctx.runs);
    }
    if (floor) {
      await reportFloors(
        rec,
        'Kernel floors: the lines replayed (recorded from our own ADD and DEL in this run; `{host}`/`{task}` are the netns files; reads such as `ip -j link show` left out)',
        'ecs-eni',
        floor,
        record,
      );
    }
    const nodeFloor = rec.median('node -e 0 (floor)');
    const overFloor = (m: number[]) => (m[0]! - m[1]!) / m[2]!;
    const alone = (m: number[]) => (m[0]! - m[1]! - m[2]!) / m[3]!;
    rec.ratioOf('ours ADD / Go ADD', ['ours ADD', 'Go ADD']);
    rec.ratioOf('ours DEL / Go DEL', ['ours DEL', 'Go DEL']);
    for (const v of ['ADD', 'DEL'] as const) {
      rec.ratioOf(
        `(ours ${v} - node -e 0) / Go ${v}`,
        [`ours ${v}`, 'node -e 0 (floor)', `Go ${v}`],
        overFloor,
        v === 'ADD' ? 'what we add on top of the Node floor, in Go ADDs' : undefined,
      );
      rec.ratioOf(
        `(ours ${v} - node -e 0 - kernel floor ${v}) / Go ${v}`,
        [`ours ${v}`, 'node -e 0 (floor)', `kernel floor ${v}`, `Go ${v}`],
        alone,
        'the part that is ours alone',
      );
    }
    for (const v of ['ADD', 'DEL'] as const) {
      const o = rec.median(`ours ${v}`);
      const g = rec.median(`Go ${v}`);
      rec.targetOf(
        `eni:${v.toLowerCase()}`,
        `exec'd ENI ${v}: (ours - node -e 0) <= 1.0x Go ${v}`,
        `(${o.toFixed(1)} - ${nodeFloor.toFixed(1)}) ms / ${g.toFixed(1)} ms; plain ratio ${(o / g).toFixed(2)}x`,
        [`ours ${v}`, 'node -e 0 (floor)', `Go ${v}`],
        overFloor,
        1.0,
      );
    }
  } finally {
    await releaseSection([ours, go], namespaces);
    removeDir(traceDir);
  }
  return rec;
}
