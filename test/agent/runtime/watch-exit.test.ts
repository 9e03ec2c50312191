// watchExit (src/agent/runtime/process/process-ref.ts): the exit watch of processes that are not
// the agent's children (adopted after a restart). One shared timer, a kill(pid, 0) per process per
// tick; it must see an exit, a process already gone, and several watches at once.
import { spawn } from 'node:child_process';
import t from 'tap';
import { processRef, watchExit } from '../../../src/agent/runtime/process/process-ref.js';

const started = () => {
  const child = spawn('sleep', ['60'], { stdio: 'ignore' });
  const closed = new Promise((resolve) => child.once('close', resolve));
  const ref = processRef(child.pid!);
  if (!ref) throw new Error('no /proc entry for the child');
  return { child, ref, closed };
};

t.test('each watched process is seen to exit, and only when it does', async (t) => {
  const procs = Array.from({ length: 5 }, started);
  t.teardown(() => {
    for (const p of procs) p.child.kill('SIGKILL');
  });
  const exited = procs.map(() => false);
  const watches = procs.map((p, i) =>
    watchExit(p.ref).then(() => {
      exited[i] = true;
    }),
  );
  await new Promise((r) => setTimeout(r, 1200)); // two ticks and more: nobody has exited
  t.same(exited, [false, false, false, false, false], 'live processes are not reported gone');
  procs[1]!.child.kill('SIGKILL');
  procs[3]!.child.kill('SIGKILL');
  await Promise.all([watches[1], watches[3]]);
  t.same(exited, [false, true, false, true, false], 'the two killed ones, not the others');
  for (const p of procs) p.child.kill('SIGKILL');
  await Promise.all(watches);
  t.same(exited, [true, true, true, true, true]);
});

t.test('a process already gone resolves at once; two watches of one process both resolve', async (t) => {
  const { child, ref, closed } = started();
  const a = watchExit(ref);
  const b = watchExit(ref);
  child.kill('SIGKILL');
  await Promise.all([a, b]);
  await closed; // reaped: gone for good
  const t0 = Date.now();
  await watchExit(ref);
  t.ok(Date.now() - t0 < 100, 'no tick waited for');
});
