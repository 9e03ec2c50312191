// 9. Profile: where an exec'd plugin call and an in-process task spend their time.
//   a. the floors: `node -e 0`, `ip -V`, `ip link show lo` plain, with -n, through nsenter;
//   b. timing spans of exec'd calls (a preload records Node's own milestones, the bundle's compile
//      and top level, every `ip` child, and exit), lined up with the runtime's spawn-to-close;
//   c. --cpu-prof of the same calls on an unminified build, self time by category and source;
//   d. traced in-process whole-task ADDs: time in `ip` children vs the rest.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import {
  addNetns,
  delNetns,
  makeFakeEni,
  netnsPath,
  randomMac,
  REPO,
  startAgent,
  startRunner,
  tempDir,
  removeDir,
} from '../lib/lab.js';
import {
  baseEnv,
  cmd,
  cniEnv,
  GO_CNI,
  goBridgeConf,
  goEniConf,
  ourBridgeConf,
  ourEniConf,
  ourTaskLists,
} from '../lib/cni.js';
import { exec, progress, type Ctx } from '../lib/context.js';
import { summarizeProfile } from '../lib/cpuprofile.js';
import { callKey, classifyIpArgs } from '../lib/ipcount.js';
import { pairOrder, Recorder } from '../lib/recorder.js';
import { SpawnServer } from '../../src/netlink/spawn-server.js';
import type { Cmd, ExecResult } from '../lib/protocol.js';
import { median, percentile } from '../lib/stats.js';
import { chainCall, ipTime } from './task.js';

interface Trace {
  preload: number;
  compileStart?: number;
  compileEnd?: number;
  exit: number;
  timeOrigin: number;
  nodeTiming: Record<string, number>;
  spawns: { argv: string[]; start: number; spawned: number; end?: number; input?: string }[];
}

interface Spans {
  total: number;
  preMain: number; // runtime's spawn -> child's time origin (fork/exec, ld.so)
  bootstrap: number; // time origin -> preload ran (Node's bootstrap)
  mainLoad: number; // preload -> bundle compile starts (resolving and reading the launcher + bundle)
  bundle: number; // bundle compile + top-level run (+ the synchronous start of the plugin)
  js: number; // everything else in JS until exit, minus time in ip children
  ip: number; // ip children, spawn to close (sequential in our code)
  ipSync: number; // of which the plugin was blocked inside spawn() (fork/exec)
  ipCount: number;
  exitToClose: number; // child's exit event -> runtime sees close
  ipByVerb: Record<string, number>;
}

// `[DEBUG] ecs-bridge ADD phase=NAME ms=X` and `... total ms=X ...` lines (docs/plugin-logs.md) into
// per-call series, in the order the phases came; the delegate's lines (ecs-ipam inside ecs-bridge)
// go with its parent call, indented.
const PHASE_LINE = /\[DEBUG\] (\S+) (ADD|DEL) (?:phase=([a-z-]+)|total) ms=([\d.]+)/;
const collectPhases = (log: string, into: Record<string, { name: string; ms: number[] }[]>): void => {
  let parent: string | undefined;
  for (const line of log.split('\n')) {
    const m = PHASE_LINE.exec(line);
    if (!m) continue;
    const [, plugin, verb, phase, ms] = m;
    const call = `${plugin} ${verb}`;
    parent ??= call;
    const owner = parent === call || plugin !== 'ecs-ipam' ? call : parent;
    const name = `${owner === call ? '' : `  ${plugin}: `}${phase ?? 'total'}`;
    if (!into[owner]) into[owner] = [];
    const series = into[owner];
    let entry = series.find((p) => p.name === name);
    if (!entry) {
      entry = { name, ms: [] };
      series.push(entry);
    }
    entry.ms.push(Number(ms));
    if (phase === undefined && owner === call) parent = undefined; // the call is over
  }
};

