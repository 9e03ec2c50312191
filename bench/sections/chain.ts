// 2. Chain ADD and DEL exec'd as a runtime would: ecs-bridge (+ ecs-ipam, in-process behind it)
// against bridge + host-local (exec'd by bridge). Each side has its own test host netns and agent;
// every run gets a fresh task netns per side; a `node -e 0` floor and the kernel floors of ADD and
// DEL (lib/floor.ts: the changes our ADD/DEL make, as one `ip -batch` per netns) are measured in
// the same loop.
import { join } from 'node:path';
import { addNetns, delNetns, ipIn, netnsPath, startRunner, tempDir, removeDir } from '../lib/lab.js';
import { baseEnv, cmd, cniEnv, failureOf, GO_CNI, goBridgeConf, ourBridgeConf } from '../lib/cni.js';
import { exec, progress, type Ctx } from '../lib/context.js';
import {
  createsBridge,
  deriveFloor,
  reportFloors,
  KERNEL_FLOOR_NOTE,
  type KernelFloor,
  recordExec,
  replayFloor,
} from '../lib/floor.js';
import { pairOrder, Recorder } from '../lib/recorder.js';

export async function chain(ctx: Ctx): Promise<Recorder> {
  const rec = new Recorder(
    'chain',
    "2. Chain ADD and DEL, exec'd (ecs-bridge + ecs-ipam vs bridge + host-local)",
    `one test host netns and exec runner per side; per run a fresh task netns per side; ADD then DEL, CNI_IFNAME ecs-eth0, subnet 169.254.172.0/22, /32 route to 169.254.170.2; order of the pair flips every run; floors measured in every run by our side's runner: node -e 0, and the ${KERNEL_FLOOR_NOTE} (ADD, then DEL on the state that ADD left, in a fresh task netns; the bridge already exists, as for every measured ADD)`,
    ctx.runs,
  );
  const ourHost = addNetns('ch-ours');
  const goHost = addNetns('ch-go');
  const ours = await startRunner(ourHost);
  const go = await startRunner(goHost);
  const ourData = tempDir('ch-ours');
  const goData = tempDir('ch-go');
  const traceDir = tempDir('ch-trace');
  const floorEnv = baseEnv();
  delete floorEnv.NODE_EXTRA_CA_CERTS;
  // One untimed ADD + DEL of ours with every child recorded, in a fresh task netns.
  const record = async (): Promise<{ add: KernelFloor; del: KernelFloor }> => {
    const t = addNetns('ch-rec');
    try {
      const env = (command: 'ADD' | 'DEL') =>
        cniEnv({ command, containerId: 'floor-rec', netns: netnsPath(t), ifname: 'ecs-eth0', cniPath: ctx.ourBin });
      const conf = ourBridgeConf(ourData);
      const names = { host: ourHost, task: t };
      const add = await recordExec(ours, cmd(join(ctx.ourBin, 'ecs-bridge'), env('ADD'), conf), traceDir);
      const del = await recordExec(ours, cmd(join(ctx.ourBin, 'ecs-bridge'), env('DEL'), conf), traceDir);
      return { add: deriveFloor(add.spawns, names), del: deriveFloor(del.spawns, names) };
    } finally {
      delNetns(t);
    }
  };
  const bridgeIndex = async (): Promise<number | undefined> =>
    (JSON.parse((await ipIn(ourHost, ['-j', 'link', 'show', 'dev', 'ecs-br0'])).stdout) as { ifindex: number }[])[0]
      ?.ifindex;
  try {
    for (const n of ['ours ADD', 'ours DEL']) rec.declare(n, 'ours');
    for (const n of ['Go ADD', 'Go DEL']) rec.declare(n, 'go');
    rec.declare('node -e 0 (floor)', 'floor');
    rec.declare('kernel floor ADD', 'floor', 'ms', 'the changes of our ADD as one ip -batch per netns (host, task)');
    rec.declare('kernel floor DEL', 'floor', 'ms', 'the changes of our DEL as one ip -batch per netns');
    let floor: { add: KernelFloor; del: KernelFloor } | undefined;
    let bridge0: number | undefined;
    for (let run = -ctx.warmup; run < ctx.runs; run++) {
      if (run === 0) {
        // After the warm-up: the state every measured ADD sees. Should the recording itself have
        // made the bridge (no warm-up), record again: the measured ADDs will not make it.
        floor = await record();
        if (createsBridge(floor.add)) floor = await record();
        bridge0 = await bridgeIndex();
      }
      const ourTask = addNetns('ch-t');
      const goTask = addNetns('ch-t');
      const id = `bench-${run + ctx.warmup}`;
      const env = (command: 'ADD' | 'DEL', netns: string, cniPath: string) =>
        cniEnv({ command, containerId: id, netns: netnsPath(netns), ifname: 'ecs-eth0', cniPath });
      const steps = {
        floor: async () => {
          const r = await exec(ours, { file: process.execPath, args: ['-e', '0'], env: floorEnv });
          if (run >= 0) rec.record('node -e 0 (floor)', 'floor', r.ms, failureOf(r));
        },
        kernel: async () => {
          if (!floor) return;
          const t = addNetns('ch-kf');
          const names = { host: ourHost, task: t };
          const a = await replayFloor(ours, floor.add, names, floorEnv);
          rec.record('kernel floor ADD', 'floor', a.ms, a.failure);
          if (!a.failure) {
            const d = await replayFloor(ours, floor.del, names, floorEnv);
            rec.record('kernel floor DEL', 'floor', d.ms, d.failure);
          }
          delNetns(t);
        },
        oursAdd: async () => {
          const r = await exec(
            ours,
            cmd(join(ctx.ourBin, 'ecs-bridge'), env('ADD', ourTask, ctx.ourBin), ourBridgeConf(ourData)),
          );
          if (run >= 0) rec.record('ours ADD', 'ours', r.ms, failureOf(r));
        },
        goAdd: async () => {
          const r = await exec(go, cmd(join(GO_CNI, 'bridge'), env('ADD', goTask, GO_CNI), goBridgeConf(goData)));
          if (run >= 0) rec.record('Go ADD', 'go', r.ms, failureOf(r));
        },
        oursDel: async () => {
          const r = await exec(
            ours,
            cmd(join(ctx.ourBin, 'ecs-bridge'), env('DEL', ourTask, ctx.ourBin), ourBridgeConf(ourData)),
          );
          if (run >= 0) rec.record('ours DEL', 'ours', r.ms, failureOf(r));
        },
        goDel: async () => {
          const r = await exec(go, cmd(join(GO_CNI, 'bridge'), env('DEL', goTask, GO_CNI), goBridgeConf(goData)));
          if (run >= 0) rec.record('Go DEL', 'go', r.ms, failureOf(r));
        },
      };
      const p = Math.max(0, run);
      await steps.floor();
      if (run >= 0) await steps.kernel();
      for (const s of pairOrder(p, [steps.oursAdd, steps.goAdd])) await s();
      for (const s of pairOrder(p, [steps.oursDel, steps.goDel])) await s();
      delNetns(ourTask);
      delNetns(goTask);
      if (run >= 0) progress(ctx, 'chain', run, ctx.runs);
    }
    if (floor) {
      await reportFloors(
        rec,
        'Kernel floors: the lines replayed (recorded from our own ADD and DEL in this run; `{host}`/`{task}` are the netns files; reads such as `ip -j link show` left out)',
        'ecs-bridge',
        floor,
        record,
      );
      const bridge1 = await bridgeIndex();
      rec.note(
        bridge0 !== undefined && bridge0 === bridge1
          ? `ecs-br0 existed before the first measured ADD and was never re-created (same ifindex ${bridge0} at the end), so no measured ADD made the bridge and neither does the ADD floor.`
          : `ecs-br0 changed during the measured runs (ifindex ${bridge0} -> ${bridge1}): some measured ADD re-created it, the ADD floor does not.`,
      );
    }
    const nodeFloor = rec.median('node -e 0 (floor)');
    const oa = rec.median('ours ADD');
    const ga = rec.median('Go ADD');
    const od = rec.median('ours DEL');
    const gd = rec.median('Go DEL');
    rec.ratioOf('ours ADD / Go ADD', ['ours ADD', 'Go ADD']);
    rec.ratioOf('ours DEL / Go DEL', ['ours DEL', 'Go DEL']);
    const overFloor = (m: number[]) => (m[0]! - m[1]!) / m[2]!;
    const alone = (m: number[]) => (m[0]! - m[1]! - m[2]!) / m[3]!;
    rec.ratioOf(
      '(ours ADD - node -e 0) / Go ADD',
      ['ours ADD', 'node -e 0 (floor)', 'Go ADD'],
      overFloor,
      'what we add on top of the Node floor, in Go ADDs',
    );
    rec.ratioOf('(ours DEL - node -e 0) / Go DEL', ['ours DEL', 'node -e 0 (floor)', 'Go DEL'], overFloor);
    rec.ratioOf(
      '(ours ADD - node -e 0 - kernel floor ADD) / Go ADD',
      ['ours ADD', 'node -e 0 (floor)', 'kernel floor ADD', 'Go ADD'],
      alone,
      'the part that is ours alone',
    );
    rec.ratioOf(
      '(ours DEL - node -e 0 - kernel floor DEL) / Go DEL',
      ['ours DEL', 'node -e 0 (floor)', 'kernel floor DEL', 'Go DEL'],
      alone,
      'the part that is ours alone',
    );
    rec.targetOf(
      'chain:add',
      "exec'd chain ADD: (ours - node -e 0) <= 1.0x Go ADD",
      `(${oa.toFixed(1)} - ${nodeFloor.toFixed(1)}) ms / ${ga.toFixed(1)} ms; plain ratio ${(oa / ga).toFixed(2)}x`,
      ['ours ADD', 'node -e 0 (floor)', 'Go ADD'],
      overFloor,
      1.0,
    );
    rec.targetOf(
      'chain:del',
      "exec'd chain DEL: (ours - node -e 0) <= 1.0x Go DEL",
      `(${od.toFixed(1)} - ${nodeFloor.toFixed(1)}) ms / ${gd.toFixed(1)} ms; plain ratio ${(od / gd).toFixed(2)}x`,
      ['ours DEL', 'node -e 0 (floor)', 'Go DEL'],
      overFloor,
      1.0,
    );
  } finally {
    await ours.close();
    await go.close();
    delNetns(ourHost);
    delNetns(goHost);
    removeDir(ourData);
    removeDir(goData);
    removeDir(traceDir);
  }
  return rec;
}
