// `tasknet status`: the running agent's pid, uptime, version, runtime, chain, tasks by state,
// endpoint and state dir, from the control socket's GET /health; one line and exit 1 (as `tasknet
// ls`) when no agent runs. Also the bash completion of task ids through the real `tasknet ls -q`.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { tempDir, writeFile } from '../cni/temp.js';
import { bashComplete } from './bash-complete.js';
import { container, makeLab, needsRoot, ROOT, taskdef, tasknet, TASKNET } from './harness.js';

const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

t.test('no agent: one line, the exit code of tasknet ls', async (t) => {
  const stateDir = tempDir(t, 'tasknet-status-');
  const status = await tasknet(['status', '--state-dir', stateDir]);
  const ls = await tasknet(['ls', '--state-dir', stateDir]);
  t.equal(status.code, 1);
  t.equal(status.code, ls.code, 'the same code as tasknet ls');
  t.equal(status.stdout, '');
  t.equal(
    status.stderr,
    `tasknet status: no agent is running with state dir ${stateDir} (start one: tasknet agent --state-dir ${stateDir}, or tasknet lab up)\n`,
  );
  const json = await tasknet(['status', '--json', '--state-dir', stateDir]);
  t.equal(json.code, 1, '--json too');
  t.equal(json.stdout, '', 'nothing on stdout for a script to take for an answer');
  t.equal((await tasknet(['status', 'extra'])).code, 2, 'a positional is a usage error');
});

t.test('a running agent: every field, tasks by state as they change', { skip: needsRoot }, async (t) => {
  const lab = await makeLab(t, { enis: 1 });
  const before = await lab.tn(['status', '--json']);
  t.equal(before.code, 0, before.stderr);
  const h = before.json;
  t.equal(h.ok, true);
  t.equal(h.pid, lab.agentPid(), "the agent's pid");
  t.equal(h.stateDir, lab.stateDir);
  t.equal(h.runtime, 'process');
  t.equal(h.chainMode, 'in-process');
  t.equal(h.endpoint, '169.254.170.2:80');
  t.equal(h.build.version, VERSION);
  t.match(h.build, { gitShortHash: String, dirty: Boolean });
  t.ok(Number.isInteger(h.uptimeSeconds) && h.uptimeSeconds >= 0, 'uptime in whole seconds');
  const started = Date.parse(h.startedAt);
  t.ok(started <= Date.now() && started > Date.now() - 600_000, `started at ${h.startedAt}, a moment ago`);
  t.same(h.tasks, { PROVISIONING: 0, RUNNING: 0, STOPPING: 0, STOPPED: 0, FAILED: 0 });

  const task = await lab.run(taskdef('status', [container('main', ['sleep', 'infinity'])]));
  const running = await lab.tn(['status']);
  t.equal(running.code, 0, running.stderr);
  const fields = Object.fromEntries(
    running.stdout
      .trim()
      .split('\n')
      .map((l) => {
        const m = /^(\S+(?: dir)?)\s{2,}(.*)$/.exec(l);
        return [m?.[1] ?? l, m?.[2] ?? ''];
      }),
  );
  t.same(
    Object.keys(fields),
    ['pid', 'uptime', 'version', 'runtime', 'chain', 'tasks', 'endpoint', 'state dir'],
    'the fields, in order',
  );
  t.equal(fields.pid, String(lab.agentPid()));
  t.match(fields.uptime, /^\d+[smhd]( \d+[smh])? \(since \d{4}-\d\d-\d\dT/);
  t.match(fields.version, new RegExp(`^${VERSION.replaceAll('.', '\\.')} \\(`));
  t.equal(fields.runtime, 'process');
  t.equal(fields.chain, 'in-process');
  t.equal(fields.tasks, '0 provisioning, 1 running, 0 stopping, 0 stopped, 0 failed');
  t.equal(fields.endpoint, '169.254.170.2:80');
  t.equal(fields['state dir'], lab.stateDir);
  const again = (await lab.tn(['status', '--json'])).json;
  t.equal(again.startedAt, h.startedAt, 'startedAt stays put');

  // The bash completion of `tasknet stop` asks this agent (the line's --state-dir) for its ids.
  const dir = tempDir(t, 'tasknet-status-');
  const script = writeFile(join(dir, 'tasknet.bash'), (await tasknet(['completion', 'bash'])).stdout, 0o644);
  t.same(
    bashComplete(script, [TASKNET, 'stop', '--state-dir', lab.stateDir, '']),
    [task.id],
    "stop completes the running task's id",
  );

  t.equal((await lab.tn(['stop', task.id])).code, 0);
  const after = (await lab.tn(['status', '--json'])).json;
  t.same(
    after.tasks,
    { PROVISIONING: 0, RUNNING: 0, STOPPING: 0, STOPPED: 1, FAILED: 0 },
    'the stopped task, remembered',
  );
});
