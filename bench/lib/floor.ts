// Kernel floors (issue 17): the link/address/route changes one verb of ours makes, replayed as one
// `ip -batch -` process per netns (the host's plain, as the plugin runs it there, the runner living
// in the host netns; the task's with `-n NAME`), spawned by the same exec runner in the same run:
// what the kernel and iproute2 need for that verb's work at the least, so (ours - node -e 0 - kernel
// floor) is what is ours alone: JS, process start-ups beyond one, reads, the IPAM store.
//
// The lines are not written by hand: each section runs the verb once, untimed, with every child
// recorded (exec'd: `node -r bench/lib/trace-preload.cjs bin/X` by the runner; in-process: the
// bench agent's traced spawn), and deriveFloor keeps the changes (reads such as `ip -j link show`
// are dropped), grouped per netns in the order the plugin made them, with the netns references
// made placeholders so a replay can target fresh namespaces. A second recording at the end of the
// section must show the same ip verbs (floorVerbs), or the section says so.
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { type Agent, netnsPath, REPO } from './lab.js';
import type { Cmd, ExecResult } from './protocol.js';
import { exec } from './context.js';
import type { Recorder } from './recorder.js';

/** One child process of a recorded verb: argv (from spawn) and its stdin (a -batch). */
export interface Spawned {
  argv: readonly string[];
  input?: string;
}

export type FloorNs = 'host' | 'task';

/** The lines one `ip -batch -` process runs in one netns; `{host}`/`{task}` stand for the netns files. */
export interface FloorBatch {
  ns: FloorNs;
  lines: string[];
}

export interface KernelFloor {
  batches: FloorBatch[];
  /** What the verb ran that the floor leaves out: reads, and non-ip children. */
  skipped: string[];
}

// For the sections' "Setup:" texts.
export const KERNEL_FLOOR_NOTE =
  'kernel floor = the link/address/route changes our verb makes (recorded from one untimed call of ours in this run, reads left out), replayed as one `ip -batch -` process per netns (`ip -batch -` in the host netns, where the runner lives and the plugin runs its host commands; `ip -n TASK -batch -` for the task netns), started one after the other by the same runner in a fresh task netns; its time is the sum, i.e. what the kernel and iproute2 need for that work at the least';

const OPTS_WITH_ARG = new Set(['-n', '-netns', '-f', '-family', '-b', '-batch', '-rc', '-rcvbuf', '-l', '-loops']);
const READS = new Set(['show', 'list', 'lst', 'get']);

// "link add", "addr add", ...; "link show" for `ip link` alone.
const verbOf = (words: readonly string[]): string => {
  const [object, action] = words;
  if (object === undefined) return '(none)';
  return `${object} ${action === undefined || action.startsWith('-') ? 'show' : action}`;
};
const isRead = (words: readonly string[]): boolean => READS.has(verbOf(words).split(' ')[1]!);

// An argv word as a -batch line word (iproute2's makeargs takes "..." quotes).
const batchWord = (w: string): string => {
  if (w.includes('"')) throw new Error(`kernel floor: cannot quote ${JSON.stringify(w)} for ip -batch`);
  return w === '' || /\s/.test(w) ? `"${w}"` : w;
};

// The recorded netns names and files as placeholders (word by word: one name may be a prefix of
// another). The recorder lives in the host netns, so its /proc/PID/ns/net is the host.
const placeholders = (line: string, names: { host: string; task: string }): string =>
  line
    .split(' ')
    .map((w) => {
      if (w === names.task || w === netnsPath(names.task)) return '{task}';
      if (w === names.host || w === netnsPath(names.host) || /^\/proc\/\d+\/ns\/net$/.test(w)) return '{host}';
      return w;
    })
    .join(' ');

const roleOf = (ref: string | undefined, names: { host: string; task: string }): FloorNs => {
  if (ref === undefined || ref === names.host || ref === netnsPath(names.host) || /^\/proc\/\d+\/ns\/net$/.test(ref))
    return 'host';
  if (ref === names.task || ref === netnsPath(names.task)) return 'task';
  throw new Error(`kernel floor: a child ran in a netns that is neither host nor task: ${ref}`);
};

// The changes of a recorded verb, one batch per netns. A batch goes where that netns's last
// change was: ADD ends in the task (the host creates or moves the link, the task configures it),
// DEL ends in the host (the task hands the ENI back, the host clears its alias). A replay that
// runs, and a second recording with the same verbs, are the checks that this order works.
export const deriveFloor = (spawns: readonly Spawned[], names: { host: string; task: string }): KernelFloor => {
  const changes: { ns: FloorNs; line: string }[] = [];
  const skipped: string[] = [];
  for (const s of spawns) {
    let argv = [...s.argv];
    let ref: string | undefined;
    if (argv[0] === 'nsenter') {
      const net = argv.find((a) => a.startsWith('--net='));
      ref = net?.slice('--net='.length);
      const i = argv.findIndex((a, k) => k > 0 && !a.startsWith('-'));
      argv = i < 0 ? [] : argv.slice(i);
    }
    if (argv[0] !== 'ip') {
      skipped.push(s.argv.join(' '));
      continue;
    }
    const words: string[] = [];
    let batch = false;
    for (let i = 1; i < argv.length; i++) {
      const a = argv[i]!;
      if (words.length === 0 && a.startsWith('-')) {
        if (a === '-n' || a === '-netns') ref = argv[i + 1];
        if (a === '-batch' || a === '-b') batch = true;
        if (OPTS_WITH_ARG.has(a)) i++;
        continue;
      }
      words.push(a);
    }
    const ns = roleOf(ref, names);
    const lines = batch
      ? (s.input ?? '')
          .split('\n')
          .map((l) => l.trim())
          .filter(Boolean)
      : [words.map(batchWord).join(' ')];
    for (const line of lines) {
      const lw = line.split(/\s+/).filter((w) => !w.startsWith('-'));
      if (isRead(lw)) skipped.push(`${ns}: ip ${line}`);
      else changes.push({ ns, line: placeholders(line, names) });
    }
  }
  const last = (ns: FloorNs): number => changes.map((c) => c.ns).lastIndexOf(ns);
  const batches = (['host', 'task'] as const)
    .filter((ns) => last(ns) >= 0)
    .sort((a, b) => last(a) - last(b))
    .map((ns) => ({ ns, lines: changes.filter((c) => c.ns === ns).map((c) => c.line) }));
  return { batches, skipped };
};

