// A task whose pause container dies stops ("pause container exited"), however the agent learns of
// it: a pause the agent started is its child, so its exit is an event (nothing is polled for it);
// a pause it adopted after a restart is not, and is found by the agent's timer (kill(pid, 0) per
// tick; the full /proc identity check every 10th tick, which also sees a dead pause that its new
// parent has not reaped yet, a zombie that kill(pid, 0) still finds). Each path says in the log
// which one saw the exit.
import t from 'tap';
import { assertClean, container, makeLab, needsRoot, taskdef, waitFor, type Lab } from './harness.js';

const live = async (lab: Lab): Promise<string[]> => (await lab.tn(['ls', '--json'])).json.map((x: any) => x.id);

const stoppedReason = async (lab: Lab, id: string): Promise<string | undefined> =>
  (await lab.tn(['ls', '--all', '--json'])).json.find((x: any) => x.id === id)?.stoppedReason;

t.test('a pause exit stops its task: spawned (exit event) and adopted (timer)', { skip: needsRoot }, async (t) => {
  const lab = await makeLab(t, { enis: 3 });
  const def = (family: string) => taskdef(family, [container('main', ['sleep', 'infinity'])]);

  // Spawned by this agent: the exit event.
  const spawned = await lab.run(def('spawned'));
  const bystander = await lab.run(def('bystander'));
  process.kill(lab.taskFile(spawned.id).pause.process.pid, 'SIGKILL');
  await waitFor('the task of the dead pause to stop', async () => !(await live(lab)).includes(spawned.id), 15_000);
  t.equal(await stoppedReason(lab, spawned.id), 'pause container exited', 'stopped for its pause');
  t.match(
    lab.agentLog(),
    new RegExp(`task ${spawned.id}: its pause container exited \\(seen by its exit event\\)`),
    'seen by the exit event, not by a poll',
  );
  t.same(await live(lab), [bystander.id], 'the other task runs on');

  // Adopted by a restarted agent: not its child, so the timer finds it.
  await lab.killAgent('SIGKILL');
  await lab.startAgent();
  t.match(lab.agentLog(), new RegExp(`task ${bystander.id} adopted`));
  const adopted = await lab.run(def('fresh')); // and one the new agent starts itself
  process.kill(lab.taskFile(bystander.id).pause.process.pid, 'SIGKILL');
  await waitFor('the adopted task to stop', async () => !(await live(lab)).includes(bystander.id), 15_000);
  t.equal(await stoppedReason(lab, bystander.id), 'pause container exited', 'stopped for its pause');
  t.match(
    lab.agentLog(),
    new RegExp(`task ${bystander.id}: its pause container exited \\(seen by the pause check`),
    'seen by the pause check',
  );
  t.same(await live(lab), [adopted.id], "the new agent's own task runs on");

  process.kill(lab.taskFile(adopted.id).pause.process.pid, 'SIGKILL');
  await waitFor('its own task to stop', async () => (await live(lab)).length === 0, 15_000);
  t.match(lab.agentLog(), new RegExp(`task ${adopted.id}: its pause container exited \\(seen by its exit event\\)`));
  assertClean(t, lab, [spawned.id, bystander.id, adopted.id], 3);
});
