// The agent's spawn server (src/netlink/spawn-server.ts): children forked by a shell, answering as
// spawn() would. spawn-modes.test.ts holds it to the same results as spawn() for every outcome;
// this file covers what is its own: arguments that a shell would otherwise interpret, many
// children at once, timeouts, the shell dying, and the files it leaves nowhere.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { childPids } from '../../src/agent/runtime/process/process-ref.js';
import { spawnCounted } from '../../src/netlink/run.js';
import { SpawnServer, stopSpawnServer, useSpawnServer } from '../../src/netlink/spawn-server.js';
import { REPO } from '../cni/process.js';

const DIR = '/run/tasknet-spawn';
const PIDNS = readlinkSync('/proc/self/ns/pid').replace(/\D/g, '');
const dirsOf = (pid: number): string[] =>
  existsSync(DIR) ? readdirSync(DIR).filter((n) => n.startsWith(`${PIDNS}-${pid}-`)) : [];

// The shell of a server: the one child of this process running the spawner script.
const shellPid = (): number => {
  const children = readFileSync(`/proc/self/task/${process.pid}/children`, 'utf8')
    .split(' ')
    .filter(Boolean)
    .map(Number);
  const pid = children.find((c) => readFileSync(`/proc/${c}/cmdline`, 'utf8').includes('tasknet-spawner'));
  if (pid === undefined) throw new Error('no spawner shell among this process’s children');
  return pid;
};

