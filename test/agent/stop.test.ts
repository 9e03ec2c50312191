// How tasks end: an essential container exiting stops the task (a non-essential one does not),
// a container that ignores SIGTERM is killed after its stopTimeout, a task that cannot start
// fails with the reason and leaves nothing, and dependsOn orders start and stop.
import t from 'tap';
import { assertClean, container, makeLab, needsRoot, taskdef, waitFor } from './harness.js';

const status = async (lab: Awaited<ReturnType<typeof makeLab>>, id: string): Promise<any> =>
  (await lab.tn(['ls', '--all', '--json'])).json.find((x: any) => x.id === id);

t.test('task endings', { skip: needsRoot }, async (t) => {
  const lab = await makeLab(t, { enis: 2 });

  await t.test('an essential container exits: the task stops, the others get SIGTERM', async (t) => {
    const task = await lab.run(
      taskdef('essential-exit', [
        container('main', ['sh', '-c', 'sleep 0.5; echo done; exit 3']),
        container('sidecar', ['sh', '-c', 'trap "echo sidecar got TERM; exit 0" TERM; while :; do sleep 0.1; done']),
      ]),
    );
    t.equal(task.status, 'RUNNING');
    await waitFor('the task to stop', async () => (await status(lab, task.id))?.status === 'STOPPED');
    const stopped = await status(lab, task.id);
    t.match(stopped.stoppedReason, /^Essential container in task exited \(main: exit code 3\)/);
    t.same(
      stopped.containers.map((c: any) => [c.name, c.exitCode]),
      [
        ['main', 3],
        ['sidecar', 0],
      ],
    );
    t.match((await lab.tn(['logs', task.id, 'sidecar'])).stdout, /sidecar got TERM/);
    assertClean(t, lab, [task.id], 2);
  });

  await t.test('a non-essential container exits: the task keeps running', async (t) => {
    const task = await lab.run(
      taskdef('nonessential-exit', [
        container('main', ['sleep', 'infinity']),
        container('oneshot', ['sh', '-c', 'exit 0'], { essential: false }),
      ]),
    );
    await waitFor('oneshot to exit', async () => (await status(lab, task.id))?.containers[1].status === 'STOPPED');
    await new Promise((r) => setTimeout(r, 700));
    const now = await status(lab, task.id);
    t.equal(now.status, 'RUNNING');
    t.same(
      now.containers.map((c: any) => c.status),
      ['RUNNING', 'STOPPED'],
    );
    t.equal((await lab.tn(['stop', task.id])).code, 0);
    assertClean(t, lab, [task.id], 2);
  });

  await t.test('a hung container (SIGTERM ignored) is killed after its stopTimeout', async (t) => {
    const task = await lab.run(
      taskdef('hung', [
        container('stubborn', ['sh', '-c', 'trap "echo ignoring TERM" TERM; while :; do sleep 0.1; done'], {
          stopTimeout: 1,
        }),
        container('polite', ['sleep', 'infinity']),
      ]),
    );
    const t0 = Date.now();
    const stop = await lab.tn(['stop', task.id]);
    const took = Date.now() - t0;
    t.equal(stop.code, 0, stop.stderr);
    // At least the 1 s stopTimeout; well under the 30 s default it would take if stopTimeout were ignored.
    t.ok(took >= 1000 && took < 20_000, `stop took ${took} ms: the 1 s stopTimeout, then SIGKILL`);
    const stopped = await status(lab, task.id);
    t.same(
      stopped.containers.map((c: any) => [c.name, c.exitCode]),
      [
        ['stubborn', 137],
        ['polite', 143],
      ],
      'SIGKILL (137) and SIGTERM (143)',
    );
    t.match((await lab.tn(['logs', task.id, 'stubborn'])).stdout, /ignoring TERM/);
    t.match(lab.agentLog(), /container stubborn ignored SIGTERM for 1000 ms: killed/);
    assertClean(t, lab, [task.id], 2);
  });

  await t.test('a task whose essential container cannot start fails with the reason', async (t) => {
    const bad = await lab.tn([
      'run',
      writeDef(lab, taskdef('cannot-start', [container('main', ['/nonexistent/binary'])])),
      '--eni',
      'auto',
      '--json',
    ]);
    t.equal(bad.code, 0, 'the process started (its command then failed): the task runs, then stops');
    await waitFor('the task to stop', async () => (await status(lab, bad.json.id))?.status === 'STOPPED');
    const stopped = await status(lab, bad.json.id);
    t.match(stopped.stoppedReason, /main: exit code 127/);
    t.match((await lab.tn(['logs', bad.json.id, 'main'])).stdout, /nonexistent\/binary: not found/);
    const cwd = await lab.tn([
      'run',
      writeDef(lab, taskdef('bad-cwd', [container('main', ['true'], { workingDirectory: '/nonexistent' })])),
      '--eni',
      'auto',
    ]);
    t.equal(cwd.code, 1);
    t.match(
      cwd.stderr,
      /^tasknet run: task [0-9a-f]{32} failed to start: container main: working directory \/nonexistent: ENOENT/,
    );
    assertClean(t, lab, [bad.json.id], 2);
  });

  await t.test("a CNI failure fails the run with the plugin's error and leaves nothing", async (t) => {
    const r = await lab.tn([
      'run',
      writeDef(lab, taskdef('no-such-eni', [container('main', ['sleep', 'infinity'])])),
      '--eni',
      '0e:99:99:99:99:99,ip=10.0.0.99/24,gw=10.0.0.1',
    ]);
    t.equal(r.code, 1);
    t.match(r.stderr, /failed to start: .*ecs-eni.*0e:99:99:99:99:99/i);
    assertClean(t, lab, [], 2);
    t.same((await lab.tn(['ls', '--json'])).json, []);
  });

  await t.test('dependsOn: COMPLETE and SUCCESS wait for the dependency to exit', async (t) => {
    const task = await lab.run(
      taskdef('ordered', [
        container('init', ['sh', '-c', 'sleep 0.3; date +%s%N > /dev/null; echo init done'], { essential: false }),
        container('app', ['sh', '-c', 'echo app start; sleep infinity'], {
          dependsOn: [{ containerName: 'init', condition: 'SUCCESS' }],
        }),
      ]),
    );
    t.same(
      task.containers.map((c: any) => c.status),
      ['STOPPED', 'RUNNING'],
      'app started after init succeeded',
    );
    t.equal((await lab.tn(['stop', task.id])).code, 0);
    const failing = await lab.tn([
      'run',
      writeDef(
        lab,
        taskdef('ordered-fail', [
          container('init', ['sh', '-c', 'exit 4'], { essential: false }),
          container('app', ['sleep', 'infinity'], { dependsOn: [{ containerName: 'init', condition: 'SUCCESS' }] }),
        ]),
      ),
      '--eni',
      'auto',
    ]);
    t.equal(failing.code, 1);
    t.match(failing.stderr, /container app depends on init succeeding, but it exited with 4/);
    assertClean(t, lab, [task.id], 2);
  });

  // The ENI and bridge lists run at once; when the bridge list fails (here at its last step, after
  // the ENI list is done), the ENI list is DELeted: the ENI is back, nothing is left.
  await t.test('the bridge list fails while the ENI list succeeds: the ENI goes back', async (t) => {
    await lab.killAgent('SIGTERM');
    process.env.TASKNET_FAILPOINT = 'bridge:after-container';
    try {
      await lab.startAgent();
    } finally {
      delete process.env.TASKNET_FAILPOINT;
    }
    for (const chain of ['in-process', 'exec']) {
      const r = await lab.tn([
        'run',
        writeDef(lab, taskdef('bridge-fails', [container('main', ['sleep', 'infinity'])])),
        '--eni',
        'auto',
        '--chain',
        chain,
      ]);
      t.equal(r.code, 1, chain);
      t.match(r.stderr, /failed to start: .*failpoint bridge:after-container reached/, chain);
      assertClean(t, lab, [], 2);
    }
    await lab.killAgent('SIGTERM');
    await lab.startAgent();
    const ok = await lab.run(taskdef('after', [container('main', ['sleep', 'infinity'])]));
    t.equal(ok.status, 'RUNNING', 'the next task starts');
    t.equal((await lab.tn(['stop', ok.id])).code, 0);
  });
});

import { writeTaskdef } from './harness.js';
const writeDef = (lab: { stateDir: string }, def: object): string => writeTaskdef(lab.stateDir, def);

// A stop right after `run` returns: the container's init must already have its SIGTERM handler,
// or the kernel drops the signal (PID 1 without a handler) and the stop waits for SIGKILL.
t.test('a stop right after run reaches the command, not a half-started init', { skip: needsRoot }, async (t) => {
  const lab = await makeLab(t, { enis: 1 });
  const ids: string[] = [];
  for (let i = 0; i < 15; i++) {
    const task = await lab.run(taskdef(`prompt-${i}`, [container('main', ['sleep', 'infinity'], { stopTimeout: 60 })]));
    ids.push(task.id);
    const stop = await lab.tn(['stop', task.id, '--json']);
    t.equal(stop.code, 0);
    t.same(
      stop.json[0].containers.map((c: any) => c.exitCode),
      [143],
      `cycle ${i}: sleep ended by the SIGTERM (128 + 15), not SIGKILL`,
    );
  }
  t.notMatch(lab.agentLog(), /ignored SIGTERM/, 'no container waited for its stop timeout');
  assertClean(t, lab, ids, 1);
});
