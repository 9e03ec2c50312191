// `npm run demo`: the seed example of awsvpc, end to end, on real containers, in a lab of its own.
//   1. lab up: a "host" netns with the agent and a private Docker engine, a "VPC" netns with the
//      subnet gateway, 2 fake ENIs; then the demo's image is built offline on the lab's images
//   2. run a task with `web` (port 80) and `api` (port 8080, healthy before web starts); web asks
//      api over 127.0.0.1:8080
//   3. a client in the VPC fetches the web page through the task's ENI address
//   4. the task reads its role credentials from 169.254.170.2
//   5. another task fails to read them (and reads its own)
//   6. the task cannot undo its instance-metadata block (no NET_ADMIN in a container)
//   7. stop everything, lab down, and prove nothing is left
// With no dockerd installed (or TASKNET_DEMO_RUNTIME=process) it runs on the process runtime.
// Exits non-zero if any step fails; whatever happens, the lab is removed.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '../..');
const demo = join(root, 'examples/demo');
const tasknetBin = join(root, 'bin/tasknet');
const lab = process.env.TASKNET_DEMO_LAB ?? 'tasknet-demo';
// A fixed state dir, so a demo that was killed half-way is cleaned up by the next one.
const stateDir =
  process.env.TASKNET_DEMO_STATE_DIR ?? (existsSync('/run') ? '/run/tasknet-demo' : join(tmpdir(), 'tasknet-demo'));
const common = ['--state-dir', stateDir];
const hasDockerd = (process.env.PATH ?? '').split(':').some((dir) => dir && existsSync(join(dir, 'dockerd')));
const runtime = process.env.TASKNET_DEMO_RUNTIME ?? (hasDockerd ? 'engine' : 'process');
const taskFiles = runtime === 'engine' ? demo : join(demo, 'process');
const bold = (s) => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s);
const started = Date.now();

class StepFailed extends Error {}

const show = (argv) => console.log(`$ ${argv.map((a) => (/[\s"$]/.test(a) ? `'${a}'` : a)).join(' ')}`);

// Runs a command, echoing it and its output; `expect` is the exit status the step needs.
const sh = (argv, { expect = 0, quiet = false, display } = {}) => {
  show(display ?? argv);
  const r = spawnSync(argv[0], argv.slice(1), { cwd: root, encoding: 'utf8' });
  const out = `${r.stdout ?? ''}${r.stderr ?? ''}`;
  if (!quiet && out.trim()) console.log(out.trimEnd().replace(/^/gm, '  '));
  const ok = expect === 'nonzero' ? r.status !== 0 : r.status === expect;
  if (!ok)
    throw new StepFailed(`expected exit ${expect}, got ${r.status ?? r.signal}${quiet ? `: ${out.trim()}` : ''}`);
  return r.stdout ?? '';
};

// --state-dir goes right after the command name: after `exec ... --` it would be the command's.
const tasknet = (args, opts = {}) =>
  sh([tasknetBin, args[0], ...common, ...args.slice(1)], { ...opts, display: ['tasknet', ...args] });

const step = (title) => console.log(`\n${bold(`==> ${title}`)}`);

const netnsNames = () => (existsSync('/var/run/netns') ? readdirSync('/var/run/netns') : []);
const rootLinks = () =>
  spawnSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' })
    .stdout.split('\n')
    .map((l) => l.split(':')[1]?.trim())
    .filter(Boolean)
    .sort()
    .join(' ');