/** "host: link add, link set | task: addr add, route add": what a second recording must repeat,
 * the verbs of each batch sorted (the agent runs two lists at once, so their lines interleave
 * differently from one call to the next; the addresses IPAM picks may differ too). */
const floorVerbs = (f: KernelFloor): string =>
  f.batches
    .map(
      (b) =>
        `${b.ns}: ${b.lines
          .map((l) => verbOf(l.split(' ')))
          .sort()
          .join(', ')}`,
    )
    .join(' | ');

/** Whether the floor (re)creates a bridge: a measured ADD after warm-up must not. */
export const createsBridge = (f: KernelFloor): boolean =>
  f.batches.some((b) => b.lines.some((l) => /^link add .* type bridge\b/.test(l)));

/** Table rows for the report: one per batch, its lines joined by "; ". */
const floorRows = (verb: string, f: KernelFloor): string[][] =>
  f.batches.map((b, i) => [
    i === 0 ? verb : '',
    `${i + 1}. \`${b.ns === 'host' ? 'ip -batch -' : 'ip -n TASK -batch -'}\``,
    b.lines.map((l) => `\`${l}\``).join('<br>'),
  ]);

type VerbFloors = { add: KernelFloor; del: KernelFloor };

// What each section reports of its floors: the lines replayed, the floors in results.json, and a
// note if a second recording, at the end, made other changes than the one replayed.
export const reportFloors = async (
  rec: Recorder,
  title: string,
  verb: string,
  floor: VerbFloors,
  record: () => Promise<VerbFloors>,
): Promise<void> => {
  rec.tables.push({
    title,
    header: ['verb', 'process', 'lines'],
    rows: [...floorRows(`${verb} ADD`, floor.add), ...floorRows(`${verb} DEL`, floor.del)],
  });
  rec.extra.kernelFloor = floor;
  const again = await record();
  for (const v of ['add', 'del'] as const)
    if (floorVerbs(again[v]) !== floorVerbs(floor[v]))
      rec.note(
        `kernel floor ${v.toUpperCase()}: a second recording at the end made other ip changes (${floorVerbs(again[v])}) than the one replayed (${floorVerbs(floor[v])})`,
      );
};

// The recorded child processes of one exec'd call: the runner starts `node -r trace-preload.cjs
// <launcher>` with the same env and stdin (untimed), the preload writes every spawn to a file.
export const recordExec = async (
  runner: Agent,
  cmd: Cmd,
  traceDir: string,
): Promise<{ result: ExecResult; spawns: Spawned[] }> => {
  const out = join(traceDir, `floor-trace-${process.pid}.json`);
  rmSync(out, { force: true });
  const env: Record<string, string> = { ...cmd.env, BENCH_TRACE_FILE: out };
  delete env.NODE_EXTRA_CA_CERTS; // as the launcher drops it
  const result = await exec(runner, {
    ...cmd,
    file: process.execPath,
    args: ['-r', join(REPO, 'bench/lib/trace-preload.cjs'), cmd.file, ...(cmd.args ?? [])],
    env,
  });
  if (result.code !== 0 || !existsSync(out))
    throw new Error(`kernel floor: the recorded call failed: exit ${result.code}: ${result.stdout}${result.stderr}`);
  const trace = JSON.parse(readFileSync(out, 'utf8')) as { spawns: Spawned[] };
  rmSync(out, { force: true });
  return { result, spawns: trace.spawns };
};

// One replay: each batch as its own `ip -batch -` process, one after the other, started by the
// runner (vfork) and timed from spawn to close; the floor is their sum. The host's batch runs in
// the runner's own netns, which must be the host (never the machine's: the runner lives in a bench
// netns); the task's names its netns with -n.
export const replayFloor = async (
  runner: Agent,
  f: KernelFloor,
  names: { host: string; task: string },
  env: Record<string, string>,
): Promise<{ ms: number; failure?: string }> => {
  if (runner.ns !== names.host) throw new Error(`kernel floor: the runner lives in ${runner.ns}, not ${names.host}`);
  let ms = 0;
  for (const b of f.batches) {
    const input = `${b.lines
      .map((l) => l.replaceAll('{host}', netnsPath(names.host)).replaceAll('{task}', netnsPath(names.task)))
      .join('\n')}\n`;
    const r = await exec(runner, {
      file: 'ip',
      args: b.ns === 'host' ? ['-batch', '-'] : ['-n', names.task, '-batch', '-'],
      env: { ...env, LC_ALL: 'C' }, // as src/netlink/run.ts runs ip
      input,
    });
    if (r.code !== 0) return { ms, failure: `ip -batch (${b.ns}): exit ${r.code}: ${r.stderr.trim().slice(0, 300)}` };
    ms += r.ms;
  }
  return { ms };
};
