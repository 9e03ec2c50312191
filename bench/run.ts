// `npm run bench`: tasknet side by side with the Go reference plugins (issue 9).
//
//   npm run bench                                    # every section, 30 runs each
//   npm run bench -- --sections=startup,chain --runs=50
//   BENCH_SECTIONS=2,6 BENCH_RUNS=10 npm run bench
//
// Flags (or env): --sections / BENCH_SECTIONS (names or numbers: 1 startup, 2 chain, 3 eni,
// 4 task, 5 concurrency, 6 scale, 7 memory, 8 ipcount, 9 profile, 10 agent-scale; default all), --runs /
// BENCH_RUNS (default 30), --warmup / BENCH_WARMUP (default 2), --concurrency (default 64),
// --scale=10,1000, --out=DIR (where RESULTS.md and results.json go; default bench/),
// --use-dist (measure the repo's dist/ as built by `npm run build`, with --build to build it first;
// by default the bench builds a snapshot of the working tree with scripts/build.mjs). Needs root: everything runs in throwaway network namespaces
// (tnbench<pid>-*), deleted after each section and on exit, ctrl-c or a crash.
import { execFileSync, spawnSync } from 'node:child_process';
import {
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { cleanupAll, installCleanupHooks, PREFIX, PYTHON, REPO, runnerKind, sweepStale } from './lib/lab.js';
import type { Ctx } from './lib/context.js';
import { loadavg, type Recorder, type SectionResult } from './lib/recorder.js';
import type { Results } from './lib/report.js';
import { writeReport } from './lib/write-report.js';
import { startup } from './sections/startup.js';
import { chain } from './sections/chain.js';
import { eni } from './sections/eni.js';
import { task } from './sections/task.js';
import { concurrency } from './sections/concurrency.js';
import { scale } from './sections/scale.js';
import { memory } from './sections/memory.js';
import { ipcount } from './sections/ipcount.js';
import { profile } from './sections/profile.js';
import { agentScale } from './sections/agent-scale.js';

const SECTIONS: [string, (ctx: Ctx) => Promise<Recorder>][] = [
  ['startup', startup],
  ['chain', chain],
  ['eni', eni],
  ['task', task],
  ['concurrency', concurrency],
  ['scale', scale],
  ['memory', memory],
  ['ipcount', ipcount],
  ['profile', profile],
  ['agent-scale', agentScale],
];

const args = new Map<string, string>();
for (const a of process.argv.slice(2)) {
  const m = /^--([a-z-]+)(?:=(.*))?$/.exec(a);
  if (!m) {
    process.stderr.write(`bench: unknown argument ${a}\n`);
    process.exit(2);
  }
  args.set(m[1]!, m[2] ?? 'true');
}
const opt = (name: string, env: string, fallback: string): string => args.get(name) ?? process.env[env] ?? fallback;
const log = (msg: string): void => {
  process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${msg}\n`);
};

const selected = ((): string[] => {
  const raw = opt('sections', 'BENCH_SECTIONS', 'all');
  if (raw === 'all') return SECTIONS.map(([n]) => n);
  return raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((s) => {
      const byNumber = /^\d+$/.test(s) ? SECTIONS[Number(s) - 1]?.[0] : undefined;
      const name = byNumber ?? s;
      if (!SECTIONS.some(([n]) => n === name)) {
        process.stderr.write(
          `bench: unknown section ${s}; one of ${SECTIONS.map(([n], i) => `${i + 1} ${n}`).join(', ')}\n`,
        );
        process.exit(2);
      }
      return name;
    });
})();
const runs = Number(opt('runs', 'BENCH_RUNS', '30'));
const warmup = Number(opt('warmup', 'BENCH_WARMUP', '2'));
const conc = Number(opt('concurrency', 'BENCH_CONCURRENCY', '64'));
const scaleSizes = opt('scale', 'BENCH_SCALE', '10,1000').split(',').map(Number) as [number, number];
const resultsDir = args.get('out') ?? join(REPO, 'bench');

const sh = (file: string, a: string[]): string => {
  try {
    return execFileSync(file, a, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return '';
  }
};

// 0. the peer (and GNU time), installed through apt when missing.
const ensurePackage = (file: string, pkg: string): void => {
  if (existsSync(file)) return;
  log(`installing ${pkg} (apt-get install -y ${pkg})`);
  let r = spawnSync('apt-get', ['install', '-y', pkg], { stdio: ['ignore', 'ignore', 'inherit'] });
  if (r.status !== 0) {
    spawnSync('apt-get', ['update'], { stdio: 'ignore' });
    r = spawnSync('apt-get', ['install', '-y', pkg], { stdio: ['ignore', 'ignore', 'inherit'] });
  }
  if (!existsSync(file)) throw new Error(`${file} is still missing after apt-get install ${pkg}`);
};

const newestMtime = (dir: string): number => {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile())
      newest = Math.max(
        newest,
        statSync(join(e.parentPath ?? (e as unknown as { path: string }).path, e.name)).mtimeMs,
      );
  }
  return newest;
};

// The working tree as it is now: src/, bin/ and the build script copied to a temp dir (outside
// bench/, which tsc type-checks) and built there with scripts/build.mjs itself, so a rebuild or an
// edit by someone else mid-run cannot mix versions, and the exec'd bundles (dist/) and the
// in-process sources (BENCH_SRC, for the agents) are the same code. Plus the same entries bundled
// without minification, for readable --cpu-prof output. --use-dist measures the repo's dist/.
const snapshot = async (): Promise<{ root: string; bin: string; dist: string; profBin: string }> => {
  const root = mkdtempSync(join(tmpdir(), `tnbench-snap-${process.pid}-`));
  process.on('exit', () => rmSync(root, { recursive: true, force: true }));
  for (const d of ['src', 'bin', 'scripts']) cpSync(join(REPO, d), join(root, d), { recursive: true });
  for (const f of ['package.json', 'tsconfig.json']) copyFileSync(join(REPO, f), join(root, f));
  symlinkSync(join(REPO, 'node_modules'), join(root, 'node_modules'));
  if (args.has('use-dist')) cpSync(join(REPO, 'dist'), join(root, 'dist'), { recursive: true });
  else {
    execFileSync(process.execPath, [join(root, 'scripts/build.mjs')], {
      cwd: root,
      stdio: ['ignore', 'ignore', 'inherit'],
      env: { ...process.env, GIT_DIR: join(REPO, '.git'), GIT_WORK_TREE: REPO },
    });
  }
  // The same sources built the same way (fronts, code caches) but not minified, for --cpu-prof.
  const prof = join(root, 'prof');
  for (const d of ['src', 'bin', 'scripts']) cpSync(join(root, d), join(prof, d), { recursive: true });
  for (const f of ['package.json', 'tsconfig.json']) copyFileSync(join(root, f), join(prof, f));
  symlinkSync(join(REPO, 'node_modules'), join(prof, 'node_modules'));
  execFileSync(process.execPath, [join(prof, 'scripts/build.mjs')], {
    cwd: prof,
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, GIT_DIR: join(REPO, '.git'), GIT_WORK_TREE: REPO, TASKNET_BUILD_MINIFY: '0' },
  });
  const profBin = join(prof, 'bin');
  return { root, bin: join(root, 'bin'), dist: join(root, 'dist'), profBin };
};

const main = async (): Promise<void> => {
  if (process.getuid?.() !== 0) throw new Error('the bench needs root: it makes network namespaces');
  installCleanupHooks();
  const swept = sweepStale();
  if (swept.length) log(`removed ${swept.length} namespaces left by an earlier bench run`);
  const t0 = Date.now();
  const load0 = loadavg();
  const samples: number[] = [];
  const sampler = setInterval(() => samples.push(loadavg()[0]!), 2000);
  sampler.unref();

  ensurePackage('/usr/lib/cni/bridge', 'containernetworking-plugins');
  ensurePackage('/usr/bin/time', 'time');
  if (args.has('use-dist') && (args.has('build') || !existsSync(join(REPO, 'dist/ecs-bridge.cjs')))) {
    log('npm run build');
    execFileSync('npm', ['run', 'build'], { cwd: REPO, stdio: ['ignore', 'ignore', 'inherit'] });
  }
  const distNewerThanSrc =
    !args.has('use-dist') ||
    Math.min(
      ...readdirSync(join(REPO, 'dist'))
        .filter((x) => x.endsWith('.cjs'))
        .map((x) => statSync(join(REPO, 'dist', x)).mtimeMs),
    ) >= newestMtime(join(REPO, 'src'));
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const outDir = join(REPO, 'bench/out', stamp);
  mkdirSync(outDir, { recursive: true });
  log(
    args.has('use-dist') ? 'snapshot of bin/ + dist/ + src/' : 'snapshot of src/ + bin/, built with scripts/build.mjs',
  );
  const snap = await snapshot();
  process.env.BENCH_SRC = join(snap.root, 'src'); // the agents run the same sources in-process
  const caFile = process.env.NODE_EXTRA_CA_CERTS || '/etc/ssl/certs/ca-certificates.crt';

  const ctx: Ctx = {
    runs,
    warmup,
    concurrency: conc,
    scaleSizes,
    ourBin: snap.bin,
    ourDist: snap.dist,
    profBin: snap.profBin,
    outDir,
    caFile,
    log,
  };
  const dirty = sh('git', ['-C', REPO, 'status', '--porcelain']).split('\n').filter(Boolean);
  const meta: Results['meta'] = {
    date: new Date().toISOString(),
    command: ['npm run bench', ...process.argv.slice(2)].join(' '),
    runs,
    warmup,
    sections: selected,
    machine: {
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model ?? 'unknown',
      memGB: Math.round(totalmem() / 2 ** 30),
      kernel: sh('uname', ['-r']),
      os: /PRETTY_NAME="([^"]+)"/.exec(readFileSync('/etc/os-release', 'utf8'))?.[1] ?? 'unknown',
    },
    versions: {
      node: process.version,
      iproute2: sh('ip', ['-V']),
      // biome-ignore lint/suspicious/noTemplateCurlyInString: a dpkg-query format, not a template
      'containernetworking-plugins': sh('dpkg-query', ['-W', '-f=${Version}', 'containernetworking-plugins']),
      'Go plugins (CNI versions)':
        sh('/usr/lib/cni/bridge', ['--version']).split('\n')[0] ||
        (
          JSON.parse(execFileSync('/usr/lib/cni/bridge', { env: { CNI_COMMAND: 'VERSION' }, encoding: 'utf8' })) as {
            supportedVersions: string[];
          }
        ).supportedVersions.join(','),
      // biome-ignore lint/suspicious/noTemplateCurlyInString: a dpkg-query format, not a template
      'GNU time': sh('dpkg-query', ['-W', '-f=${Version}', 'time']),
      'exec runner': `${runnerKind}${PYTHON ? `, ${sh(PYTHON, ['--version'])}` : ''}`,
    },
    tasknet: {
      gitHash: sh('git', ['-C', REPO, 'rev-parse', 'HEAD']),
      gitDirty: dirty.length > 0,
      dirtyFiles: dirty.length,
      build: `${args.has('use-dist') ? "the repo's dist/" : 'built from a snapshot of the working tree at the start'}: ${sh(join(snap.bin, 'ecs-bridge'), ['--version'])}`,
      distNewerThanSrc,
    },
    loadavg: { start: load0, end: [], samples1m: { mean: 0, max: 0, min: 0, n: 0 } },
    seconds: 0,
    notes: [
      'The machine is shared: other work may run during the bench. Pairs (ours, theirs) are interleaved so both sides see the same load; compare ratios, not absolute times, across runs.',
    ],
  };
  if (!distNewerThanSrc)
    meta.notes.push(
      "dist/ is older than some file in src/: the exec'd numbers are of the last build, the in-process ones of the current sources.",
    );
  log(
    `bench: sections ${selected.join(', ')}; ${runs} runs (+${warmup} warm-up); netns prefix ${PREFIX}; artefacts in ${outDir}`,
  );

  const sections: SectionResult[] = [];
  const errors: Results['errors'] = [];
  for (const [name, fn] of SECTIONS.filter(([n]) => selected.includes(n))) {
    log(`section ${name}`);
    try {
      const rec = await fn(ctx);
      sections.push(rec.result());
    } catch (error) {
      log(`section ${name} failed: ${(error as Error).stack ?? error}`);
      errors.push({ section: name, error: (error as Error).message ?? String(error) });
    } finally {
      cleanupAll(); // anything a failed section left, before the next one
    }
  }
  clearInterval(sampler);
  meta.loadavg.end = loadavg();
  meta.loadavg.samples1m = samples.length
    ? {
        mean: samples.reduce((a, b) => a + b, 0) / samples.length,
        max: Math.max(...samples),
        min: Math.min(...samples),
        n: samples.length,
      }
    : { mean: load0[0]!, max: load0[0]!, min: load0[0]!, n: 1 };
  meta.seconds = Math.round((Date.now() - t0) / 1000);
  const results: Results = { meta, targets: sections.flatMap((s) => s.targets), sections, errors };
  mkdirSync(resultsDir, { recursive: true });
  writeFileSync(join(resultsDir, 'results.json'), `${JSON.stringify(results, null, 2)}\n`);
  writeReport(results, resultsDir);
  writeFileSync(join(outDir, 'results.json'), `${JSON.stringify(results, null, 2)}\n`);
  log(`wrote ${join(resultsDir, 'RESULTS.md')}, its charts and results.json (${meta.seconds} s)`);
  for (const t of results.targets) log(`  ${t.met ? 'met    ' : 'NOT MET'} ${t.target}: ${t.value} (limit ${t.limit})`);
  if (errors.length) process.exitCode = 1;
};

await main();
