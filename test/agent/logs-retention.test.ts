// Logs of stopped tasks are kept for the last 50 tasks, also across agent restarts: a restarted
// agent knows none of the tasks stopped before it (`ls --all`, `tasknet logs`), so without a prune
// at start every restart leaves up to 50 log dirs that nothing reaches or removes.
import { mkdirSync, readdirSync, utimesSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import t from 'tap';
import { container, makeLab, needsRoot, taskdef } from './harness.js';

t.test('log dirs stay bounded across agent restarts', { skip: needsRoot }, async (t) => {
  const lab = await makeLab(t, { enis: 1 });
  const task = await lab.run(taskdef('logs', [container('main', ['sh', '-c', 'echo hello; exec sleep infinity'])]));
  t.equal((await lab.tn(['stop', task.id])).code, 0);
  // 60 more, as 60 tasks stopped under earlier agents would have left them (older than the task).
  const logs = join(lab.stateDir, 'logs');
  const old = Date.now() / 1000 - 3600;
  for (let i = 0; i < 60; i++) {
    const dir = join(logs, randomBytes(16).toString('hex'));
    mkdirSync(dir, { mode: 0o700 });
    writeFileSync(join(dir, 'main.log'), 'old\n', { mode: 0o600 });
    utimesSync(dir, old + i, old + i);
  }
  t.equal(readdirSync(logs).length, 61);
  await lab.killAgent('SIGKILL');
  await lab.startAgent();
  t.match((await lab.tn(['logs', task.id])).stderr, /no task/, 'the restarted agent does not know the stopped task');
  const left = readdirSync(logs);
  t.equal(left.length, 50, 'the newest 50 log dirs are kept');
  t.ok(left.includes(task.id), 'the newest one among them');
  // New stops push the old dirs out: never more than 50 in all.
  const next = await lab.run(taskdef('logs', [container('main', ['sh', '-c', 'echo again; exec sleep infinity'])]));
  t.equal((await lab.tn(['stop', next.id])).code, 0);
  const after = readdirSync(logs);
  t.equal(after.length, 50, 'still 50 after one more task stopped');
  t.ok(after.includes(next.id) && after.includes(task.id), 'the two newest kept');
});
