// An exec'd plugin waits for its children with spawnSync (useBlockingSpawn, src/netlink/run.ts);
// the agent has them forked by its spawn server (useSpawnServer, src/netlink/spawn-server.ts),
// and anything else spawns them asynchronously. All three must give the same ExecResult for every
// outcome.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import t from 'tap';
import { REPO } from '../cni/process.js';

const script = `
import { spawnCounted, useBlockingSpawn, ipCalls, onIpCall } from ${JSON.stringify(join(REPO, 'src/netlink/run.ts'))};
import { useSpawnServer, stopSpawnServer } from ${JSON.stringify(join(REPO, 'src/netlink/spawn-server.ts'))};
if (process.env.SPAWN_MODE === 'blocking') useBlockingSpawn();
if (process.env.SPAWN_MODE === 'server') useSpawnServer();
const seen = [];
onIpCall((argv) => {
  seen.push(argv.join(' '));
});
const cases = {
  stdout: await spawnCounted(['sh', '-c', 'printf "a\\\\nb\\\\n"']),
  input: await spawnCounted(['cat'], { input: 'line 1\\nline 2\\n' }),
  failure: await spawnCounted(['sh', '-c', 'echo oops >&2; exit 3']),
  missing: await spawnCounted(['/nonexistent/tasknet-no-such-binary']),
  timeout: await spawnCounted(['sleep', '5'], { timeout: 100 }),
  signal: await spawnCounted(['sh', '-c', 'kill -9 $$']),
  ip: await spawnCounted(['ip', '-V']),
  parent: await spawnCounted(['sh', '-c', 'echo $PPID']),
};
await stopSpawnServer();
cases.parent.stdout = cases.parent.stdout === String(process.pid) ? 'this process' : 'another process';
process.stdout.write(JSON.stringify({ cases, calls: ipCalls(), seen }));
`;

const run = (mode: string) => {
  const r = spawnSync(process.execPath, ['--import=tsx', '--input-type=module', '-e', script], {
    cwd: REPO,
    encoding: 'utf8',
    env: { ...process.env, SPAWN_MODE: mode },
  });
  if (r.status !== 0) throw new Error(r.stderr);
  return JSON.parse(r.stdout);
};

t.test('blocking, asynchronous and served children give the same results', async (t) => {
  const a = run('async');
  const b = run('blocking');
  const c = run('server');
  // Node names the call that failed to start a binary, and a served child's parent is the spawn
  // server's shell: proof of which path ran, and the only differences allowed.
  t.match(a.cases.missing.stderr, /: spawn \//, 'asynchronous');
  t.match(b.cases.missing.stderr, /: spawnSync \//, 'blocking');
  b.cases.missing.stderr = b.cases.missing.stderr.replace('spawnSync ', 'spawn ');
  t.equal(a.cases.parent.stdout, 'this process', 'asynchronous: a child of this process');
  t.equal(c.cases.parent.stdout, 'another process', 'served: a child of the spawn server');
  c.cases.parent.stdout = 'this process';
  t.same(b, a, 'blocking: same stdout, stderr, exit codes, timeouts, counts and hooks');
  t.same(c, a, 'served: the same');
  t.match(a.cases, {
    stdout: { exitCode: 0, stdout: 'a\nb', timedOut: false },
    input: { exitCode: 0, stdout: 'line 1\nline 2' },
    failure: { exitCode: 3, stderr: 'oops' },
    missing: { exitCode: -1, stderr: /^\/nonexistent\/tasknet-no-such-binary: .*ENOENT/ },
    timeout: { exitCode: -1, timedOut: true },
    signal: { exitCode: -1, timedOut: false },
    ip: { exitCode: 0, stdout: /iproute2/ },
  });
  t.equal(a.calls, 8, 'every child counted');
});
