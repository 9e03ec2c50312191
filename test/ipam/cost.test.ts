import { performance } from 'node:perf_hooks';
import t from 'tap';
import { nodeStoreFs, type StoreFs } from '../../src/ipam/store/fs.js';
import { add, median, netconf, run, runBin, tempDir } from './helpers.js';

// Counts every store file operation by kind.
const counting = (): { io: StoreFs; counts: Record<string, number>; reset(): void } => {
  const counts: Record<string, number> = {};
  const io = Object.fromEntries(
    Object.entries(nodeStoreFs).map(([name, fn]) => [
      name,
      (...args: unknown[]) => {
        counts[name] = (counts[name] ?? 0) + 1;
        return (fn as (...a: unknown[]) => unknown)(...args);
      },
    ]),
  ) as unknown as StoreFs;
  return {
    io,
    counts,
    reset: () => {
      for (const k of Object.keys(counts)) delete counts[k];
    },
  };
};

const fill = async (dir: string, from: number, to: number, ipam: Record<string, unknown> = {}): Promise<void> => {
  for (let i = from; i < to; i++) await add(dir, ipam, { containerId: `held-${i}` });
};
const DUAL = { 'ipv6-subnet': '2001:db8::/64' };

t.test('an ADD does the same file operations with 10 and with 1000 addresses held', async (t) => {
  const dir = tempDir(t);
  const probe = counting();
  const measure = async (label: string): Promise<Record<string, number>> => {
    probe.reset();
    await add(dir, DUAL, { containerId: `probe-${label}` }, { io: probe.io });
    const addCounts = { ...probe.counts };
    probe.reset();
    await run('DEL', netconf(dir, DUAL), { containerId: `probe-${label}` }, { io: probe.io });
    return { ...addCounts, ...Object.fromEntries(Object.entries(probe.counts).map(([k, v]) => [`DEL ${k}`, v])) };
  };
  await fill(dir, 0, 10, DUAL);
  const at10 = await measure('10');
  await fill(dir, 10, 1000, DUAL);
  const at1000 = await measure('1000');
  t.same(at1000, at10, 'identical per-kind counts of file operations for ADD and DEL');
  const total = (c: Record<string, number>) => Object.values(c).reduce((a, b) => a + b, 0);
  t.comment(
    `file operations for a dual-stack ADD + DEL: ${total(at10)} at 10 held, ${total(at1000)} at 1000 held ${JSON.stringify(at1000)}`,
  );
  t.equal(at1000.readdir ?? 0, 0, 'ADD never lists a directory');
});

t.test('timing at 10 and 1000 held (reported, not asserted)', async (t) => {
  const dir = tempDir(t);
  const report: string[] = [];
  const timeAt = async (held: number): Promise<void> => {
    const inProcess: number[] = [];
    for (let i = 0; i < 21; i++) {
      const t0 = performance.now();
      await add(dir, {}, { containerId: `m-${held}-${i}` });
      inProcess.push(performance.now() - t0);
      await run('DEL', netconf(dir), { containerId: `m-${held}-${i}` });
    }
    const bin: number[] = [];
    for (let i = 0; i < 7; i++) {
      const t0 = performance.now();
      const out = await runBin('ADD', netconf(dir), { containerId: `b-${held}-${i}` }).done;
      bin.push(performance.now() - t0);
      t.equal(out.code, 0);
      await run('DEL', netconf(dir), { containerId: `b-${held}-${i}` });
    }
    report.push(
      `${held} held: in-process ADD median ${median(inProcess).toFixed(2)} ms, bin/ecs-ipam ADD median ${median(bin).toFixed(1)} ms`,
    );
  };
  await fill(dir, 0, 10);
  await timeAt(10);
  await fill(dir, 10, 1000);
  await timeAt(1000);
  for (const line of report) t.comment(line);
});
