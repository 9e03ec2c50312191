// 20 tasks started at once and stopped at once through the CLI: no failure, 20 distinct ENIs and
// bridge addresses, nothing left.
import t from 'tap';
import { assertClean, container, makeLab, needsRoot, taskdef, writeTaskdef } from './harness.js';

const N = 20;

t.test(`${N} tasks started and stopped concurrently`, { skip: needsRoot }, async (t) => {
  const lab = await makeLab(t, { enis: N });
  const file = writeTaskdef(
    lab.stateDir,
    taskdef('crowd', [
      container('main', ['sleep', 'infinity']),
      container('side', ['sh', '-c', 'trap "exit 0" TERM; while :; do sleep 0.2; done']),
    ]),
  );
  const runs = await Promise.all(Array.from({ length: N }, () => lab.tn(['run', file, '--eni', 'auto', '--json'])));
  t.same(
    runs.filter((r) => r.code !== 0).map((r) => r.stderr),
    [],
    'every run succeeded',
  );
  const tasks = runs.map((r) => r.json).filter(Boolean);
  t.equal(new Set(tasks.map((x) => x.eni.mac)).size, N, 'distinct ENIs');
  t.equal(new Set(tasks.map((x) => x.bridgeAddress)).size, N, 'distinct bridge addresses');
  t.equal((await lab.tn(['ls', '--json'])).json.filter((x: any) => x.status === 'RUNNING').length, N);
  const quiet = await lab.tn(['ls', '-q']);
  t.same(quiet.stdout.trim().split('\n').sort(), tasks.map((x) => x.id).sort(), 'ls -q: every task id, one per line');
  const over = await lab.tn(['run', file, '--eni', 'auto']);
  t.equal(over.code, 1);
  t.match(over.stderr, new RegExp(`all ${N} lab ENIs are in use`));
  const stops = await Promise.all(tasks.map((x) => lab.tn(['stop', x.id])));
  t.same(
    stops.filter((r) => r.code !== 0).map((r) => r.stderr),
    [],
    'every stop succeeded',
  );
  assertClean(
    t,
    lab,
    tasks.map((x) => x.id),
    N,
  );
});