const main = async () => {
  if (process.getuid?.() !== 0)
    throw new StepFailed('the demo needs root (it creates network namespaces); try: sudo npm run demo');
  if (!existsSync(join(root, 'dist/tasknet.cjs'))) sh(['npm', 'run', 'build'], { quiet: true });
  if (existsSync(stateDir) || netnsNames().includes(`${lab}-lab`)) {
    step('0. A demo lab is left from an earlier run: removing it first');
    tasknet(['lab', 'down', '--lab', lab]);
  }
  const linksBefore = rootLinks();
  const dockerBefore = ['/var/lib/docker', '/etc/docker/key.json', '/run/docker.sock', '/var/run/docker.sock'].filter(
    (p) => existsSync(p),
  );
  const tasks = []; // running
  const allTasks = [];
  let failure;
  try {
    step(
      `1. A lab of its own: a "host" netns with the agent${runtime === 'engine' ? ' and a private Docker engine' : ''}, a "VPC" netns with the gateway, 2 ENIs`,
    );
    tasknet(['lab', 'up', '--lab', lab, '--enis', '2', '--runtime', runtime, '--block-instance-metadata']);
    if (runtime === 'engine') {
      console.log("  the demo image: its node programs on the lab's tasknet/node:20, built offline");
      tasknet(['image', 'build', demo, '-t', 'tasknet-demo/app:1'], { quiet: true });
      tasknet(['image', 'ls']);
    } else {
      console.log('  (no dockerd here: the process runtime runs host commands, without images or file isolation)');
    }

    step('2. Run the task: web (port 80) and api (port 8080), web fetches api over 127.0.0.1:8080');
    const taskA = JSON.parse(
      tasknet(['run', join(taskFiles, 'task.json'), '--eni', 'auto', '--json'], { quiet: true }),
    );
    tasks.push(taskA.id);
    allTasks.push(taskA.id);
    console.log(
      `  task ${taskA.id}: ENI ${taskA.eni.mac} ${taskA.eni.addresses[0]}, bridge ${taskA.bridgeAddress}, ` +
        `credentials id ${taskA.credentialsId}, all containers started in ${taskA.timings.totalMs} ms`,
    );
    tasknet(['ls']);

    step("3. A client in the VPC netns fetches the web page through the task's ENI address");
    const eniIp = taskA.eni.addresses[0].split('/')[0];
    const client = [
      'nsenter',
      `--net=/var/run/netns/${lab}-vpc`,
      process.execPath,
      join(demo, 'client.mjs'),
      `http://${eniIp}/`,
    ];
    // "Started" means the processes run; the servers may take a moment more to bind their ports.
    for (let i = 0; i < 30 && spawnSync(client[0], client.slice(1)).status !== 0; i++)
      await new Promise((r) => setTimeout(r, 100));
    sh(client, { display: ['nsenter', `--net=/var/run/netns/${lab}-vpc`, 'node', 'client.mjs', `http://${eniIp}/`] });

    step('4. The task reads its role credentials from 169.254.170.2 ($AWS_CONTAINER_CREDENTIALS_RELATIVE_URI)');
    tasknet(['exec', taskA.id, '--container', 'web', '--', 'node', 'creds.mjs']);

    step('5. Another task cannot read them (its own credentials work)');
    const taskB = JSON.parse(
      tasknet(['run', join(taskFiles, 'other-task.json'), '--eni', 'auto', '--json'], { quiet: true }),
    );
    tasks.push(taskB.id);
    allTasks.push(taskB.id);
    console.log(`  task ${taskB.id}: ENI ${taskB.eni.addresses[0]}, bridge ${taskB.bridgeAddress}`);
    tasknet(['exec', taskB.id, '--', 'node', 'creds.mjs', `/v2/credentials/${taskA.credentialsId}`], {
      expect: 'nonzero',
    });
    tasknet(['exec', taskB.id, '--', 'node', 'creds.mjs']);
    console.log('  (the endpoint answers only the task whose bridge address owns the id, and says nothing else)');

    step('6. The task cannot undo its instance-metadata block: no NET_ADMIN in its containers');
    tasknet(['exec', taskA.id, '--container', 'web', '--', 'ip', 'route', 'del', 'blackhole', '169.254.169.254'], {
      expect: 'nonzero',
    });
    tasknet(['exec', taskA.id, '--container', 'web', '--', 'ip', 'route']);

    step('7. Logs, then stop both tasks (SIGTERM, containers exit, CNI DEL, ENIs back to the host)');
    tasknet(['logs', taskA.id]);
    tasknet(['stop', taskA.id, taskB.id]);
    tasks.length = 0;
  } catch (error) {
    failure = error;
    const log = join(stateDir, 'agent.log');
    if (existsSync(log))
      console.log(`\nagent log (tail):\n${readFileSync(log, 'utf8').trim().split('\n').slice(-15).join('\n')}`);
  } finally {
    step(`8. lab down${tasks.length > 0 ? ' (after a failure: tasks are stopped by the teardown)' : ''}`);
    try {
      tasknet(['lab', 'down', '--lab', lab]);
    } catch (error) {
      console.log(`  lab down failed: ${error.message}`);
    }
  }

  step('9. Nothing is left');
  const leftovers = [];
  const netns = netnsNames().filter((n) => n.startsWith(`${lab}-`) || allTasks.some((id) => n === `tasknet-${id}`));
  if (netns.length > 0) leftovers.push(`netns: ${netns.join(', ')}`);
  if (existsSync(stateDir)) leftovers.push(`state dir ${stateDir}`);
  const linksAfter = rootLinks();
  if (linksAfter !== linksBefore)
    leftovers.push(`links of this machine changed: before [${linksBefore}] after [${linksAfter}]`);
  const procs = spawnSync('pgrep', ['-af', stateDir], { encoding: 'utf8' }).stdout.trim();
  if (procs) leftovers.push(`processes: ${procs}`);
  // The lab's engine had its own roots: nothing of Docker may appear in the machine's own places.
  const dockerTraces = ['/var/lib/docker', '/etc/docker/key.json', '/run/docker.sock', '/var/run/docker.sock'].filter(
    (p) => existsSync(p) && !dockerBefore.includes(p),
  );
  if (dockerTraces.length > 0) leftovers.push(`engine files outside the lab: ${dockerTraces.join(', ')}`);
  console.log(`  netns named ${lab}-* or tasknet-<task id>: ${netns.length === 0 ? 'none' : netns.join(', ')}`);
  console.log(`  state dir ${stateDir}: ${existsSync(stateDir) ? 'still there' : 'removed'}`);
  console.log(
    `  links of this machine's own netns: ${linksAfter === linksBefore ? 'unchanged' : 'CHANGED'} (${linksAfter})`,
  );
  console.log(`  processes of the lab (agent, dockerd, containerd, shims, containers): ${procs ? procs : 'none'}`);
  console.log(
    `  engine files in the machine's own places (/var/lib/docker, /etc/docker/key.json): ${dockerTraces.length === 0 ? 'none' : dockerTraces.join(', ')}`,
  );
  if (leftovers.length > 0)
    throw new StepFailed(`left behind: ${leftovers.join('; ')}${failure ? `; and earlier: ${failure.message}` : ''}`);
  if (failure) throw failure;
};

// Ctrl-C ends the step in progress (its command gets the signal too); the lab is still removed.
process.on('SIGINT', () => {
  console.log('\ninterrupted: cleaning up');
});

main().then(
  () => {
    console.log(`\n${bold(`demo passed in ${((Date.now() - started) / 1000).toFixed(1)} s`)}`);
  },
  (error) => {
    console.error(`\n${bold('demo FAILED')}: ${error instanceof StepFailed ? error.message : error.stack}`);
    // The lab may still be up if the failure came before step 7 could run.
    spawnSync(tasknetBin, ['lab', 'down', '--lab', lab, ...common], { stdio: 'ignore' });
    process.exitCode = 1;
  },
);
