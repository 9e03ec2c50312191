// A test's lab (namespaces, agent, state dir) goes also when the test process never reaches its
// teardown: killed by SIGTERM (tap's timeout) it sweeps its labs itself; killed by SIGKILL, the
// next test process that loads the harness sweeps them. Control: a live process's lab stays.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { REPO } from '../cni/process.js';
import { needsRoot } from './harness.js';

interface Made {
  prefix: string;
  stateDir: string;
  agentPid: number;
}

// A child test process that makes one lab with its agent through the harness, prints it, and waits.
const child = () => {
  const c = spawn(
    process.execPath,
    [
      '--import=tsx',
      '--input-type=module',
      '-e',
      `
  const { makeLab } = await import(${JSON.stringify(join(REPO, 'test/agent/harness.ts'))});
  const lab = await makeLab({ teardown() {} }, { enis: 1 });
  const agentPid = lab.agentPid();
  console.log(JSON.stringify({ prefix: lab.prefix, stateDir: lab.stateDir, agentPid }));
  setInterval(() => {}, 1000);
`,
    ],
    { cwd: REPO, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const made = new Promise<Made>((resolve, reject) => {
    let out = '';
    c.stdout!.on('data', (d: Buffer) => {
      out += d;
      if (out.includes('\n')) resolve(JSON.parse(out));
    });
    c.on('exit', () => reject(new Error('the child ended before it made a lab')));
  });
  const exited = new Promise<void>((resolve) => c.on('exit', () => resolve()));
  return { c, made, exited };
};

// Running: not gone and not a zombie waiting for its parent.
const isAlive = (pid: number): boolean => {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
};

const present = (lab: Made) => ({
  lab: existsSync(`/var/run/netns/${lab.prefix}-lab`),
  vpc: existsSync(`/var/run/netns/${lab.prefix}-vpc`),
  agent: isAlive(lab.agentPid),
  stateDir: existsSync(lab.stateDir),
});
const ALL = { lab: true, vpc: true, agent: true, stateDir: true };
const NONE = { lab: false, vpc: false, agent: false, stateDir: false };

t.test('SIGTERM: the killed test process sweeps its lab', { skip: needsRoot, timeout: 300_000 }, async (t) => {
  const { c, made, exited } = child();
  const lab = await made;
  t.same(present(lab), ALL, 'namespaces, agent and state dir while the process runs');
  c.kill('SIGTERM');
  await exited;
  t.same(present(lab), NONE, 'all gone after SIGTERM');
});

t.test(
  "SIGKILL: the next test process sweeps the dead one's lab, not a live one's",
  { skip: needsRoot, timeout: 300_000 },
  async (t) => {
    const dead = child();
    const alive = child();
    const [deadLab, aliveLab] = await Promise.all([dead.made, alive.made]);
    t.teardown(async () => {
      alive.c.kill('SIGTERM');
      await alive.exited;
    });
    dead.c.kill('SIGKILL');
    await dead.exited;
    t.same(present(deadLab), ALL, 'control: SIGKILL leaves the lab (no hook runs)');
    const next = spawn(
      process.execPath,
      [
        '--import=tsx',
        '--input-type=module',
        '-e',
        `await import(${JSON.stringify(join(REPO, 'test/agent/harness.ts'))});`,
      ],
      { cwd: REPO, stdio: 'inherit' },
    );
    await new Promise((resolve) => next.on('exit', resolve));
    t.same(present(deadLab), NONE, 'the next process that loads the harness sweeps it');
    t.same(present(aliveLab), ALL, "a live process's lab is left alone");
  },
);
