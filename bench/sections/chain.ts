// 2. Chain ADD and DEL exec'd as a runtime would: ecs-bridge (+ ecs-ipam, in-process behind it)
// against bridge + host-local (exec'd by bridge). Each side has its own test host netns and agent;
// every run gets a fresh task netns per side; a `node -e 0` floor is measured in the same loop.
import { join } from 'node:path';
import { addNetns, delNetns, netnsPath, startRunner, tempDir, removeDir } from '../lib/lab.js';
import { baseEnv, cmd, cniEnv, failureOf, GO_CNI, goBridgeConf, ourBridgeConf } from '../lib/cni.js';
import { exec, progress, type Ctx } from '../lib/context.js';
import { pairOrder, Recorder } from '../lib/recorder.js';

export async function chain(ctx: Ctx): Promise<Recorder> {
  const rec = new Recorder(
    'chain',
    "2. Chain ADD and DEL, exec'd (ecs-bridge + ecs-ipam vs bridge + host-local)",
    'one test host netns and exec runner per side; per run a fresh task netns per side; ADD then DEL, CNI_IFNAME ecs-eth0, subnet 169.254.172.0/22, /32 route to 169.254.170.2; order of the pair flips every run',
    ctx.runs,
  );
  const ourHost = addNetns('ch-ours');
  const goHost = addNetns('ch-go');
  const ours = await startRunner(ourHost);
  const go = await startRunner(goHost);
  const ourData = tempDir('ch-ours');
  const goData = tempDir('ch-go');
  const floorEnv = baseEnv();
  delete floorEnv.NODE_EXTRA_CA_CERTS;
  try {
    for (const n of ['ours ADD', 'ours DEL']) rec.declare(n, 'ours');
    for (const n of ['Go ADD', 'Go DEL']) rec.declare(n, 'go');
    rec.declare('node -e 0 (floor)', 'floor');
    for (let run = -ctx.warmup; run < ctx.runs; run++) {
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
      for (const s of pairOrder(p, [steps.oursAdd, steps.goAdd])) await s();
      for (const s of pairOrder(p, [steps.oursDel, steps.goDel])) await s();
      delNetns(ourTask);
      delNetns(goTask);
      if (run >= 0) progress(ctx, 'chain', run, ctx.runs);
    }
    const floor = rec.median('node -e 0 (floor)');
    const oa = rec.median('ours ADD');
    const ga = rec.median('Go ADD');
    rec.ratioOf('ours ADD / Go ADD', ['ours ADD', 'Go ADD']);
    rec.ratioOf('ours DEL / Go DEL', ['ours DEL', 'Go DEL']);
    const overFloor = (m: number[]) => (m[0]! - m[1]!) / m[2]!;
    rec.ratioOf(
      '(ours ADD - node -e 0) / Go ADD',
      ['ours ADD', 'node -e 0 (floor)', 'Go ADD'],
      overFloor,
      'what we add on top of the Node floor, in Go ADDs',
    );
    rec.ratioOf('(ours DEL - node -e 0) / Go DEL', ['ours DEL', 'node -e 0 (floor)', 'Go DEL'], overFloor);
    rec.targetOf(
      'chain:add',
      "exec'd chain ADD: (ours - node -e 0) <= 1.0x Go ADD",
      `(${oa.toFixed(1)} - ${floor.toFixed(1)}) ms / ${ga.toFixed(1)} ms; plain ratio ${(oa / ga).toFixed(2)}x`,
      ['ours ADD', 'node -e 0 (floor)', 'Go ADD'],
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
  }
  return rec;
}
