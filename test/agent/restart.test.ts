// kill -9 of the agent loses nothing and leaks nothing: a new agent adopts the tasks that are
// alive (they kept serving all along), tears down the ones that died meanwhile with the cached CNI
// results, and cleans up after a kill in the middle of `tasknet run`.
import { join } from 'node:path';
import t from 'tap';
import {
  assertClean,
  container,
  DEMO,
  PROCESS_DEMO,
  fetchInTask,
  inNetns,
  ip,
  ipamLeases,
  ipJson,
  makeLab,
  needsRoot,
  netnsList,
  taskdef,
  waitFor,
} from './harness.js';

const vpcGet = (lab: { vpcNs: string }, url: string) =>
  inNetns(lab.vpcNs, [process.execPath, join(DEMO, 'client.mjs'), url]);

t.test('agent kill -9 and restart', { skip: needsRoot }, async (t) => {
  const lab = await makeLab(t, { enis: 3 });
  const web = await lab.run(join(PROCESS_DEMO, 'task.json'));
  const doomed = await lab.run(taskdef('doomed', [container('main', ['sleep', 'infinity'])]));
  await waitFor('the web page', () => vpcGet(lab, 'http://10.0.0.10/').code === 0);

  await lab.killAgent('SIGKILL');
  t.equal((await lab.tn(['ls'])).code, 1, 'no agent answers');
  t.equal(vpcGet(lab, 'http://10.0.0.10/').code, 0, 'the task keeps serving while the agent is down');
  // The other task's pause container dies while nobody watches.
  process.kill(lab.taskFile(doomed.id).pause.process.pid, 'SIGKILL');

  await lab.startAgent();
  const tasks = (await lab.tn(['ls', '--json'])).json;
  t.same(
    tasks.map((x: any) => [x.id, x.status]),
    [[web.id, 'RUNNING']],
    'the live task is adopted, the dead one is gone',
  );
  t.match(lab.agentLog(), new RegExp(`task ${web.id} adopted \\(2 containers running\\)`));
  t.match(lab.agentLog(), new RegExp(`task ${doomed.id} STOPPED: pause container exited while the agent was down`));
  t.notOk(netnsList().includes(`tasknet-${doomed.id}`), "the dead task's netns is deleted");
  t.equal(ipamLeases(lab).length, 1, 'its bridge address is released (only the live task holds one)');

  const creds = await fetchInTask(lab, web.id, `http://169.254.170.2/v2/credentials/${web.credentialsId}`);
  t.equal(creds.status, 200, 'the adopted task still gets its credentials');
  const again = await lab.run(taskdef('reuse', [container('main', ['sleep', 'infinity'])]));
  t.equal(again.eni.mac, doomed.eni.mac, "the dead task's ENI is free again");
  t.equal((await lab.tn(['stop', again.id])).code, 0);

  // An adopted task is still watched: its essential api dies, the task stops.
  const api = lab.taskFile(web.id).containers.find((c: any) => c.name === 'api');
  process.kill(api.init.pid, 'SIGKILL');
  await waitFor('the adopted task to stop', async () => (await lab.tn(['ls', '--json'])).json.length === 0);
  const all = (await lab.tn(['ls', '--all', '--json'])).json;
  t.match(all.find((x: any) => x.id === web.id).stoppedReason, /^Essential container in task exited \(api: exit code/);
  assertClean(t, lab, [web.id, doomed.id, again.id], 3);
});

t.test('agent kill -9 in the middle of run: the next agent leaves nothing', { skip: needsRoot }, async (t) => {
  const lab = await makeLab(t, { enis: 2 });
  const file = join(PROCESS_DEMO, 'task.json');
  for (const delay of [0, 40, 80, 120, 160, 200, 250, 300]) {
    const run = lab.tn(['run', file, '--eni', 'auto', '--json']);
    await new Promise((r) => setTimeout(r, delay));
    await lab.killAgent('SIGKILL');
    await run;
    await lab.startAgent();
    const tasks = (await lab.tn(['ls', '--json'])).json;
    t.ok(
      tasks.length <= 1 && tasks.every((x: any) => x.status === 'RUNNING'),
      `kill after ${delay} ms: ${tasks.length ? 'adopted a RUNNING task' : 'nothing left running'}`,
    );
    for (const x of tasks) t.equal((await lab.tn(['stop', x.id])).code, 0);
    assertClean(t, lab, [], 2);
    const ids = [...lab.agentLog().matchAll(/task ([0-9a-f]{32})/g)].map((m) => m[1]);
    t.same(
      netnsList().filter((n) => ids.some((id) => n === `tasknet-${id}`)),
      [],
      "no netns of this lab's tasks",
    );
  }
});

// A pin whose task is gone (its record lost, or a crash between the guard and the record) is
// pruned by the next agent; the live task's pin and port guard are kept (and re-applied).
t.test('a restarted agent unpins addresses no live task holds', { skip: needsRoot }, async (t) => {
  const lab = await makeLab(t, { enis: 1 });
  const task = await lab.run(taskdef('pinned', [container('main', ['sleep', 'infinity'])]));
  const pins = () =>
    ipJson('-n', lab.hostNs, 'neigh', 'show', 'dev', 'ecs-bridge')
      .filter((n) => (n.state ?? []).includes('PERMANENT'))
      .map((n) => n.dst)
      .sort();
  t.same(pins(), [task.bridgeAddress], "the task's address is pinned");
  await lab.killAgent('SIGKILL');
  ip(
    '-n',
    lab.hostNs,
    'neigh',
    'replace',
    '169.254.175.7',
    'lladdr',
    '02:00:00:00:00:07',
    'dev',
    'ecs-bridge',
    'nud',
    'permanent',
  );
  await lab.startAgent();
  t.same(pins(), [task.bridgeAddress], 'the stale pin is gone, the live one kept');
  t.match(lab.agentLog(), /unpinned 169\.254\.175\.7: no live task holds them/);
  t.equal((await lab.tn(['stop', task.id])).code, 0);
  assertClean(t, lab, [task.id], 1);
});

// A record the next agent cannot use (truncated, or of the wrong shape) never costs the ENI or the
// bridge address: both are given back from what the netns holds, the record is kept aside for a
// human, the task is listed as FAILED with the reason, and every other task works as before.
t.test('an unreadable or misshapen record loses no ENI and breaks no other task', { skip: needsRoot }, async (t) => {
  const { existsSync, readFileSync: read, writeFileSync: write } = await import('node:fs');
  const lab = await makeLab(t, { enis: 3 });
  const healthy = await lab.run(taskdef('healthy', [container('main', ['sleep', 'infinity'])]));
  const truncated = await lab.run(taskdef('truncated', [container('main', ['sleep', 'infinity'])]));
  const garbled = await lab.run(taskdef('garbled', [container('main', ['sleep', 'infinity'])]));
  await lab.killAgent('SIGTERM');
  write(join(lab.stateDir, 'tasks', truncated.id, 'task.json'), '');
  const record = JSON.parse(read(join(lab.stateDir, 'tasks', garbled.id, 'task.json'), 'utf8'));
  write(join(lab.stateDir, 'tasks', garbled.id, 'task.json'), JSON.stringify({ ...record, containers: 'garbage' }));
  await lab.startAgent();

  const ls = (await lab.tn(['ls', '--json'])).json;
  t.same(
    ls.map((x: any) => [x.id, x.status]).sort(),
    [
      [healthy.id, 'RUNNING'],
      [truncated.id, 'FAILED'],
      [garbled.id, 'FAILED'],
    ].sort(),
    'ls answers: the healthy task runs, the other two are FAILED',
  );
  const reason = (id: string) => ls.find((x: any) => x.id === id).stoppedReason;
  t.match(
    reason(truncated.id),
    new RegExp(
      `^task record unreadable \\(.*JSON.*\\): kept at .*kept/${truncated.id}\\.task\\.json; its ENI ${truncated.eni.mac} and its bridge address were given back$`,
    ),
  );
  t.match(
    reason(garbled.id),
    /^task record unreadable \(invalid task\.json\.containers "garbage": must be an array\): kept at /,
  );
  t.equal(
    read(join(lab.stateDir, 'kept', `${garbled.id}.task.json`), 'utf8'),
    JSON.stringify({ ...record, containers: 'garbage' }),
    'the bad record is kept as it was',
  );
  t.notOk(existsSync(join(lab.stateDir, 'tasks', garbled.id)), 'and is out of the tasks dir');
  const links = ipJson('-n', lab.hostNs, 'link').map((l: any) => l.ifname);
  t.ok(links.includes('eni1') && links.includes('eni2'), 'both ENIs are back in the host netns under their names');
  t.equal(ipamLeases(lab).length, 1, 'only the healthy task holds a bridge address');
  t.notOk(
    netnsList().includes(`tasknet-${truncated.id}`) || netnsList().includes(`tasknet-${garbled.id}`),
    'their netns are gone',
  );
  t.equal((await lab.tn(['stop', healthy.id])).code, 0, 'stop works for the others');
  const again = await lab.run(taskdef('again', [container('main', ['sleep', 'infinity'])]));
  t.equal((await lab.tn(['stop', again.id])).code, 0, 'the given-back ENIs serve new tasks');

  // The FAILED entries stay until a human deals with the kept records, across restarts too.
  await lab.killAgent('SIGTERM');
  await lab.startAgent();
  t.same(
    (await lab.tn(['ls', '--json'])).json.map((x: any) => x.status),
    ['FAILED', 'FAILED'],
  );
  assertClean(t, lab, [healthy.id, truncated.id, garbled.id, again.id], 3);
});

// An agent killed while it removed a stopped task's dir: the removal is a rename then a recursive
// rm, so what is left is a `<id>.removing` dir, which the next agent finishes removing; it never
// finds a task dir without its task.json (which it would have to list as a lost record).
t.test(
  'a task dir half removed by a killed agent is finished, not taken for a lost record',
  { skip: needsRoot },
  async (t) => {
    const { existsSync, mkdirSync, readdirSync, writeFileSync: write } = await import('node:fs');
    const lab = await makeLab(t, { enis: 1 });
    const task = await lab.run(taskdef('gone', [container('main', ['sleep', 'infinity'])]));
    t.equal((await lab.tn(['stop', task.id])).code, 0);
    t.same(readdirSync(join(lab.stateDir, 'tasks')), [], 'a stop leaves nothing in the tasks dir');
    await lab.killAgent('SIGTERM');
    // What a kill -9 between the rename and the end of the rm leaves.
    const doomed = join(lab.stateDir, 'tasks', `${task.id}.removing`);
    mkdirSync(doomed);
    write(join(doomed, 'main.exit'), '0\n');
    await lab.startAgent();
    t.notOk(existsSync(doomed), 'the next agent finishes the removal');
    t.same(
      (await lab.tn(['ls', '--all', '--json'])).json.filter((x: any) => x.status === 'FAILED'),
      [],
      'and lists no failed task for it',
    );
    assertClean(t, lab, [task.id], 1);
  },
);
