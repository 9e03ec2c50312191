// kill -9 of the agent in the middle of `tasknet stop` (issue 10, "Crashes at any instant"), the
// counterpart of restart.test.ts's kills during `run`. A task is started, its stop is asked on the
// control socket (directly, so the timing is the agent's and not a CLI's start-up), the agent is
// killed at a chosen point of the stop, a new agent starts, and then every task is either
//   - running and adopted (the stop never took effect): RUNNING in `ls`, its containers and pause
//     alive, its netns there, and `tasknet stop` then ends it cleanly; or
//   - fully torn down: no netns, no veth, the ENI back in the lab host netns as it was before the
//     task (name, MAC, MTU, down, no address), no IPAM lease, no task record, no CNI cache entry, no
//     process of the task or of an orphaned plugin; `tasknet stop` of it succeeds or says it is gone.
// Either way the ENI is reusable: the lab has one ENI, so the next task (and a last one) gets it.
//
// Kill points: the agent has no failpoints of its own (TASKNET_FAILPOINT is the plugins' and makes
// a step fail, not the agent die), so the test watches the stop from outside and kills when it has
// reached a point, plus an offset that lands inside the next stage: the record turning STOPPING,
// the containers gone (then the CNI DEL of the bridge list runs), the bridge list's cache entry
// gone (then the ENI list's DEL), the ENI's entry gone (then the pause is killed), the pause gone
// (then the netns is deleted), the netns gone (then the record is removed), the record gone. The
// exec'd chain is killed in the middle of a plugin, which outlives the agent and races the next
// agent's DEL; one task has a container that ignores SIGTERM for its 1 s stopTimeout. Where each
// kill landed is read from the state it left (before the restart) and reported; the test asserts
// the outcome, not the landing. AGENT_KILLS=<n> adds n kills at random points and offsets, random
// chain and task shape (AGENT_KILLS_SEED to reproduce, AGENT_KILLS_AFTER=<point> to aim at one).
import { request } from 'node:http';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { Prng } from '../hardening/fuzz-lib.js';
import {
  agentProcesses,
  container,
  ipamLeases,
  ipJson,
  makeLab,
  needsRoot,
  netnsList,
  pidsIn,
  taskdef,
  waitFor,
  type Lab,
} from './harness.js';

const RANDOM_KILLS = Number(process.env.AGENT_KILLS ?? 0);
const SEED = Number(process.env.AGENT_KILLS_SEED ?? 0x5709);

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

// The agent's live tasks, straight from the control socket (a CLI start costs ~0.1 s).
const liveTasks = (lab: Lab): Promise<any[]> =>
  new Promise((done, fail) => {
    const req = request({ socketPath: join(lab.stateDir, 'agent.sock'), method: 'GET', path: '/tasks' }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => {
        body += d;
      });
      res.on('end', () => {
        try {
          done(JSON.parse(body).tasks);
        } catch (e) {
          fail(e);
        }
      });
    });
    req.on('error', fail);
    req.end();
  });

type Chain = 'in-process' | 'exec';
type Shape = 'quick' | 'stubborn';

const QUICK = taskdef('stop-crash', [
  container('main', ['sleep', 'infinity']),
  container('side', ['sh', '-c', 'echo side up; exec sleep infinity']),
]);
const STUBBORN = taskdef('stop-crash-stubborn', [
  container('main', ['sleep', 'infinity']),
  container('stubborn', ['sh', '-c', 'trap "echo ignoring TERM" TERM; while :; do sleep 0.1; done'], {
    stopTimeout: 1,
  }),
]);

// DELETE /tasks/ID on the control socket; settles whatever happens to the agent.
const askStop = (lab: Lab, id: string): Promise<string> =>
  new Promise((done) => {
    const req = request(
      { socketPath: join(lab.stateDir, 'agent.sock'), method: 'DELETE', path: `/tasks/${id}` },
      (res) => {
        res.resume();
        res.on('end', () => done(`answered ${res.statusCode}`));
        res.on('error', () => done('answer cut'));
      },
    );
    req.on('error', (e: NodeJS.ErrnoException) => done(`no answer (${e.code ?? e.message})`));
    req.end();
  });

interface EniState {
  name: string;
  mac: string;
  mtu: number;
  up: boolean;
  addresses: string[];
}

