// 1. Start-up: CNI_COMMAND=VERSION of every executable against `node -e 0` (the floor of any Node
// executable) and a Go plugin's VERSION, with NODE_EXTRA_CA_CERTS set (as this machine sets it)
// and unset; plus `node dist/ecs-ipam.cjs` and `node bin/ecs-ipam` to split the launcher's cost
// (env exec + launcher file) from the bundle's.
import { join } from 'node:path';
import { addNetns, delNetns, startRunner } from '../lib/lab.js';
import { baseEnv, GO_CNI } from '../lib/cni.js';
import { exec, progress, type Ctx } from '../lib/context.js';
import { pairOrder, Recorder, type Side } from '../lib/recorder.js';
import type { Cmd } from '../lib/protocol.js';

export const OUR_EXECUTABLES = ['ecs-eni', 'ecs-bridge', 'ecs-ipam', 'tasknet'] as const;

export async function startup(ctx: Ctx): Promise<Recorder> {
  // Twice the runs of the other sections: a run is cheap here, and the differences are a few ms.
  const runs = ctx.runs * 2;
  const rec = new Recorder(
    'startup',
    '1. Start-up (CNI_COMMAND=VERSION)',
    'each executable exec\'d by the exec runner (a stand-in runtime in a throwaway netns) with CNI_COMMAND=VERSION and {"cniVersion":"1.0.0"} on stdin; time from spawn to close; twice --runs, the 13 cases rotating in each run',
    runs,
  );
  const host = addNetns('su-host');
  const agent = await startRunner(host);
  try {
    const withCa = { ...baseEnv(), NODE_EXTRA_CA_CERTS: ctx.caFile };
    const noCa = baseEnv();
    delete noCa.NODE_EXTRA_CA_CERTS;
    const version = (env: Record<string, string>) => ({ ...env, CNI_COMMAND: 'VERSION' });
    const input = JSON.stringify({ cniVersion: '1.0.0' });
    const variants: { name: string; side: Side; cmd: Cmd; check: boolean }[] = [
      {
        name: 'node -e 0 (CA unset)',
        side: 'floor',
        cmd: { file: process.execPath, args: ['-e', '0'], env: noCa, input },
        check: false,
      },
      {
        name: 'node -e 0 (CA set)',
        side: 'floor',
        cmd: { file: process.execPath, args: ['-e', '0'], env: withCa, input },
        check: false,
      },
      {
        name: 'Go bridge VERSION',
        side: 'go',
        cmd: { file: join(GO_CNI, 'bridge'), env: version(noCa), input },
        check: true,
      },
      ...OUR_EXECUTABLES.flatMap((p) => [
        {
          name: `${p} VERSION (CA set)`,
          side: 'ours' as Side,
          cmd: { file: join(ctx.ourBin, p), env: version(withCa), input },
          check: true,
        },
        {
          name: `${p} VERSION (CA unset)`,
          side: 'ours' as Side,
          cmd: { file: join(ctx.ourBin, p), env: version(noCa), input },
          check: true,
        },
      ]),
      {
        name: 'node bin/ecs-ipam VERSION (no env exec)',
        side: 'info',
        cmd: { file: process.execPath, args: [join(ctx.ourBin, 'ecs-ipam')], env: version(noCa), input },
        check: true,
      },
      {
        name: 'node dist/ecs-ipam.cjs VERSION (bundle only)',
        side: 'info',
        cmd: { file: process.execPath, args: [join(ctx.ourDist, 'ecs-ipam.cjs')], env: version(noCa), input },
        check: true,
      },
    ];
    for (const v of variants) rec.declare(v.name, v.side);
    for (let run = -ctx.warmup; run < runs; run++) {
      for (const v of pairOrder(Math.max(0, run), variants)) {
        const r = await exec(agent, v.cmd);
        if (run < 0) continue;
        const ok = r.code === 0 && (!v.check || r.stdout.includes('supportedVersions'));
        rec.record(v.name, v.side, r.ms, ok ? undefined : `exit ${r.code}: ${(r.stdout || r.stderr).slice(0, 200)}`);
      }
      if (run >= 0) progress(ctx, 'startup', run, runs);
    }
    const floor = rec.median('node -e 0 (CA unset)');
    for (const p of OUR_EXECUTABLES) {
      const set = rec.median(`${p} VERSION (CA set)`);
      rec.ratioOf(`${p} (CA set) / node -e 0 (CA unset)`, [`${p} VERSION (CA set)`, 'node -e 0 (CA unset)']);
      rec.ratioOf(`${p} (CA unset) / node -e 0 (CA unset)`, [`${p} VERSION (CA unset)`, 'node -e 0 (CA unset)']);
      rec.ratioOf(`${p} (CA set) / node -e 0 (CA set)`, [`${p} VERSION (CA set)`, 'node -e 0 (CA set)']);
      rec.ratioOf(`${p} (CA set) / Go bridge VERSION`, [`${p} VERSION (CA set)`, 'Go bridge VERSION']);
      rec.targetOf(
        `startup:${p}`,
        `${p} VERSION <= 1.15x node -e 0`,
        `${set.toFixed(1)} ms / ${floor.toFixed(1)} ms (CA set in the env, dropped by the launcher; floor without CA)`,
        [`${p} VERSION (CA set)`, 'node -e 0 (CA unset)'],
        (m) => m[0]! / m[1]!,
        1.15,
      );
    }
    rec.ratioOf(
      'node -e 0: CA set / CA unset',
      ['node -e 0 (CA set)', 'node -e 0 (CA unset)'],
      undefined,
      'what NODE_EXTRA_CA_CERTS costs a Node start',
    );
    const launcher = rec.median('ecs-ipam VERSION (CA unset)');
    const noEnv = rec.median('node bin/ecs-ipam VERSION (no env exec)');
    const bundle = rec.median('node dist/ecs-ipam.cjs VERSION (bundle only)');
    rec.note(
      `launcher cost (ecs-ipam): /usr/bin/env exec ${(launcher - noEnv).toFixed(1)} ms + launcher file ${(noEnv - bundle).toFixed(1)} ms = ${(launcher - bundle).toFixed(1)} ms; bundle load + VERSION over node -e 0: ${(bundle - floor).toFixed(1)} ms`,
    );
    rec.extra.split = { floor, launcher, noEnv, bundle };
  } finally {
    await agent.close();
    delNetns(host);
  }
  return rec;
}
