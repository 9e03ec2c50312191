// 10. Agent scale (issue 17, item 5): 250 tasks on ONE agent. A lab of its own (`tasknet lab up
// --runtime process`: no container engine; its own lab name and state dir), every task a real
// awsvpc task (an ENI moved into its netns, a veth on ecs-bridge, a bridge address, a pause, one
// `sleep infinity` container). At 10 and at 250 running tasks:
//   ADD    the network ADD of a task started with N tasks running: the agent's own timing of each
//          plugin call (its debug log, in-process chain), ADD = the slower of the two lists
//          (ecs-eni, ecs-bridge + ecs-ipam), which the agent runs at once (task/network.ts), i.e.
//          the wall time of the chain's ADD. Each measured task is stopped again, so N stays put.
//   RSS    the agent's VmRSS (/proc/PID/status)
//   idle   the agent's CPU (utime + stime of /proc/PID/stat, all its threads) over 30 s with
//          nothing asked of it, in 5 s windows, as % of one core
//   ls     wall time of the `tasknet ls` CLI process
// The lab makes at most 200 ENIs (src/agent/lab/lab.ts MAX_ENIS, one /24); the ENIs beyond those
// are made here the lab's way (a veth in the lab's host netns with an ENI-like MAC, its peer a port
// of the lab's vpc0), on a second subnet 10.0.1.0/24 whose gateway 10.0.1.1 is put on vpc0, and
// tasks get them with an explicit --eni MAC,ip=...,gw=... spec.
// --runs: measured starts (and ls calls) per size (at least 5); --warmup: unrecorded starts first.
// Clean-up: the tasks are stopped, then `tasknet lab down`; on a crash or ctrl-c the same lab down
// runs from an exit hook, and a lab of a dead earlier bench (its state dir carries the driver's
// pid) is taken down when this section starts.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ipBatchIn, pidAlive, PREFIX, run } from '../lib/lab.js';
import type { Ctx } from '../lib/context.js';
import { Recorder } from '../lib/recorder.js';
import { median } from '../lib/stats.js';

const SMALL = 10;
const LARGE = 250;
const LAB_MAX_ENIS = 200;
const IDLE_SECONDS = 30;
const IDLE_WINDOW = 5;
const FILL_PARALLEL = 4;
const STATE_DIR_NAME = /^tnbench-agent-scale-(\d+)-/;