const eniState = (lab: Lab, mac: string): EniState | undefined => {
  const link = ipJson('-n', lab.hostNs, 'addr').find((l) => l.address === mac);
  return (
    link && {
      name: link.ifname,
      mac: link.address,
      mtu: link.mtu,
      up: (link.flags as string[]).includes('UP'),
      addresses: (link.addr_info as any[]).map((a) => `${a.local}/${a.prefixlen}`),
    }
  );
};

const cacheEntries = (lab: Lab, id?: string): string[] => {
  const dir = join(lab.stateDir, 'cni', 'results');
  return (existsSync(dir) ? readdirSync(dir) : []).filter((n) => id === undefined || n.includes(id));
};

// Alive and not a zombie (a task's processes were the killed agent's children: until init reaps
// them they are zombies, which kill(pid, 0) would count).
const alive = (pid: number | undefined): boolean => {
  if (!pid) return false;
  try {
    return !/\) [ZX] /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
};

// Links of a netns as "name mac state", for the report of a kill that went wrong.
const linksOf = (ns: string): string => {
  try {
    return (
      ipJson('-n', ns, 'link')
        .filter((l) => l.ifname !== 'lo')
        .map((l) => `${l.ifname} ${l.address} ${(l.flags as string[]).includes('UP') ? 'up' : 'down'}`)
        .join(', ') || 'none'
    );
  } catch {
    return 'no netns';
  }
};

// Where the stop was when the agent died, from what it left (read before the next agent starts).
const landing = (lab: Lab, id: string, pids: number[], mac: string): string => {
  const dir = join(lab.stateDir, 'tasks', id);
  if (!existsSync(join(dir, 'task.json'))) return existsSync(dir) ? 'record removal' : 'after the stop';
  const status = lab.taskFile(id).status as string;
  if (status === 'RUNNING') return 'before the stop began';
  if (pids.slice(1).some(alive)) return 'containers stopping';
  const cache = cacheEntries(lab, id);
  if (cache.some((n) => n.startsWith('tasknet-bridge-'))) return 'CNI DEL of the bridge list';
  if (cache.some((n) => n.startsWith('tasknet-eni-'))) {
    // The give-back batch renames the ENI to its fallback name, then moves it: cut in between.
    const cut = linksOf(`tasknet-${id}`).startsWith(`eni${mac.replaceAll(':', '')} `);
    return `CNI DEL of the ENI list${cut ? ' (ENI left renamed in the task netns)' : ''}`;
  }
  if (alive(pids[0])) return 'pause kill';
  if (netnsList().includes(`tasknet-${id}`)) return 'netns removal';
  return `record removal (${status})`;
};

// Processes in the lab host netns other than the agent: plugins of a killed agent still running.
const strays = (lab: Lab): number[] => {
  const pid = lab.agentPid();
  const agent = pid === undefined ? [] : agentProcesses(pid);
  return pidsIn(`/var/run/netns/${lab.hostNs}`).filter((p) => !agent.includes(p));
};

type Event =
  | 'request'
  | 'STOPPING'
  | 'containers gone'
  | 'bridge DEL done'
  | 'ENI DEL done'
  | 'pause gone'
  | 'netns gone'
  | 'record gone';
const EVENTS: readonly Event[] = [
  'request',
  'STOPPING',
  'containers gone',
  'bridge DEL done',
  'ENI DEL done',
  'pause gone',
  'netns gone',
  'record gone',
];

// Whether the stop has got past a point, from the outside: the record's status, the task's
// processes, the CNI cache entries (each removed once its list's DEL succeeded), the netns file.
const reached = (lab: Lab, id: string, pids: number[], event: Event): boolean => {
  const cache = (): string[] => cacheEntries(lab, id);
  switch (event) {
    case 'request':
      return true;
    case 'STOPPING': {
      try {
        return lab.taskFile(id).status !== 'RUNNING';
      } catch {
        return true; // being replaced (rename) or gone
      }
    }
    case 'containers gone':
      return !pids.slice(1).some(alive);
    case 'bridge DEL done':
      return !cache().some((n) => n.startsWith('tasknet-bridge-'));
    case 'ENI DEL done':
      return !cache().some((n) => n.startsWith('tasknet-eni-'));
    case 'pause gone':
      return !alive(pids[0]);
    case 'netns gone':
      return !netnsList().includes(`tasknet-${id}`);
    case 'record gone':
      return !existsSync(join(lab.stateDir, 'tasks', id));
  }
};