const until = async (what: string, check: () => boolean, limitMs = 30_000): Promise<void> => {
  const end = Date.now() + limitMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`still not: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
};

t.test('arguments reach the child byte for byte, with nothing interpreted', async (t) => {
  const server = new SpawnServer();
  t.teardown(() => server.close());
  const args = [
    "it's",
    '$HOME',
    '`id`',
    '$(id)',
    'a;b',
    'a|b',
    '  spaced  ',
    '',
    '\\n',
    '"quoted"',
    '*',
    'ünïcödé',
    '-n',
    '>out',
  ];
  const r = await server.run('printf', ['%s|', ...args]);
  t.same(r, { exitCode: 0, stdout: `${args.join('|')}|`, stderr: '', timedOut: false });
  t.equal(server.run('printf', ['a\nb']), undefined, 'a newline in an argument is refused (run.ts spawns it itself)');
  t.equal(server.run('printf', ['a\0b']), undefined, 'and so is a NUL byte');
  t.same(
    await server.run('sh', ['-c', 'echo "$0 $PWD"']),
    {
      exitCode: 0,
      stdout: `sh ${process.cwd()}\n`,
      stderr: '',
      timedOut: false,
    },
    "argv[0] as given, and the agent's working directory",
  );
});

t.test('many children at once each get their own input and output', async (t) => {
  const server = new SpawnServer();
  t.teardown(() => server.close());
  const n = 40;
  const results = await Promise.all(
    Array.from({ length: n }, (_, i) =>
      server.run('sh', ['-c', `cat; echo err${i} >&2; exit ${i % 7}`], { input: `in${i}\n`.repeat(i + 1) }),
    ),
  );
  results.forEach((r, i) => {
    t.same(
      r,
      { exitCode: i % 7, stdout: `in${i}\n`.repeat(i + 1), stderr: `err${i}\n`, timedOut: false },
      `child ${i}`,
    );
  });
  const [dir] = dirsOf(process.pid);
  t.same(readdirSync(join(DIR, dir!)), [], 'every file of every child removed');
  // bash reaps each subshell as it ends (dash would keep all 40 as zombies until its next command)
  const shell = shellPid();
  await until('the shell has no child left', () => childPids(shell).length === 0);
  t.pass('no zombie left under the shell');
});

t.test('a timeout kills the child, not the server', async (t) => {
  const server = new SpawnServer();
  t.teardown(() => server.close());
  const seconds = `300.${process.pid}`; // names this child for pgrep
  const r = await server.run('sleep', [seconds], { timeout: 200 });
  t.same(r, { exitCode: -1, stdout: '', stderr: '', timedOut: true });
  t.equal(spawnSync('pgrep', ['-f', `sleep ${seconds}`]).status, 1, 'the child is gone');
  t.same(await server.run('echo', ['still here']), {
    exitCode: 0,
    stdout: 'still here\n',
    stderr: '',
    timedOut: false,
  });
});

t.test('a timeout answers at once, even when the shell does not', async (t) => {
  const server = new SpawnServer({ startDeadlineMs: 1_000 });
  t.teardown(() => server.close());
  await server.run('true', []);
  const shell = shellPid();
  process.kill(shell, 'SIGSTOP');
  t.same(await server.run('true', [], { timeout: 100 }), { exitCode: -1, stdout: '', stderr: '', timedOut: true });
  // With no timeout, the start deadline: the stopped shell is killed and what it never started
  // comes back null (run.ts then spawns it itself).
  t.equal(await server.run('true', []), null, 'not started by a stopped shell');
  t.equal(server.usable, false, 'and the server is done');
});

t.test("bash runs nothing of the agent's environment", async (t) => {
  const marker = `/tmp/tasknet-bashfunc-${process.pid}`;
  t.teardown(() => rmSync(marker, { force: true }));
  const saved = { ...process.env };
  process.env['BASH_FUNC_echo%%'] = `() { touch ${marker}; }`;
  process.env.BASH_ENV = `/dev/null; touch ${marker}`;
  process.env.TMOUT = '1';
  const server = new SpawnServer();
  process.env = saved;
  t.teardown(() => server.close());
  t.same(await server.run('printf', ['ok']), { exitCode: 0, stdout: 'ok', stderr: '', timedOut: false });
  t.notOk(existsSync(marker), 'no exported function or startup file ran');
});

t.test('a server whose shell dies: what it started still reports, nothing new starts', async (t) => {
  const server = new SpawnServer();
  const seconds = `301.${process.pid}`; // names this child for pgrep
  const started = server.run('sleep', [seconds]);
  await until('the sleep is running', () => spawnSync('pgrep', ['-f', `sleep ${seconds}`]).status === 0);
  process.kill(shellPid(), 'SIGKILL');
  await until('the server says it is done', () => !server.usable);
  t.equal(await server.run('true', []), null, 'a dead server starts nothing (run.ts then spawns it itself)');
  spawnSync('pkill', ['-f', `sleep ${seconds}`]); // the orphan, still reporting through its subshell
  t.same(
    await started,
    { exitCode: -1, stdout: '', stderr: '', timedOut: false },
    'killed by a signal: -1, as spawn() says',
  );
  await until('its directory is gone', () => dirsOf(process.pid).length === 0);
});

t.test('nothing is left when the agent is killed, and what a killed shell left is swept', async (t) => {
  // An "agent" that starts a server, then is killed: its shell reads EOF, removes its directory.
  const script = `
    import { SpawnServer } from ${JSON.stringify(join(REPO, 'src/netlink/spawn-server.ts'))};
    const s = new SpawnServer();
    await s.run('true', []);
    process.stdout.write('ready\\n');
    setInterval(() => {}, 1000);
  `;
  const agent = spawn(process.execPath, ['--import=tsx', '--input-type=module', '-e', script], {
    cwd: REPO,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise((resolve) => agent.stdout.once('data', resolve));
  t.equal(dirsOf(agent.pid!).length, 1, 'the agent has a server directory');
  agent.kill('SIGKILL');
  await until('the killed agent’s directory is gone', () => dirsOf(agent.pid!).length === 0);
  t.pass('removed by its shell');

  // A directory whose shell was killed too: the next server of any agent removes it.
  const stale = join(DIR, `${PIDNS}-${agent.pid}-stale1`);
  mkdirSync(stale);
  const server = new SpawnServer();
  t.teardown(() => server.close());
  t.notOk(existsSync(stale), 'swept by the next server');
});

t.test('what an agent asked for just before it died is not started after', async (t) => {
  // The agent's requests wait in the shell's stdin while the shell is stopped; the agent dies.
  const marker = `/tmp/tasknet-posthumous-${process.pid}`;
  t.teardown(() => rmSync(marker, { force: true }));
  const script = `
    import { readFileSync } from 'node:fs';
    import { SpawnServer } from ${JSON.stringify(join(REPO, 'src/netlink/spawn-server.ts'))};
    const s = new SpawnServer();
    await s.run('true', []);
    const shell = readFileSync('/proc/self/task/' + process.pid + '/children', 'utf8').trim().split(' ')
      .find((c) => readFileSync('/proc/' + c + '/cmdline', 'utf8').includes('tasknet-spawner'));
    process.kill(Number(shell), 'SIGSTOP');
    s.run('touch', [${JSON.stringify(marker)}]);
    setTimeout(() => process.stdout.write(shell + '\\n'), 100); // after the write reached the pipe
    setInterval(() => {}, 1000);
  `;
  const agent = spawn(process.execPath, ['--import=tsx', '--input-type=module', '-e', script], {
    cwd: REPO,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const shell = Number(await new Promise<string>((resolve) => agent.stdout.once('data', (d) => resolve(String(d)))));
  t.notOk(existsSync(marker), 'not started while the shell is stopped');
  // Reaped, not only a zombie leader: until its last thread has exited, the shell's parent is
  // still that thread (Linux hands orphans to a live thread of the same process first).
  const gone = new Promise((resolve) => agent.once('exit', resolve));
  agent.kill('SIGKILL');
  await gone;
  process.kill(shell, 'SIGCONT');
  await until('its shell is gone', () => !existsSync(`/proc/${shell}/cmdline`));
  t.notOk(existsSync(marker), 'the request waiting in the pipe was not started');
});

t.test('close() removes the directory', async (t) => {
  const server = new SpawnServer();
  await server.run('true', []);
  t.equal(dirsOf(process.pid).length, 1);
  await server.close();
  t.equal(dirsOf(process.pid).length, 0);
});

t.test("the agent's children: a dead server is replaced, and no child is lost", async (t) => {
  useSpawnServer();
  t.teardown(stopSpawnServer);
  t.match(await spawnCounted(['echo', 'one']), { exitCode: 0, stdout: 'one' });
  const first = shellPid();
  process.kill(first, 'SIGKILL');
  // The next child may reach the dead shell before its exit is seen: it was never started there,
  // and run.ts spawns it itself.
  t.match(await spawnCounted(['echo', 'two']), { exitCode: 0, stdout: 'two' }, 'the next child runs');
  t.match(await spawnCounted(['echo', 'three']), { exitCode: 0, stdout: 'three' }, 'and the one after');
  t.not(shellPid(), first, 'through a new shell');
});
