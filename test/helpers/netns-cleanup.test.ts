// The test namespaces go also when a test process never reaches its teardown: killed by SIGTERM
// (tap's timeout, a `timeout` around the run) it removes them itself; killed by SIGKILL, the next
// test process that loads the helper removes them. Control: a namespace of a live process, or one
// not named by the helper, is never swept.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { REPO } from '../cni/process.js';
import { makeNetns, needsRoot } from './netns.js';

// A child test process that makes one namespace through the helper, prints its name, and waits.
const child = () =>
  spawn(
    process.execPath,
    [
      '--import=tsx',
      '--input-type=module',
      '-e',
      `
  const { makeNetns } = await import(${JSON.stringify(join(REPO, 'test/helpers/netns.ts'))});
  const [name] = await makeNetns({ teardown() {} }, 1, 'tcl');
  console.log(name);
  setInterval(() => {}, 1000);
`,
    ],
    { cwd: REPO, stdio: ['ignore', 'pipe', 'inherit'] },
  );

const nameOf = (c: ReturnType<typeof child>): Promise<string> =>
  new Promise((resolve, reject) => {
    let out = '';
    c.stdout!.on('data', (d: Buffer) => {
      out += d;
      if (out.includes('\n')) resolve(out.trim());
    });
    c.on('exit', () => reject(new Error('the child ended before it made a namespace')));
  });

const exited = (c: ReturnType<typeof child>): Promise<void> =>
  new Promise((resolve) => {
    if (c.exitCode !== null || c.signalCode !== null) resolve();
    else c.on('exit', () => resolve());
  });

const exists = (name: string): boolean => existsSync(`/var/run/netns/${name}`);

t.test('SIGTERM: the killed test process removes its namespaces', { skip: needsRoot }, async (t) => {
  const c = child();
  const name = await nameOf(c);
  t.ok(exists(name), `${name} exists while the process runs`);
  c.kill('SIGTERM');
  await exited(c);
  t.notOk(exists(name), 'gone after SIGTERM');
});

t.test(
  'SIGKILL: the next test process sweeps what the dead one left, and only that',
  { skip: needsRoot },
  async (t) => {
    const dead = child();
    const deadName = await nameOf(dead);
    const alive = child();
    const aliveName = await nameOf(alive);
    t.teardown(() => {
      alive.kill('SIGKILL');
      execFileSync('ip', ['netns', 'del', aliveName], { stdio: 'ignore' });
    });
    const [foreign] = await makeNetns(t, 1, 'tcl');
    dead.kill('SIGKILL');
    await exited(dead);
    t.ok(exists(deadName), 'SIGKILL leaves the namespace (nothing runs in the killed process)');
    const sweeper = child(); // loading the helper sweeps
    const sweeperName = await nameOf(sweeper);
    sweeper.kill('SIGTERM');
    await exited(sweeper);
    t.notOk(exists(deadName), 'the next process that loads the helper removed it');
    t.ok(exists(aliveName), 'control: the namespace of a live process stays');
    t.ok(exists(foreign), "and so does this process's own");
    t.notOk(exists(sweeperName), 'the sweeper removed its own at SIGTERM');
  },
);
