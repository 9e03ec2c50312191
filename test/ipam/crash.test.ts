import { join } from 'node:path';
import t from 'tap';
import { keyDirName } from '../../src/ipam/store/layout.js';
import { dangling, median, netconf, problems, run, runBin, snapshot, tempDir } from './helpers.js';

// kill -9 at random points of ADD and DEL (TASKNET_TEST_IPAM_DELAY_MS stretches the windows
// between the store's steps), then check that the next ADD, DEL and GC find a consistent store.
const KEYS = 30;
const BATCH = 10;
const ROUNDS = Number(process.env.TASKNET_CRASH_ROUNDS ?? 24);
const IPAM = { 'ipv4-subnet': '10.40.0.0/24', 'ipv6-subnet': 'fd00:40::/64' };
const env = { TASKNET_TEST_IPAM_DELAY_MS: '2' };

type Outcome = {
  key: number;
  verb: 'ADD' | 'DEL';
  killed: boolean;
  code: number | null;
  stdout: string;
  ms: number;
  lastStep: string;
};

// Kills the process when it announces its n-th store step (it then sleeps before the next one,
// so the kill lands between two steps), or after a time, which may land anywhere, start-up included.
const launch = async (
  dir: string,
  key: number,
  verb: 'ADD' | 'DEL',
  kill: { atStep?: number; afterMs?: number } = {},
): Promise<Outcome> => {
  const started = Date.now();
  const proc = runBin(
    verb,
    netconf(dir, IPAM),
    { containerId: `k${key}`, env },
    {
      onStderr: (text) => {
        if (kill.atStep !== undefined && (text.match(/ecs-ipam step/g) ?? []).length >= kill.atStep) proc.kill();
      },
    },
  );
  const timer = kill.afterMs === undefined ? undefined : setTimeout(() => proc.kill(), kill.afterMs);
  const r = await proc.done;
  clearTimeout(timer);
  const steps = [...r.stderr.matchAll(/ecs-ipam step (\S+)/g)].map((m) => m[1]);
  return {
    key,
    verb,
    killed: r.signal === 'SIGKILL',
    code: r.code,
    stdout: r.stdout,
    ms: Date.now() - started,
    lastStep: `${verb} ${steps.at(-1) ?? 'start-up'}`,
  };
};

const shuffle = <T>(list: T[]): T[] =>
  list
    .map((v) => [Math.random(), v] as const)
    .sort((a, b) => a[0] - b[0])
    .map(([, v]) => v);