interface Cli {
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

// utime + stime of a process (all its threads), in clock ticks (USER_HZ, 100 on Linux).
const cpuTicks = (pid: number): number => {
  const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return Number(f[11]) + Number(f[12]); // fields 14 and 15
};
const USER_HZ = 100;

const rssMB = (pid: number): number => {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : Number.NaN;
};

export async function agentScale(ctx: Ctx): Promise<Recorder> {
  const runs = Math.max(5, ctx.runs);
  const tasknetBin = join(ctx.ourBin, 'tasknet');
  const rec = new Recorder(
    'agent-scale',
    `10. Agent scale: one agent with ${SMALL} and with ${LARGE} tasks`,
    `a lab of its own (tasknet lab up --runtime process, in-process chain, no container engine), ${LAB_MAX_ENIS} lab ENIs plus ${LARGE + 1 - LAB_MAX_ENIS + 4} made the lab's way on a second subnet; every task an ENI task (ENI + bridge veth + pause + one \`sleep infinity\` container). At ${SMALL} and at ${LARGE} running tasks: ${runs} measured task starts (after ${ctx.warmup} unrecorded), each stopped again; ADD = the agent's own timing of the chain ADD (its debug log; the slower of the ENI list and the bridge list, which it runs at once); agent VmRSS; agent CPU (utime+stime) over ${IDLE_SECONDS} s idle in ${IDLE_WINDOW} s windows; ${runs} \`tasknet ls\` CLI calls`,
    runs,
  );

  // A lab left by a bench driver that is gone (kill -9): down first.
  for (const name of readdirSync(tmpdir())) {
    const m = STATE_DIR_NAME.exec(name);
    if (m && !pidAlive(Number(m[1]))) {
      const dir = join(tmpdir(), name);
      spawnSync(tasknetBin, ['lab', 'down', '--state-dir', dir], { stdio: 'ignore', timeout: 300_000 });
      rmSync(dir, { recursive: true, force: true });
      ctx.log(`  agent-scale: took down the lab of a dead bench run (${dir})`);
    }
  }

  const stateDir = mkdtempSync(join(tmpdir(), `tnbench-agent-scale-${process.pid}-`));
  const lab = `${PREFIX}as`;
  const hostNs = `${lab}-lab`;
  const vpcNs = `${lab}-vpc`;
  const env: NodeJS.ProcessEnv = { ...process.env, ECS_LOGLEVEL: 'debug', ECS_LOG_OUTPUT_FORMAT: 'json' };
  delete env.TASKNET_STATE_DIR;
  delete env.TASKNET_LAB;
  const cli = async (args: string[], timeoutMs = 120_000): Promise<Cli> => {
    const t0 = performance.now();
    const r = await run(tasknetBin, [args[0]!, '--state-dir', stateDir, ...args.slice(1)], {
      env,
      timeoutMs,
      check: false,
    });
    return { ...r, ms: performance.now() - t0 };
  };
  const labDownSync = (): void => {
    if (!existsSync(stateDir)) return;
    spawnSync(tasknetBin, ['lab', 'down', '--state-dir', stateDir, '--lab', lab], {
      env,
      stdio: 'ignore',
      timeout: 300_000,
    });
    rmSync(stateDir, { recursive: true, force: true });
  };
  process.on('exit', labDownSync);

  try {
    const up = await cli(
      ['lab', 'up', '--lab', lab, '--enis', String(LAB_MAX_ENIS), '--runtime', 'process', '--json'],
      300_000,
    );
    if (up.code !== 0) throw new Error(`tasknet lab up failed: ${up.stderr.trim()}`);
    const agentPid = (JSON.parse(up.stdout) as { agentPid: number }).agentPid;
    const agentLog = join(stateDir, 'agent.log');

    // The ENIs beyond the lab's 200, made as the lab makes its own.
    const extra = LARGE + 1 - LAB_MAX_ENIS + 4;
    const extraSpecs: string[] = [];
    const hostLines: string[] = [];
    const vpcLines: string[] = ['addr add 10.0.1.1/24 dev vpc0'];
    for (let k = 0; k < extra; k++) {
      const i = LAB_MAX_ENIS + k;
      const mac = `0e:74:6e:00:${Math.floor(i / 256)
        .toString(16)
        .padStart(2, '0')}:${(i % 256).toString(16).padStart(2, '0')}`;
      hostLines.push(`link add eni${i} address ${mac} type veth peer name vpc-eni${i} netns ${vpcNs}`);
      vpcLines.push(`link set vpc-eni${i} master vpc0 up`);
      extraSpecs.push(`${mac},ip=10.0.1.${10 + k}/24,gw=10.0.1.1`);
    }
    await ipBatchIn(hostNs, hostLines);
    await ipBatchIn(vpcNs, vpcLines);
    const labMacs = (JSON.parse(up.stdout) as { enis: { mac: string }[] }).enis.map((e) => e.mac);
    const allEnis = [...labMacs, ...extraSpecs];
    const inUse = new Map<string, string>(); // task id -> ENI spec
    const freeEni = (): string => {
      const used = new Set(inUse.values());
      const spec = allEnis.find((e) => !used.has(e));
      if (!spec) throw new Error('no free ENI');
      return spec;
    };

    const taskdef = join(stateDir, 'taskdef-scale.json');
    writeFileSync(
      taskdef,
      JSON.stringify({
        family: 'agent-scale',
        networkMode: 'awsvpc',
        containerDefinitions: [{ name: 'main', image: 'local', command: ['sleep', 'infinity'] }],
      }),
    );
    const running: string[] = [];
    const startTask = async (): Promise<{ id: string; ms: number; totalMs: number | undefined }> => {
      const spec = freeEni();
      const placeholder = `pending-${Math.random()}`;
      inUse.set(placeholder, spec);
      const r = await cli(['run', taskdef, '--eni', spec, '--json']);
      inUse.delete(placeholder);
      if (r.code !== 0) throw new Error(`tasknet run failed (${r.code}): ${r.stderr.trim()}`);
      const summary = JSON.parse(r.stdout) as { id: string; timings?: { totalMs: number } };
      inUse.set(summary.id, spec);
      return { id: summary.id, ms: r.ms, totalMs: summary.timings?.totalMs };
    };
    const stopTasks = async (ids: string[]): Promise<void> => {
      if (ids.length === 0) return;
      const r = await cli(['stop', ...ids], 600_000);
      if (r.code !== 0) throw new Error(`tasknet stop failed (${r.code}): ${r.stderr.trim()}`);
      for (const id of ids) inUse.delete(id);
    };
    const fillTo = async (n: number): Promise<void> => {
      const t0 = Date.now();
      const need = n - running.length;
      let next = 0;
      await Promise.all(
        Array.from({ length: FILL_PARALLEL }, async () => {
          while (next < need) {
            next++;
            running.push((await startTask()).id);
            if (running.length % 50 === 0) ctx.log(`  agent-scale: ${running.length} tasks running`);
          }
        }),
      );
      ctx.log(
        `  agent-scale: ${running.length} tasks running (${need} started in ${((Date.now() - t0) / 1000).toFixed(1)} s)`,
      );
    };
    const logOffset = (): number => statSync(agentLog).size;
    const addCalls = (from: number): { plugin: string; ms: number }[] => {
      const text = readFileSync(agentLog, 'utf8').slice(from); // ASCII: bytes = chars
      const out: { plugin: string; ms: number }[] = [];
      for (const line of text.split('\n')) {
        if (!line.includes('"verb":"ADD"')) continue;
        try {
          const j = JSON.parse(line) as { plugin?: string; verb?: string; seconds?: number };
          if (j.verb === 'ADD' && j.plugin && typeof j.seconds === 'number')
            out.push({ plugin: j.plugin, ms: j.seconds * 1000 });
        } catch {
          /* not a JSON line */
        }
      }
      return out;
    };

    const measure = async (n: number): Promise<void> => {
      ctx.log(`  agent-scale: measuring at ${n} tasks`);
      await sleep(5000); // the starts just made settle (their logs, timers, reaped children)
      rec.add(`agent RSS @${n}`, 'ours', rssMB(agentPid), 'MB');
      // Idle CPU: nothing asked of the agent for IDLE_SECONDS.
      const windows: number[] = [];
      const c0 = cpuTicks(agentPid);
      for (let w = 0; w < IDLE_SECONDS / IDLE_WINDOW; w++) {
        const a = cpuTicks(agentPid);
        const t = performance.now();
        await sleep(IDLE_WINDOW * 1000);
        const pct = ((cpuTicks(agentPid) - a) / USER_HZ / ((performance.now() - t) / 1000)) * 100;
        windows.push(pct);
        rec.add(`agent idle CPU @${n}`, 'ours', pct, '% of a core');
      }
      const whole = ((cpuTicks(agentPid) - c0) / USER_HZ / IDLE_SECONDS) * 100;
      rec.extra[`idleCpuWhole@${n}`] = whole;
      rec.note(
        `agent idle CPU @${n}: ${whole.toFixed(2)}% of a core over the whole ${IDLE_SECONDS} s window (per ${IDLE_WINDOW} s window: ${windows.map((x) => x.toFixed(2)).join(', ')}; a clock tick is ${(100 / USER_HZ / IDLE_WINDOW).toFixed(2)}% of a ${IDLE_WINDOW} s window)`,
      );
      for (let i = 0; i < runs; i++) {
        const r = await cli(['ls']);
        if (r.code !== 0) rec.fail(`tasknet ls @${n}`, 'ours', r.stderr.trim());
        else rec.add(`tasknet ls @${n}`, 'ours', r.ms);
      }
      for (let run = -ctx.warmup; run < runs; run++) {
        const from = logOffset();
        const t = await startTask();
        await sleep(100); // the debug lines are written synchronously; a margin for the file
        const calls = addCalls(from);
        await stopTasks([t.id]);
        if (run < 0) continue;
        const eni = calls.filter((c) => c.plugin === 'ecs-eni').map((c) => c.ms);
        const bridge = calls.filter((c) => c.plugin === 'ecs-bridge').map((c) => c.ms);
        if (eni.length !== 1 || bridge.length !== 1) {
          rec.fail(`ADD @${n}`, 'ours', `expected one ADD per plugin in the log, got ${JSON.stringify(calls)}`);
          continue;
        }
        rec.add(`ADD @${n}`, 'ours', Math.max(eni[0]!, bridge[0]!));
        rec.add(`ecs-eni ADD @${n}`, 'info', eni[0]!);
        rec.add(`ecs-bridge ADD @${n}`, 'info', bridge[0]!);
        rec.add(`tasknet run (CLI wall) @${n}`, 'info', t.ms);
        if (t.totalMs !== undefined) rec.add(`task start (record totalMs) @${n}`, 'info', t.totalMs);
      }
    };

    for (const n of [SMALL, LARGE]) {
      await fillTo(n);
      await measure(n);
    }

    rec.ratioOf(`ADD @${LARGE} / ADD @${SMALL}`, [`ADD @${LARGE}`, `ADD @${SMALL}`]);
    rec.ratioOf(`tasknet ls @${LARGE} / @${SMALL}`, [`tasknet ls @${LARGE}`, `tasknet ls @${SMALL}`]);
    rec.ratio(`agent RSS @${LARGE} / @${SMALL}`, rec.median(`agent RSS @${LARGE}`) / rec.median(`agent RSS @${SMALL}`));
    rec.targetOf(
      'agent-scale:add',
      `ADD @${LARGE} tasks <= 1.2x ADD @${SMALL} (one agent)`,
      `${rec.median(`ADD @${LARGE}`).toFixed(1)} ms / ${rec.median(`ADD @${SMALL}`).toFixed(1)} ms`,
      [`ADD @${LARGE}`, `ADD @${SMALL}`],
      (m) => m[0]! / m[1]!,
      1.2,
    );
    rec.targetOf(
      'agent-scale:idle-cpu',
      `agent idle CPU with ${LARGE} tasks < 1% of a core`,
      `median of ${IDLE_SECONDS / IDLE_WINDOW} windows of ${IDLE_WINDOW} s; whole ${IDLE_SECONDS} s: ${(rec.extra[`idleCpuWhole@${LARGE}`] as number).toFixed(2)}%`,
      [`agent idle CPU @${LARGE}`],
      (m) => m[0]!,
      1,
    );
    rec.note(
      `ENIs: ${LAB_MAX_ENIS} from the lab (its maximum), ${extra} made the lab's way on 10.0.1.0/24 (lab ENIs are 10.0.0.10-209/24; the lab caps at ${LAB_MAX_ENIS}), so all ${LARGE} tasks and each measured one are ENI tasks`,
    );

    // Teardown, timed: the tasks in batches, then the lab.
    const t0 = Date.now();
    for (let i = 0; i < running.length; i += 25) await stopTasks(running.slice(i, i + 25));
    const stopS = (Date.now() - t0) / 1000;
    rec.note(`stopping the ${running.length} tasks (tasknet stop, 25 ids per call) took ${stopS.toFixed(1)} s`);
    ctx.log(`  agent-scale: ${running.length} tasks stopped in ${stopS.toFixed(1)} s`);
    running.length = 0;
    rec.extra.medians = Object.fromEntries(
      [...rec.series.entries()].map(([name, s]) => [name, Number(median(s.samples).toFixed(2))]),
    );
  } finally {
    labDownSync();
    process.removeListener('exit', labDownSync);
  }
  return rec;
}