const spansOf = (r: ExecResult, t: Trace): Spans => {
  const ipByVerb: Record<string, number> = {};
  let ip = 0;
  let ipSync = 0;
  for (const s of t.spawns) {
    const ms = (s.end ?? t.exit) - s.start;
    ip += ms;
    ipSync += s.spawned - s.start;
    const argv =
      s.argv[0] === 'nsenter' ? s.argv.slice(s.argv.findIndex((a, i) => i > 0 && !a.startsWith('-'))) : s.argv;
    const key =
      argv[0] === 'ip'
        ? callKey(classifyIpArgs(argv.slice(1), s.input?.split('\n'), s.argv[0] === 'nsenter' ? 'nsenter' : 'local'))
        : (argv[0] ?? '?');
    ipByVerb[key] = (ipByVerb[key] ?? 0) + ms;
  }
  const compileStart = t.compileStart ?? t.preload;
  const compileEnd = t.compileEnd ?? t.preload;
  return {
    total: r.ms,
    preMain: t.timeOrigin - r.startEpoch,
    bootstrap: t.preload,
    mainLoad: compileStart - t.preload,
    bundle: compileEnd - compileStart,
    js: t.exit - compileEnd - ip,
    ip,
    ipSync,
    ipCount: t.spawns.length,
    exitToClose: r.endEpoch - (t.timeOrigin + t.exit),
    ipByVerb,
  };
};

const foldSmallNatives = (byCategory: Record<string, number>): void => {
  for (const [k, v] of Object.entries(byCategory)) {
    if ((k.startsWith('native: ') || k === 'bench agent' || k.startsWith('ours: src/plugins/common')) && v < 0.5) {
      delete byCategory[k];
      byCategory['other (natives, small files)'] = (byCategory['other (natives, small files)'] ?? 0) + v;
    }
  }
};