t.test(`SIGKILL during ADD and DEL, ${ROUNDS} rounds of ${BATCH} processes`, async (t) => {
  const dir = tempDir(t);
  const net = join(dir, 'ecs');
  let kills = 0;
  let completed = 0;
  let duplicates = 0;
  let lost = 0;
  const killedAt = new Map<string, number>();
  let debris = { temps: 0, gates: 0, dangling: 0 };

  // calibrate: how long a process takes when BATCH run at once
  const warm = await Promise.all(Array.from({ length: BATCH }, (_, k) => launch(dir, k, 'ADD')));
  const typical = median(warm.map((o) => o.ms));

  for (let round = 0; round < ROUNDS; round++) {
    const keys = shuffle(Array.from({ length: KEYS }, (_, k) => k)).slice(0, BATCH); // one op per key at a time
    const outcomes = await Promise.all(
      keys.map((key) => {
        const verb = Math.random() < 0.6 ? 'ADD' : 'DEL';
        const kill =
          Math.random() < 0.8
            ? { atStep: 1 + Math.floor(Math.random() * (verb === 'ADD' ? 12 : 7)) }
            : { afterMs: Math.round(typical * (0.5 + Math.random() * 0.7)) };
        return launch(dir, key, verb, kill);
      }),
    );
    kills += outcomes.filter((o) => o.killed).length;
    for (const o of outcomes.filter((x) => x.killed)) killedAt.set(o.lastStep, (killedAt.get(o.lastStep) ?? 0) + 1);
    const done = outcomes.filter((o) => !o.killed);
    completed += done.length;
    t.same(
      done.filter((o) => o.code !== 0).map((o) => o.stdout),
      [],
      `round ${round}: no completed call failed`,
    );

    const snap = snapshot(net);
    debris = {
      temps: Math.max(debris.temps, snap.temps.length),
      gates: Math.max(debris.gates, snap.gates.length),
      dangling: Math.max(debris.dangling, dangling(snap).length),
    };
    t.same(problems(snap), [], `round ${round}: every allocation complete, indexed, one per key and subnet`);
    const holderOf = new Map([...snap.allocations].map(([where, r]) => [where.split('/')[1]!, r!.key]));
    const returnedTo = new Map<string, number>();
    for (const o of done) {
      if (o.verb === 'DEL') {
        const still = [...snap.allocations.values()].filter((r) => r!.key === `k${o.key}/eth0`);
        if (still.length) lost++;
        continue;
      }
      for (const ip of (JSON.parse(o.stdout) as { ips: { address: string }[] }).ips) {
        const address = ip.address.split('/')[0]!;
        if (holderOf.get(address) !== `k${o.key}/eth0`) lost++; // returned but not held by the key
        if (returnedTo.has(address) && returnedTo.get(address) !== o.key) duplicates++;
        returnedTo.set(address, o.key);
      }
    }
  }
  t.equal(duplicates, 0, 'no address was returned to two keys');
  t.equal(lost, 0, 'every completed ADD is held by its key, every completed DEL released');

  // The next ADD for every key: idempotent for those that hold addresses, distinct across keys.
  const before = snapshot(net);
  const heldBefore = new Map<string, string[]>();
  for (const [where, r] of before.allocations)
    heldBefore.set(r!.key, [...(heldBefore.get(r!.key) ?? []), where.split('/')[1]!].sort());
  const adds = await Promise.all(Array.from({ length: KEYS }, (_, k) => launch(dir, k, 'ADD')));
  t.same(
    adds.filter((o) => o.code !== 0).map((o) => o.stdout),
    [],
    'every ADD after the crashes succeeds',
  );
  const all = adds.flatMap((o) => (JSON.parse(o.stdout) as { ips: { address: string }[] }).ips.map((ip) => ip.address));
  t.equal(new Set(all).size, 2 * KEYS, `${2 * KEYS} distinct addresses for ${KEYS} keys`);
  for (const o of adds) {
    const had = heldBefore.get(`k${o.key}/eth0`);
    const got = (JSON.parse(o.stdout) as { ips: { address: string }[] }).ips
      .map((ip) => ip.address.split('/')[0]!)
      .sort();
    // a dual-stack ADD killed between its families holds one; the next ADD keeps it, adds the other
    if (had)
      t.same(
        got.filter((a) => had.includes(a)),
        had,
        `k${o.key} got back what it held`,
      );
  }

  // GC with every key valid keeps every allocation and sweeps the debris.
  const valid = Array.from({ length: KEYS }, (_, k) => ({ containerID: `k${k}`, ifname: 'eth0' }));
  const gc = await run('GC', netconf(dir, IPAM, { extra: { 'cni.dev/valid-attachments': valid } }));
  t.equal(gc.exitCode, 0, 'GC');
  const swept = snapshot(net);
  t.equal(swept.allocations.size, 2 * KEYS, 'GC kept every valid allocation');
  t.same(
    [swept.temps, swept.gates, dangling(swept)],
    [[], [], []],
    'GC removed temp files, dead gates and dangling entries',
  );
  t.same(problems(swept), []);

  const dels = await Promise.all(Array.from({ length: KEYS }, (_, k) => launch(dir, k, 'DEL')));
  t.same(
    dels.filter((o) => o.code !== 0).map((o) => o.stdout),
    [],
  );
  const empty = snapshot(net);
  t.same(
    [empty.allocations.size, empty.index.size, empty.gates, empty.temps],
    [0, 0, [], []],
    'store empty after DEL of every key',
  );
  t.notOk(empty.index.has(keyDirName('k0/eth0')));

  t.ok(kills >= Math.min(100, ROUNDS * 4), `${kills} processes killed`);
  t.comment(
    `crash test: ${ROUNDS * BATCH} processes, ${kills} killed with SIGKILL, ${completed} completed; ` +
      `most debris seen: ${debris.temps} temp files, ${debris.gates} dead gates, ${debris.dangling} dangling entries; ` +
      `duplicates ${duplicates}, lost ${lost}`,
  );
  t.comment(`killed after step: ${JSON.stringify(Object.fromEntries([...killedAt].sort()))}`);
});
