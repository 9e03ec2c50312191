// 5. Concurrency: N (64) chain ADDs exec'd at once against one bridge, ours vs Go: wall time from
// the first spawn to the last exit, and failures. Then the N DELs, also at once (reported too).
import { join } from 'node:path';
import {
  addNetnsMany,
  addNetns,
  delNetns,
  delNetnsMany,
  netnsPath,
  startRunner,
  tempDir,
  removeDir,
  ipIn,
} from '../lib/lab.js';
import { cmd, cniEnv, failureOf, GO_CNI, goBridgeConf, ourBridgeConf } from '../lib/cni.js';
import { progress, type Ctx } from '../lib/context.js';
import { pairOrder, Recorder } from '../lib/recorder.js';
import type { ExecManyResult } from '../lib/protocol.js';
import { median } from '../lib/stats.js';

export async function concurrency(ctx: Ctx): Promise<Recorder> {
  const n = ctx.concurrency;
  const rec = new Recorder(
    'concurrency',
    `5. Concurrency: ${n} chain ADDs started at once against one bridge`,
    `per side a test host netns with its bridge already made, ${n} task netns (reused across runs, emptied by the DELs); per run the agent spawns all ${n} ADDs in one go and waits for the last; then all ${n} DELs the same way`,
    ctx.runs,
  );
  const ourHost = addNetns('cc-ours');
  const goHost = addNetns('cc-go');
  const ours = await startRunner(ourHost);
  const go = await startRunner(goHost);
  const ourData = tempDir('cc-ours');
  const goData = tempDir('cc-go');
  ctx.log(`  making ${2 * n} task namespaces`);
  const ourTasks = await addNetnsMany('cc-t', n);
  const goTasks = await addNetnsMany('cc-t', n);
  const perCallOurs: number[] = [];
  const perCallGo: number[] = [];
  try {
    rec.declare(`ours ${n} ADDs (wall)`, 'ours');
    rec.declare(`Go ${n} ADDs (wall)`, 'go');
    rec.declare(`ours ${n} DELs (wall)`, 'ours');
    rec.declare(`Go ${n} DELs (wall)`, 'go');
    const batch = (side: 'ours' | 'go', command: 'ADD' | 'DEL', run: number) =>
      (side === 'ours' ? ourTasks : goTasks).map((t, i) => {
        const env = cniEnv({
          command,
          containerId: `cc-${run}-${i}`,
          netns: netnsPath(t),
          ifname: 'ecs-eth0',
          cniPath: side === 'ours' ? ctx.ourBin : GO_CNI,
        });
        return side === 'ours'
          ? cmd(join(ctx.ourBin, 'ecs-bridge'), env, ourBridgeConf(ourData))
          : cmd(join(GO_CNI, 'bridge'), env, goBridgeConf(goData));
      });
    let failures = { ours: 0, go: 0 };
    for (let run = -ctx.warmup; run < ctx.runs; run++) {
      const id = run + ctx.warmup;
      for (const command of ['ADD', 'DEL'] as const) {
        for (const side of pairOrder(Math.max(0, run), ['ours', 'go'] as const)) {
          const agent = side === 'ours' ? ours : go;
          const r = await agent.request<ExecManyResult>({ op: 'execMany', cmds: batch(side, command, id) });
          const failed = r.results.map(failureOf).filter((f): f is string => f !== undefined);
          if (run < 0) continue;
          const name = `${side === 'ours' ? 'ours' : 'Go'} ${n} ${command}s (wall)`;
          rec.add(name, side, r.wallMs);
          if (command === 'ADD') {
            failures = { ...failures, [side]: failures[side] + failed.length };
            (side === 'ours' ? perCallOurs : perCallGo).push(...r.results.map((x) => x.ms));
          }
          if (failed.length > 0)
            for (const f of failed)
              rec.fail(`${side === 'ours' ? 'ours' : 'Go'} ${command}s: failed calls`, side, f, 'count');
        }
      }
      if (run >= 0) progress(ctx, 'concurrency', run, ctx.runs);
    }
    // Nothing left behind: every task netns is back to lo only.
    const leftovers = (
      await Promise.all(
        [...ourTasks.slice(0, 4), ...goTasks.slice(0, 4)].map(
          async (t) => (await ipIn(t, ['-o', 'link', 'show'])).stdout.trim().split('\n').length - 1,
        ),
      )
    ).reduce((a, b) => a + b, 0);
    rec.note(
      `failed ADD calls over all runs: ours ${failures.ours}, Go ${failures.go} (of ${n * ctx.runs} each); links left in 8 sampled task netns after the DELs: ${leftovers}`,
    );
    rec.note(
      `median single-call time inside the burst: ours ${median(perCallOurs).toFixed(0)} ms, Go ${median(perCallGo).toFixed(0)} ms`,
    );
    rec.extra.failedAdds = failures;
    rec.ratioOf(`ours ${n} ADDs / Go ${n} ADDs (wall)`, [`ours ${n} ADDs (wall)`, `Go ${n} ADDs (wall)`]);
    rec.ratioOf(`ours ${n} DELs / Go ${n} DELs (wall)`, [`ours ${n} DELs (wall)`, `Go ${n} DELs (wall)`]);
  } finally {
    await ours.close();
    await go.close();
    await delNetnsMany([...ourTasks, ...goTasks]);
    delNetns(ourHost);
    delNetns(goHost);
    removeDir(ourData);
    removeDir(goData);
  }
  return rec;
}