export async function profile(ctx: Ctx): Promise<Recorder> {
  const P = Math.min(ctx.runs, 20);
  const rec = new Recorder(
    'profile',
    '9. Profile: where the time goes',
    `${P} runs of each: exec'd calls traced with a preload (-r bench/lib/trace-preload.cjs: Node milestones, bundle compile, every child) and profiled with --cpu-prof (interval 100 µs) on an unminified build of the same sources; in-process whole-task ADDs with every ip child timed`,
    P,
  );
  const host = addNetns('pf-ours');
  const goHost = addNetns('pf-go');
  const vpc = addNetns('pf-vpc');
  const goVpc = addNetns('pf-vpc');
  const mac = randomMac();
  const goMac = randomMac();
  await makeFakeEni(host, vpc, 'eth1', mac);
  await makeFakeEni(goHost, goVpc, 'eth1', goMac);
  const agent = await startAgent(host); // in-process runs
  const runner = await startRunner(host); // timed execs
  const go = await startRunner(goHost);
  const dirs = ['pf-data', 'pf-trace', 'pf-cache', 'pf-go'].map(tempDir);
  const [data, traceDir, cacheDir, goData] = dirs as [string, string, string, string];
  const profDir = join(ctx.outDir, 'cpuprofiles');
  const noCa = baseEnv();
  delete noCa.NODE_EXTRA_CA_CERTS;
  try {
    // a. floors
    const probe = addNetns('pf-t');
    const floors: Record<string, Cmd> = {
      'node -e 0': { file: process.execPath, args: ['-e', '0'], env: noCa },
      'ip -V (an ip process doing nothing)': { file: 'ip', args: ['-V'], env: noCa },
      'ip link show lo': { file: 'ip', args: ['link', 'show', 'lo'], env: noCa },
      'ip -j link show lo': { file: 'ip', args: ['-j', 'link', 'show', 'lo'], env: noCa },
      'ip -n NS link show lo': { file: 'ip', args: ['-n', probe, 'link', 'show', 'lo'], env: noCa },
      'nsenter --net=PATH ip link show lo': {
        file: 'nsenter',
        args: [`--net=${netnsPath(probe)}`, 'ip', 'link', 'show', 'lo'],
        env: noCa,
      },
      'nsenter --net=PATH true': { file: 'nsenter', args: [`--net=${netnsPath(probe)}`, 'true'], env: noCa },
    };
    for (const n of Object.keys(floors)) rec.declare(`floor: ${n}`, 'floor');
    for (let run = 0; run < P; run++) {
      for (const [n, c] of pairOrder(run, Object.entries(floors))) {
        const r = await exec(runner, c);
        rec.record(`floor: ${n}`, 'floor', r.ms, r.code === 0 ? undefined : r.stderr);
      }
    }
    // The agent's lever (issue 17, item 4): a long-lived `ip -batch` process per netns instead of a
    // process per change. From this Node process (the driver, as big as a small agent), the same
    // small change (`link set dev lo up`, which the kernel does at once) K times: a fresh `ip -n NS`
    // each time vs one `ip -n NS -j -force -batch -` fed line by line, each change followed by a
    // read whose JSON line says that ip got past it (errors would come on stderr with the line).
    const K = 5;
    rec.declare('lever: fresh ip process per change (spawn from Node)', 'info', 'ms', `per change, median of ${K * P}`);
    rec.declare('lever: one long-lived ip -batch, a line per change', 'info', 'ms', `per change, median of ${K * P}`);
    for (let run = 0; run < P; run++) {
      for (let k = 0; k < K; k++) {
        const t0 = performance.now();
        spawnSync('ip', ['-n', probe, 'link', 'set', 'dev', 'lo', 'up']);
        rec.add('lever: fresh ip process per change (spawn from Node)', 'info', performance.now() - t0);
      }
      const co = spawn('ip', ['-n', probe, '-j', '-force', '-batch', '-'], { stdio: ['pipe', 'pipe', 'ignore'] });
      const lines = createInterface({ input: co.stdout! });
      const next = (): Promise<string> => new Promise((resolve) => lines.once('line', resolve));
      co.stdin!.write('link show dev lo\n');
      await next(); // started
      for (let k = 0; k < K; k++) {
        const t0 = performance.now();
        co.stdin!.write('link set dev lo up\nlink show dev lo\n');
        await next();
        rec.add('lever: one long-lived ip -batch, a line per change', 'info', performance.now() - t0);
      }
      co.stdin!.end();
      await new Promise((resolve) => co.once('close', resolve));
    }
    rec.ratioOf('lever: fresh ip process / long-lived ip -batch, per change', [
      'lever: fresh ip process per change (spawn from Node)',
      'lever: one long-lived ip -batch, a line per change',
    ]);
    // Why that lever is not built: test/netlink/long-lived-ip.test.ts (ip's cache of link names).
    // The one the agent uses instead: its spawn server (src/netlink/spawn-server.ts), a fresh ip per
    // change as before, forked by a small shell instead of by Node, whose spawn() blocks the loop
    // until each child has exec'd. Both asynchronous, from this driver: how long the loop is
    // blocked, and the whole change. Each change the same as above.
    const served = new SpawnServer();
    const change = ['ip', '-n', probe, 'link', 'set', 'dev', 'lo', 'up'];
    const spawned: Record<string, () => Promise<number>> = {
      'spawn from Node': () =>
        new Promise((resolve, reject) => {
          const child = spawn(change[0]!, change.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
          child.once('close', (code) => (code === 0 ? resolve(0) : reject(new Error(`${change.join(' ')}: ${code}`))));
        }),
      'through a spawn server': async () => {
        const r = await served.run(change[0]!, change.slice(1))!;
        if (r?.exitCode !== 0) throw new Error(`${change.join(' ')}: ${r?.exitCode} ${r?.stderr}`);
        return 0;
      },
    };
    for (const way of Object.keys(spawned)) {
      rec.declare(`lever: ip per change ${way}, event loop blocked`, 'info', 'ms', `per change, median of ${K * P}`);
      rec.declare(`lever: ip per change ${way}, whole change`, 'info', 'ms', `per change, median of ${K * P}`);
    }
    for (let run = 0; run < P; run++) {
      for (const [way, start] of pairOrder(run, Object.entries(spawned))) {
        for (let k = 0; k < K; k++) {
          const t0 = performance.now();
          const done = start();
          rec.add(`lever: ip per change ${way}, event loop blocked`, 'info', performance.now() - t0);
          await done;
          rec.add(`lever: ip per change ${way}, whole change`, 'info', performance.now() - t0);
        }
      }
    }
    await served.close();
    rec.note(
      "The levers for the agent's `ip` children. A long-lived `ip -batch` per netns is the cheapest per change but is not built: ip caches link names to indexes for its life, so after another process renames a link and a new one takes the name, a long-lived ip's `addr add dev NAME` changes the renamed link (test/netlink/long-lived-ip.test.ts). The agent instead has a fresh ip per change forked by its spawn server (src/netlink/spawn-server.ts): the event loop is free while the child is forked, and section 4 compares a whole task both ways.",
    );
    rec.ratioOf('lever: whole change, spawn server / spawn from Node', [
      'lever: ip per change through a spawn server, whole change',
      'lever: ip per change spawn from Node, whole change',
    ]);
    rec.ratioOf('lever: event loop blocked, spawn from Node / spawn server', [
      'lever: ip per change spawn from Node, event loop blocked',
      'lever: ip per change through a spawn server, event loop blocked',
    ]);
    delNetns(probe);
    ctx.log('  profile: floors done');

    // b. spans of exec'd calls, through the same launcher minus /usr/bin/env (node -r preload bin/X)
    const preload = join(REPO, 'bench/lib/trace-preload.cjs');
    const traced = async (
      label: string,
      file: string,
      env: Record<string, string>,
      config: unknown,
    ): Promise<Spans | undefined> => {
      const out = join(traceDir, 'trace.json');
      rmSync(out, { force: true });
      const r = await exec(runner, {
        file: process.execPath,
        args: ['-r', preload, file],
        env: { ...env, BENCH_TRACE_FILE: out },
        input: JSON.stringify(config),
      });
      if (r.code !== 0 || !existsSync(out)) {
        rec.fail(`${label}: total`, 'ours', `exit ${r.code}: ${r.stdout}${r.stderr}`);
        return undefined;
      }
      return spansOf(r, JSON.parse(readFileSync(out, 'utf8')) as Trace);
    };
    const spanSets: Record<string, Spans[]> = {};
    const phaseSets: Record<string, { name: string; ms: number[] }[]> = {};
    const goRef: Record<string, number[]> = { 'Go bridge ADD': [], 'Go host-device ADD': [] };
    for (let run = 0; run < P; run++) {
      const t = addNetns('pf-t');
      const gt = addNetns('pf-t');
      const id = `pf-${run}`;
      const env = (command: 'ADD' | 'DEL' | 'VERSION', ifname: string) => {
        const e = cniEnv({
          command: command as 'ADD',
          containerId: id,
          netns: netnsPath(t),
          ifname,
          cniPath: ctx.ourBin,
        });
        delete e.NODE_EXTRA_CA_CERTS;
        return e;
      };
      const genv = (command: 'ADD' | 'DEL', ifname: string) =>
        cniEnv({ command, containerId: id, netns: netnsPath(gt), ifname, cniPath: GO_CNI });
      const runs: [string, () => Promise<Spans | undefined>][] = [
        [
          'node -e 0',
          async () => {
            const out = join(traceDir, 'trace.json');
            rmSync(out, { force: true });
            const r = await exec(runner, {
              file: process.execPath,
              args: ['-r', preload, '-e', '0'],
              env: { ...noCa, BENCH_TRACE_FILE: out },
            });
            return spansOf(r, JSON.parse(readFileSync(out, 'utf8')) as Trace);
          },
        ],
        [
          'ecs-bridge VERSION',
          () =>
            traced('ecs-bridge VERSION', join(ctx.ourBin, 'ecs-bridge'), env('VERSION', 'ecs-eth0'), {
              cniVersion: '1.0.0',
            }),
        ],
        [
          'ecs-bridge ADD',
          () => traced('ecs-bridge ADD', join(ctx.ourBin, 'ecs-bridge'), env('ADD', 'ecs-eth0'), ourBridgeConf(data)),
        ],
        ['ecs-eni ADD', () => traced('ecs-eni ADD', join(ctx.ourBin, 'ecs-eni'), env('ADD', 'eth0'), ourEniConf(mac))],
      ];
      for (const [label, fn] of runs) {
        const s = await fn();
        if (s) {
          spanSets[label] ??= [];
          spanSets[label].push(s);
        }
      }
      goRef['Go bridge ADD']!.push(
        (await exec(go, cmd(join(GO_CNI, 'bridge'), genv('ADD', 'ecs-eth0'), goBridgeConf(goData)))).ms,
      );
      goRef['Go host-device ADD']!.push(
        (await exec(go, cmd(join(GO_CNI, 'host-device'), genv('ADD', 'eth0'), goEniConf(goMac)))).ms,
      );
      await exec(runner, cmd(join(ctx.ourBin, 'ecs-bridge'), env('DEL', 'ecs-eth0'), ourBridgeConf(data)));
      await exec(runner, cmd(join(ctx.ourBin, 'ecs-eni'), env('DEL', 'eth0'), ourEniConf(mac)));
      await exec(go, cmd(join(GO_CNI, 'bridge'), genv('DEL', 'ecs-eth0'), goBridgeConf(goData)));
      await exec(go, cmd(join(GO_CNI, 'host-device'), genv('DEL', 'eth0'), goEniConf(goMac)));
      delNetns(t);
      delNetns(gt);
      // The same calls once more, untraced, at debug level: the plugins' own phase lines
      // (docs/plugin-logs.md) say where the time after the bundle's start goes.
      const pt = addNetns('pf-p');
      const log = join(traceDir, 'phases.log');
      rmSync(log, { force: true });
      const debug = (command: 'ADD' | 'DEL', ifname: string) => ({
        ...cniEnv({ command, containerId: `pfp-${run}`, netns: netnsPath(pt), ifname, cniPath: ctx.ourBin }),
        NODE_EXTRA_CA_CERTS: '',
        ECS_CNI_LOGLEVEL: 'debug',
        ECS_CNI_LOG_FILE: log,
      });
      for (const verb of ['ADD', 'DEL'] as const) {
        await exec(runner, cmd(join(ctx.ourBin, 'ecs-bridge'), debug(verb, 'ecs-eth0'), ourBridgeConf(data)));
        await exec(runner, cmd(join(ctx.ourBin, 'ecs-eni'), debug(verb, 'eth0'), ourEniConf(mac)));
      }
      if (existsSync(log)) collectPhases(readFileSync(log, 'utf8'), phaseSets);
      delNetns(pt);
      progress(ctx, 'profile spans', run, P);
    }
    for (const [call, phases] of Object.entries(phaseSets)) {
      rec.tables.push({
        title: `Phases of an exec'd ${call}, from its own debug log (medians of ${P} calls, ms; the clock starts when the plugin's code takes the call, after Node's start-up and the bundle's load; a delegate's phases are part of its parent's phase, shown indented)`,
        header: ['phase', 'median ms', 'p95 ms'],
        rows: phases.map(({ name, ms }) => [name, median(ms).toFixed(2), percentile(ms, 95).toFixed(2)]),
      });
    }
    rec.extra.phases = Object.fromEntries(
      Object.entries(phaseSets).map(([call, phases]) => [
        call,
        Object.fromEntries(phases.map(({ name, ms }) => [name, median(ms)])),
      ]),
    );
    for (const [n, xs] of Object.entries(goRef)) for (const x of xs) rec.add(n, 'go', x);
    const labels = Object.keys(spanSets);
    const part = (k: keyof Omit<Spans, 'ipByVerb'>) =>
      labels.map((l) => median(spanSets[l]!.map((s) => s[k])).toFixed(1));
    rec.tables.push({
      title: `Timing spans of exec'd calls (medians of ${P}, ms; launched as node -r preload bin/X, i.e. without the /usr/bin/env exec; NODE_EXTRA_CA_CERTS unset)`,
      header: ['span', ...labels],
      rows: [
        ["runtime spawn -> Node's time origin (fork, exec, ld.so)", ...part('preMain')],
        ['Node bootstrap (time origin -> preload runs)', ...part('bootstrap')],
        ['load launcher + read bundle (preload -> compile starts)', ...part('mainLoad')],
        ['bundle compile + top level (+ sync part of the verb)', ...part('bundle')],
        ['our JS after that, minus ip children (handler init, zod, store, result)', ...part('js')],
        ['`ip` children, spawn to close', ...part('ip')],
        ['  of which blocked inside spawn() (fork/exec in the plugin)', ...part('ipSync')],
        ['`ip` children (count)', ...part('ipCount')],
        ['exit -> runtime sees close (teardown)', ...part('exitToClose')],
        ['total (runtime spawn -> close)', ...part('total')],
      ],
    });
    for (const l of labels.filter((x) => x.endsWith('ADD'))) {
      const verbs = [...new Set(spanSets[l]!.flatMap((s) => Object.keys(s.ipByVerb)))];
      rec.tables.push({
        title: `\`ip\` children of an exec'd ${l} by verb (median ms over the runs that made that call)`,
        header: ['ip call', 'runs', 'median ms'],
        rows: verbs.map((v) => {
          const xs = spanSets[l]!.filter((s) => s.ipByVerb[v] !== undefined).map((s) => s.ipByVerb[v]!);
          return [`\`${v}\``, xs.length, median(xs).toFixed(1)];
        }),
      });
    }
    rec.extra.spans = Object.fromEntries(
      labels.map((l) => [
        l,
        Object.fromEntries(
          (
            [
              'total',
              'preMain',
              'bootstrap',
              'mainLoad',
              'bundle',
              'js',
              'ip',
              'ipSync',
              'ipCount',
              'exitToClose',
            ] as const
          ).map((k) => [k, median(spanSets[l]!.map((s) => s[k]))]),
        ),
      ]),
    );
    ctx.log('  profile: spans done');

    // c. --cpu-prof on the unminified build
    const profiles: Record<string, ReturnType<typeof summarizeProfile>[]> = {};
    const profiled = async (
      label: string,
      file: string,
      bundle: string,
      env: Record<string, string>,
      config: unknown,
    ): Promise<void> => {
      const dir = join(profDir, label.replace(/\W+/g, '-'));
      const before = new Set(existsSync(dir) ? readdirSync(dir) : []);
      const r = await exec(runner, {
        file: process.execPath,
        args: ['--cpu-prof', `--cpu-prof-dir=${dir}`, '--cpu-prof-interval=100', file],
        env,
        input: JSON.stringify(config),
      });
      if (r.code !== 0) return;
      const fresh = readdirSync(dir).filter((f) => !before.has(f));
      profiles[label] ??= [];
      for (const f of fresh) profiles[label].push(summarizeProfile(join(dir, f), bundle));
    };
    const profBundle = (n: string) => join(ctx.profBin, '..', 'dist', `${n}.full.cjs`);
    for (let run = 0; run < P; run++) {
      const t = addNetns('pf-t');
      const id = `pfc-${run}`;
      const env = (command: string, ifname: string) => {
        const e = cniEnv({
          command: command as 'ADD',
          containerId: id,
          netns: netnsPath(t),
          ifname,
          cniPath: ctx.profBin,
        });
        delete e.NODE_EXTRA_CA_CERTS;
        return e;
      };
      await profiled(
        'ecs-bridge VERSION',
        join(ctx.profBin, 'ecs-bridge'),
        profBundle('ecs-bridge'),
        env('VERSION', 'ecs-eth0'),
        { cniVersion: '1.0.0' },
      );
      await profiled(
        'ecs-bridge ADD',
        join(ctx.profBin, 'ecs-bridge'),
        profBundle('ecs-bridge'),
        env('ADD', 'ecs-eth0'),
        ourBridgeConf(data),
      );
      await profiled(
        'ecs-eni ADD',
        join(ctx.profBin, 'ecs-eni'),
        profBundle('ecs-eni'),
        env('ADD', 'eth0'),
        ourEniConf(mac),
      );
      await exec(runner, cmd(join(ctx.ourBin, 'ecs-bridge'), env('DEL', 'ecs-eth0'), ourBridgeConf(data)));
      await exec(runner, cmd(join(ctx.ourBin, 'ecs-eni'), env('DEL', 'eth0'), ourEniConf(mac)));
      delNetns(t);
      progress(ctx, 'profile cpu', run, P);
    }
    const plabels = Object.keys(profiles);
    // Native functions below 0.5 ms everywhere go into one row.
    for (const l of plabels) for (const p of profiles[l]!) foldSmallNatives(p.byCategory);
    const cats = [...new Set(plabels.flatMap((l) => profiles[l]!.flatMap((p) => Object.keys(p.byCategory))))];
    const catMed = (l: string, c: string) => median(profiles[l]!.map((p) => p.byCategory[c] ?? 0));
    cats.sort(
      (a, b) =>
        catMed(plabels[plabels.length - 1] ?? plabels[0]!, b) - catMed(plabels[plabels.length - 1] ?? plabels[0]!, a),
    );
    rec.tables.push({
      title: `--cpu-prof self time by category (median ms per process over ${P} runs; unminified build; profiling starts after Node's own bootstrap)`,
      header: ['category', ...plabels],
      rows: [
        ...cats
          .filter((c) => plabels.some((l) => catMed(l, c) >= 0.2))
          .map((c) => [c, ...plabels.map((l) => catMed(l, c).toFixed(1))]),
        [
          'profiled span (profile start -> end)',
          ...plabels.map((l) => median(profiles[l]!.map((p) => p.totalMs)).toFixed(1)),
        ],
      ],
    });
    for (const l of plabels.filter((x) => x.endsWith('ADD'))) {
      const fns = new Map<string, number[]>();
      for (const p of profiles[l]!)
        for (const f of p.topFunctions) {
          if (f.fn === '(idle)' || f.fn === '(program)' || f.fn === '(garbage collector)') continue;
          (fns.get(`${f.fn} (${f.where})`) ?? fns.set(`${f.fn} (${f.where})`, []).get(`${f.fn} (${f.where})`)!).push(
            f.ms,
          );
        }
      rec.tables.push({
        title: `Hottest JS functions of ${l} (self ms summed over ${P} profiles / ${P})`,
        header: ['function (source)', 'ms per run'],
        rows: [...fns.entries()]
          .map(([k, v]) => [k, v.reduce((a, b) => a + b, 0) / P] as [string, number])
          .sort((a, b) => b[1] - a[1])
          .slice(0, 8)
          .map(([k, v]) => [`\`${k}\``, v.toFixed(2)]),
      });
    }
    rec.extra.cpu = Object.fromEntries(plabels.map((l) => [l, Object.fromEntries(cats.map((c) => [c, catMed(l, c)]))]));
    ctx.log('  profile: cpu profiles done');

    // d. in-process whole task, every ip child timed
    const side = {
      agent,
      mode: 'in-process' as const,
      cniPath: [ctx.ourBin],
      cacheDir,
      lists: ourTaskLists(mac, data),
    };
    const whole: { total: number; ip: number; sync: number; byVerb: Record<string, { n: number; ms: number }> }[] = [];
    for (let run = -1; run < P; run++) {
      const t = addNetns('pf-t');
      const add = await chainCall(side, 'add', `pft-${run + 1}`, t, true);
      await chainCall(side, 'del', `pft-${run + 1}`, t);
      delNetns(t);
      if (run < 0 || !add.ok) continue;
      const it = ipTime(add.trace);
      whole.push({ total: add.ms, ip: it.total, sync: it.sync, byVerb: it.byVerb });
    }
    const verbs = [...new Set(whole.flatMap((w) => Object.keys(w.byVerb)))];
    rec.tables.push({
      title: `In-process whole task ADD (ENI list + bridge list through CniRuntime), medians of ${whole.length} traced runs`,
      header: ['part', 'calls', 'ms'],
      rows: [
        ['total', '', median(whole.map((w) => w.total)).toFixed(1)],
        [
          '`ip` children (sum)',
          median(whole.map((w) => Object.values(w.byVerb).reduce((a, b) => a + b.n, 0))),
          median(whole.map((w) => w.ip)).toFixed(1),
        ],
        [
          '  of which the agent was blocked inside spawn() (fork/exec)',
          '',
          median(whole.map((w) => w.sync)).toFixed(1),
        ],
        ...verbs.map((v) => [
          `  \`${v}\``,
          median(whole.map((w) => w.byVerb[v]?.n ?? 0)),
          median(whole.map((w) => w.byVerb[v]?.ms ?? 0)).toFixed(1),
        ]),
        ['everything else (JS, fs, CniRuntime cache)', '', median(whole.map((w) => w.total - w.ip)).toFixed(1)],
      ],
    });
    rec.extra.wholeTask = { total: median(whole.map((w) => w.total)), ip: median(whole.map((w) => w.ip)) };

    // The same, under the CPU profiler of the agent (node:inspector; sources run through tsx).
    const inproc: ReturnType<typeof summarizeProfile>[] = [];
    const wholeDir = join(profDir, 'in-process-task-ADD');
    mkdirSync(wholeDir, { recursive: true });
    for (let run = 0; run < P; run++) {
      const t = addNetns('pf-t');
      const file = join(wholeDir, `run-${run}.cpuprofile`);
      const add = await chainCall(side, 'add', `pfp-${run}`, t, false, file);
      await chainCall(side, 'del', `pfp-${run}`, t);
      delNetns(t);
      if (add.ok) inproc.push(summarizeProfile(file, undefined));
    }
    for (const p of inproc) foldSmallNatives(p.byCategory);
    const icats = [...new Set(inproc.flatMap((p) => Object.keys(p.byCategory)))];
    const icat = (c: string) => median(inproc.map((p) => p.byCategory[c] ?? 0));
    icats.sort((a, b) => icat(b) - icat(a));
    rec.tables.push({
      title: `In-process whole task ADD under the CPU profiler: self time by category (median ms over ${inproc.length} runs)`,
      header: ['category', 'ms'],
      rows: [
        ...icats.filter((c) => icat(c) >= 0.2).map((c) => [c, icat(c).toFixed(1)]),
        ['profiled span', median(inproc.map((p) => p.totalMs)).toFixed(1)],
      ],
    });
    const ifns = new Map<string, number>();
    for (const p of inproc)
      for (const f of p.topFunctions) {
        if (['(idle)', '(program)', '(garbage collector)'].includes(f.fn)) continue;
        ifns.set(`${f.fn} (${f.where})`, (ifns.get(`${f.fn} (${f.where})`) ?? 0) + f.ms / Math.max(1, inproc.length));
      }
    rec.tables.push({
      title: 'Hottest JS functions of the in-process whole task ADD (self ms per run)',
      header: ['function (source)', 'ms per run'],
      rows: [...ifns.entries()]
        .sort((a, b) => b[1] - a[1])
        .slice(0, 10)
        .map(([k, v]) => [`\`${k}\``, v.toFixed(2)]),
    });
    rec.extra.inProcessCpu = Object.fromEntries(icats.map((c) => [c, icat(c)]));
  } finally {
    await agent.close();
    await runner.close();
    await go.close();
    for (const ns of [host, goHost, vpc, goVpc]) delNetns(ns);
    for (const d of dirs) removeDir(d);
  }
  return rec;
}
