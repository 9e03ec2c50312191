// One task floods the endpoint with connections it holds open. With the connection limits the
// other task's credentials are still served, nothing changes state and only the flooder is
// refused; the control (limits lifted, the agent's descriptors capped as on a busy host) shows
// the same flood starves everyone, so the limits are what holds, and that even then no task is
// stopped for an error that is not an exit.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import t, { type Test } from 'tap';
import { container, FETCH, inNetns, makeLab, needsRoot, taskdef, waitFor, type Lab } from './harness.js';

const AGENT_FDS = 1024;
const CONNECTIONS = 1500; // more than the agent's descriptors

// Opens CONNECTIONS connections from the task's netns (as a process of the task would) and keeps
// each one that the endpoint accepts open, half a request sent, until stdin closes.
const FLOOD = `
const net = require('node:net');
const n = Number(process.argv[1]);
let settled = 0, open = 0, refused = 0;
const sockets = [];
const done = () => { if (++settled === n) console.log('settled ' + open + ' ' + refused); };
for (let i = 0; i < n; i++) {
  const s = net.connect({ host: '169.254.170.2', port: 80 });
  let counted = false;
  s.on('connect', () => { s.write('GET /v2/credentials/x HTTP/1.1\\r\\nHost: a\\r\\n'); open++; counted = true; setImmediate(done); });
  s.on('error', () => {});
  s.on('close', () => { if (counted) { open--; refused++; } else { refused++; done(); } });
  sockets.push(s);
}
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
`;

const flood = async (_lab: Lab, taskId: string) => {
  const child = spawn(
    'nsenter',
    [`--net=/var/run/netns/tasknet-${taskId}`, process.execPath, '-e', FLOOD, String(CONNECTIONS)],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  const [line] = (await once(child.stdout!.setEncoding('utf8'), 'data')) as [string];
  return {
    line: line.trim(),
    stop: async () => {
      child.stdin!.end();
      await once(child, 'exit');
    },
  };
};

const setup = async (t: Test, agentArgs: string[]) => {
  const lab = await makeLab(t, { enis: 2 });
  await lab.killAgent('SIGTERM');
  await lab.startAgent(agentArgs, { nofile: AGENT_FDS });
  const victim = await lab.run(taskdef('victim', [container('main', ['sleep', 'infinity'])]));
  const flooder = await lab.run(
    taskdef('flooder', [container('main', ['sleep', 'infinity'])], {
      taskRoleArn: 'arn:aws:iam::123456789012:role/flooder',
    }),
  );
  const creds = (task: any) => `http://169.254.170.2/v2/credentials/${task.credentialsId}`;
  t.equal(get(victim, creds(victim), 30_000), 200, 'before: the victim reads its credentials');
  return { lab, victim, flooder, creds };
};

// A GET from inside a task's netns, not through the agent's control socket (the agent may be out of
// descriptors: only the endpoint is under test).
const get = (task: any, url: string, timeoutMs = 2000): number => {
  const out = inNetns(
    `tasknet-${task.id}`,
    [process.execPath, '-e', FETCH, url, String(timeoutMs)],
    timeoutMs + 15_000,
  ).out.trim();
  return /^\d+ /.test(out) ? Number(out.split(' ')[0]) : 0;
};

const statuses = async (lab: Lab) => (await lab.tn(['ls', '--json'])).json.map((x: any) => x.status);

t.test('a flood from one task leaves the others served', { skip: needsRoot }, async (t) => {
  const { lab, victim, flooder, creds } = await setup(t, []);
  const f = await flood(lab, flooder.id);
  t.comment(`flooder: ${f.line} (open, refused)`);
  t.equal(get(victim, creds(victim), 30_000), 200, 'during the flood the victim reads its credentials');
  t.same(await statuses(lab), ['RUNNING', 'RUNNING'], 'no task changed state; ls answers');
  t.match(
    lab.agentLog(),
    new RegExp(
      `endpoint: refusing connections from ${flooder.bridgeAddress.replace(/\./g, '\\.')}: 32 open \\(limit 32\\)`,
    ),
    'the flooder, and only it, is refused',
  );
  t.notMatch(lab.agentLog(), new RegExp(`refusing connections from ${victim.bridgeAddress.replace(/\./g, '\\.')}`));
  await f.stop();
  await waitFor('the flooder to be served again', async () => get(flooder, creds(flooder)) === 200, 30_000);
  t.equal((await lab.tn(['stop', victim.id, flooder.id])).code, 0, 'both stop cleanly');
});

t.test('control: without the limits the same flood starves the other task', { skip: needsRoot }, async (t) => {
  const args = ['--endpoint-max-connections', '1000000', '--endpoint-max-connections-per-task', '1000000'];
  const { lab, victim, flooder, creds } = await setup(t, args);
  // The agent reads /proc for a pause only when it did not start it itself (its own pauses' exits
  // are events): a restarted agent adopts both tasks, so their pauses are checked on its timer.
  await lab.killAgent('SIGTERM');
  await lab.startAgent(args, { nofile: AGENT_FDS });
  t.equal(get(victim, creds(victim), 30_000), 200, 'adopted: the victim reads its credentials');
  const f = await flood(lab, flooder.id);
  t.comment(`flooder: ${f.line} (open, refused)`);
  t.ok(Number(f.line.split(' ')[1]) > AGENT_FDS / 2, "the flooder holds most of the agent's descriptors");
  t.not(get(victim, creds(victim), 10_000), 200, 'the victim is not served within 10 s: the attack is real');
  // The agent cannot even read /proc now: that is no reason to stop a task.
  await waitFor(
    'the pause watch to find it cannot look',
    () => /cannot check its pause container: EMFILE/.test(lab.agentLog()),
    15_000,
  );
  await f.stop();
  await waitFor('the victim to be served again', async () => get(victim, creds(victim)) === 200, 30_000);
  t.same(await statuses(lab), ['RUNNING', 'RUNNING'], 'no task was stopped for an error that is not an exit');
  t.equal((await lab.tn(['stop', victim.id, flooder.id])).code, 0, 'and both stop cleanly afterwards');
});
