// Time from `tasknet run` to all containers started, on the engine runtime and on the process
// runtime, in one lab (an engine lab: the process runtime is always there too), the runs of the
// two interleaved so both see the same machine. Each task is stopped before the next run, so
// every run does the same work. The task is the demo's two containers (web depends on api
// START; the engine one without the demo's health check, which would time the check's interval).
// Not a test (npm test does not run it): `npx tsx test/agent/measure-run.ts [N]`, as root.
// Reports the median of the CLI's wall time (process start to exit: what a user waits for) and
// of the agent's own figure (request received -> every container started).
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEMO, PROCESS_DEMO, tasknet } from './harness.js';

const n = Number(process.argv[2] ?? 20);
const stateDir = mkdtempSync(join(tmpdir(), 'tasknet-measure-'));
const lab = `tnm${process.pid % 1000}`;
const tn = (args: string[]) => tasknet([args[0]!, '--state-dir', stateDir, ...args.slice(1)]);
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

const engineTask = join(stateDir, 'engine-task.json');
const demo = JSON.parse(readFileSync(join(DEMO, 'task.json'), 'utf8'));
for (const c of demo.containerDefinitions) {
  delete c.healthCheck;
  c.dependsOn = (c.dependsOn ?? []).map((d: { containerName: string }) => ({ ...d, condition: 'START' }));
}
writeFileSync(engineTask, JSON.stringify(demo));

const up = await tn(['lab', 'up', '--lab', lab, '--enis', '1', '--runtime', 'engine']);
if (up.code !== 0) throw new Error(up.stderr);
try {
  const build = await tn(['image', 'build', DEMO, '-t', 'tasknet-demo/app:1']);
  if (build.code !== 0) throw new Error(build.stderr);
  const runs = {
    engine: {
      file: engineTask,
      wall: [] as number[],
      agent: [] as number[],
      network: [] as number[],
      containers: [] as number[],
    },
    process: {
      file: join(PROCESS_DEMO, 'task.json'),
      wall: [] as number[],
      agent: [] as number[],
      network: [] as number[],
      containers: [] as number[],
    },
  };
  for (let i = -2; i < n; i++) {
    // two warm-up rounds, not counted
    for (const [runtime, r] of Object.entries(runs)) {
      const t0 = performance.now();
      const out = await tn(['run', r.file, '--eni', 'auto', '--json', '--runtime', runtime]);
      const wall = performance.now() - t0;
      if (out.code !== 0) throw new Error(out.stderr);
      if (i >= 0) {
        r.wall.push(wall);
        r.agent.push(out.json.timings.totalMs);
        r.network.push(out.json.timings.networkMs);
        r.containers.push(out.json.timings.containersMs);
      }
      await tn(['stop', out.json.id]);
    }
  }
  console.log(`median of ${n} runs of the demo's two containers, interleaved:`);
  for (const [runtime, r] of Object.entries(runs)) {
    console.log(
      `${runtime.padEnd(8)} run (CLI wall) ${median(r.wall).toFixed(1)} ms   agent: all started ${median(r.agent).toFixed(1)} ms (network ${median(r.network).toFixed(1)} ms, containers ${median(r.containers).toFixed(1)} ms)`,
    );
  }
  console.log(
    `engine / process (agent, all started): ${(median(runs.engine.agent) / median(runs.process.agent)).toFixed(2)}x`,
  );
} finally {
  await tn(['lab', 'down']);
}
