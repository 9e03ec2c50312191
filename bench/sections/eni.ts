// 3. ENI: ecs-eni ADD and DEL against host-device (+ static IPAM, the same address and default
// route), each moving a fake ENI (a veth end with an ENI-like MAC whose peer sits in a "VPC"
// netns holding the gateway) from its test host netns into a fresh task netns and back.
import { join } from 'node:path';
import { addNetns, delNetns, makeEniPair, netnsPath, startRunner, releaseSection } from '../lib/lab.js';
import { cmd, cniEnv, failureOf, GO_CNI, goEniConf, ourEniConf } from '../lib/cni.js';
import { exec, progress, type Ctx } from '../lib/context.js';
import { pairOrder, Recorder } from '../lib/recorder.js';

export async function eni(ctx: Ctx): Promise<Recorder> {
  const rec = new Recorder(
    'eni',
    "3. ENI ADD and DEL, exec'd (ecs-eni vs host-device + static)",
    'per side a test host netns holding a fake ENI (veth, ENI-like MAC, peer in a VPC netns with 10.0.1.1/24); per run a fresh task netns per side; ADD (found by MAC, moved in as eth0, 10.0.1.5/24, default via 10.0.1.1) then DEL (moved back)',
    ctx.runs,
  );
  const { ourHost, goHost, ourMac, goMac, namespaces } = await makeEniPair('en');
  const ours = await startRunner(ourHost);
  const go = await startRunner(goHost);
  try {
    for (const n of ['ours ADD', 'ours DEL']) rec.declare(n, 'ours');
    for (const n of ['Go ADD', 'Go DEL']) rec.declare(n, 'go');
    for (let run = -ctx.warmup; run < ctx.runs; run++) {
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
    rec.ratioOf('ours ADD / Go ADD', ['ours ADD', 'Go ADD']);
    rec.ratioOf('ours DEL / Go DEL', ['ours DEL', 'Go DEL']);
  } finally {
    await releaseSection([ours, go], namespaces);
  }
  return rec;
}
