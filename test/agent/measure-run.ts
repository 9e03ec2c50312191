// Time from `tasknet run` to all containers started, in-process chain vs exec chain: N runs of
// the demo task in one lab, each stopped before the next (so every run does the same work).
// Not a test (npm test does not run it): `npx tsx test/agent/measure-run.ts [N]`, as root.
// Reports the median of the CLI's wall time (process start to exit: what a user waits for) and
// of the agent's own figure (request received -> every container's init running).
import { join } from 'node:path';
import { DEMO, tasknet } from './harness.js';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';

const n = Number(process.argv[2] ?? 20);
const stateDir = mkdtempSync(join(tmpdir(), 'tasknet-measure-'));
const lab = `tnm${process.pid % 1000}`;
const tn = (args: string[]) => tasknet([args[0]!, '--state-dir', stateDir, ...args.slice(1)]);
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

const up = await tn(['lab', 'up', '--lab', lab, '--enis', '1']);
if (up.code !== 0) throw new Error(up.stderr);
try {
  const rows: string[] = [];
  for (const mode of ['in-process', 'exec', 'in-process', 'exec']) { // twice each: the first pair warms caches
    const wall: number[] = [];
    const agent: number[] = [];
    const network: number[] = [];
    for (let i = 0; i < n; i++) {
      const t0 = performance.now();
      const r = await tn(['run', join(DEMO, 'task.json'), '--eni', 'auto', '--json', '--chain', mode]);
      wall.push(performance.now() - t0);
      if (r.code !== 0) throw new Error(r.stderr);
      agent.push(r.json.timings.totalMs);
      network.push(r.json.timings.networkMs);
      await tn(['stop', r.json.id]);
    }
    rows.push(`${mode.padEnd(10)}  run (CLI wall) ${median(wall).toFixed(1)} ms   agent: all started ${median(agent).toFixed(1)} ms (network ${median(network).toFixed(1)} ms)`);
  }
  console.log(`median of ${n} runs of examples/demo/task.json (2 containers):`);
  console.log(rows.slice(2).join('\n'));
} finally {
  await tn(['lab', 'down']);
}