// Polls (between event-loop turns, so the stop request goes out) until the point is reached.
const waitReached = async (
  lab: Lab,
  id: string,
  pids: number[],
  event: Event,
  timeoutMs = 10_000,
): Promise<boolean> => {
  const deadline = Date.now() + timeoutMs;
  while (!reached(lab, id, pids, event)) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setImmediate(r));
  }
  return true;
};

interface Kill {
  chain: Chain;
  shape: Shape;
  after: Event;
  offsetMs: number;
}

t.test(
  'agent kill -9 in the middle of stop: the next agent adopts the task or finishes the stop',
  { skip: needsRoot, timeout: 480_000 + RANDOM_KILLS * 15_000 },
  async (t) => {
    const lab = await makeLab(t, { enis: 1 });
    const MAC = '0e:74:6e:00:00:00';
    const eniBefore = eniState(lab, MAC);
    t.same(
      eniBefore && { name: eniBefore.name, up: eniBefore.up, addresses: eniBefore.addresses },
      { name: 'eni0', up: false, addresses: [] },
      'the lab ENI, before any task',
    );

    // Each kill comes when the stop has reached a point (seen from outside), plus an offset that
    // lands inside the next stage: e.g. 'containers gone' + 5 ms is inside the bridge list's DEL.
    const k = (chain: Chain, after: Event, offsetMs = 0, shape: Shape = 'quick'): Kill => ({
      chain,
      shape,
      after,
      offsetMs,
    });
    const plan: Kill[] = [
      k('in-process', 'request'),
      k('in-process', 'STOPPING'),
      k('in-process', 'containers gone'),
      k('in-process', 'containers gone', 6),
      k('in-process', 'bridge DEL done'),
      k('in-process', 'bridge DEL done', 5), // inside ecs-eni's DEL: the give-back batch
      k('in-process', 'ENI DEL done'),
      k('in-process', 'pause gone'),
      k('in-process', 'netns gone'),
      k('in-process', 'record gone'),
      k('exec', 'containers gone', 100), // ecs-bridge running: it outlives the agent
      k('exec', 'bridge DEL done', 100), // ecs-eni running
      k('in-process', 'STOPPING', 400, 'stubborn'), // its container ignores SIGTERM for 1 s
    ];
    const r = new Prng(SEED);
    const only = process.env.AGENT_KILLS_AFTER as Event | undefined; // narrow the random kills to one point
    for (let i = 0; i < RANDOM_KILLS; i++) {
      const chain = r.pick(['in-process', 'exec'] as const);
      const shape: Shape = r.chance(0.1) ? 'stubborn' : 'quick';
      const after = only ?? r.pick(EVENTS);
      plan.push(k(chain, after, r.int(chain === 'exec' ? 400 : shape === 'stubborn' ? 1200 : 30), shape));
    }

    const problems: string[] = [];
    const landings = new Map<string, number>();
    let adopted = 0;
    let finished = 0;
    const ids: string[] = [];
    for (const [n, kill] of plan.entries()) {
      const { chain, shape, after, offsetMs } = kill;
      const label = `kill ${n} (${chain}, ${shape}, ${after} + ${offsetMs} ms)`;
      const task = await lab.run(shape === 'quick' ? QUICK : STUBBORN, ['--chain', chain]).catch((e: Error) => {
        problems.push(`${label}: the task did not start: ${e.message}`);
      });
      if (!task) break;
      ids.push(task.id);
      const record = lab.taskFile(task.id);
      const pids: number[] = [
        record.pause.process.pid,
        ...record.containers.flatMap((c: any) => [c.process?.pid, c.init?.pid]),
      ].filter(Boolean);

      const stop = askStop(lab, task.id);
      const seen = await waitReached(lab, task.id, pids, after);
      if (offsetMs > 0) await sleep(offsetMs);
      await lab.killAgent('SIGKILL');
      const answer = await stop;
      const where = landing(lab, task.id, pids, MAC);
      const left = `task netns: ${linksOf(`tasknet-${task.id}`)}; host: ${linksOf(lab.hostNs)}; cache: ${cacheEntries(lab, task.id).join(' ') || 'none'}`;
      landings.set(where, (landings.get(where) ?? 0) + 1);
      await lab.startAgent();

      const listed = (await liveTasks(lab)).filter((x) => x.id === task.id);
      const found: string[] = seen ? [] : [`the stop never reached ${after}`];
      if (listed.length > 0) {
        adopted++;
        const x = listed[0];
        if (x.status !== 'RUNNING') found.push(`listed as ${x.status} (${x.stoppedReason ?? ''})`);
        if (where !== 'before the stop began') found.push(`adopted although the stop had begun (${where})`);
        if (!pids.every(alive)) found.push('adopted with a dead pause or container');
        if (!netnsList().includes(`tasknet-${task.id}`)) found.push('adopted without its netns');
        const again = await lab.tn(['stop', task.id]);
        if (again.code !== 0) found.push(`tasknet stop of the adopted task: ${again.code} ${again.stderr.trim()}`);
      } else {
        finished++;
        const again = await lab.tn(['stop', task.id]);
        if (again.code !== 0 && !/no task/.test(again.stderr))
          found.push(`tasknet stop afterwards: ${again.code} ${again.stderr.trim()}`);
      }
      // Either way the task is gone now; a plugin of the killed agent may still be finishing.
      await waitFor('orphaned plugins to finish', () => strays(lab).length === 0, 10_000).catch(() =>
        found.push(`processes left in the lab host netns: ${strays(lab).join(' ')}`),
      );
      if (netnsList().includes(`tasknet-${task.id}`)) found.push('its netns is still there');
      const eni = eniState(lab, MAC);
      if (JSON.stringify(eni) !== JSON.stringify(eniBefore))
        found.push(`ENI not back as before: ${JSON.stringify(eni)}`);
      const ports = ipJson('-n', lab.hostNs, 'link')
        .filter((l) => l.master === 'ecs-bridge' || /^veth/.test(l.ifname))
        .map((l) => l.ifname);
      if (ports.length) found.push(`veths left: ${ports.join(' ')}`);
      if (ipamLeases(lab).length) found.push(`IPAM leases left: ${ipamLeases(lab).join(' ')}`);
      if (existsSync(join(lab.stateDir, 'tasks', task.id))) found.push('its record is still there');
      if (cacheEntries(lab).length) found.push(`CNI cache entries left: ${cacheEntries(lab).join(' ')}`);
      await waitFor("the task's processes to be gone", () => !pids.some(alive), 5_000).catch(() =>
        found.push(`processes of the task alive: ${pids.filter(alive).join(' ')}`),
      );
      if ((await liveTasks(lab)).length) found.push('the agent still lists a task');
      if (found.length) {
        problems.push(`${label}, stop ${answer}, landed in ${where} (${left}): ${found.join('; ')}`);
        if (problems.length >= 5) break;
      }
    }
    t.same(problems, [], `every kill ended adopted (then stopped) or fully torn down`);
    const last = await lab.run(QUICK);
    t.equal(last.eni.mac, MAC, 'the ENI is reusable by a new task');
    t.equal((await lab.tn(['stop', last.id])).code, 0, 'and that task stops');
    t.same(strays(lab), [], 'no process left in the lab host netns but the agent');
    t.same(
      netnsList().filter((n) => [...ids, last.id].some((id) => n === `tasknet-${id}`)),
      [],
      "no netns of this test's tasks",
    );
    t.same(readdirSync(join(lab.stateDir, 'tasks')), [], 'no task record');
    t.same(cacheEntries(lab), [], 'no CNI cache entry');
    t.same(ipamLeases(lab), [], 'no IPAM lease');
    t.same(eniState(lab, MAC), eniBefore, 'the ENI as before any task');
    // Logs are kept for the last 50 stopped tasks; a restart must not leave more for ever.
    const logDirs = readdirSync(join(lab.stateDir, 'logs')).length;
    t.ok(logDirs <= 50, `${logDirs} task log dirs kept (at most 50)`);
    t.comment(
      `${plan.length} kills: ${adopted} adopted, ${finished} torn down by the next agent; ${problems.length} with problems; landed in: ` +
        [...landings].map(([k, v]) => `${k} ${v}`).join(', '),
    );
  },
);
