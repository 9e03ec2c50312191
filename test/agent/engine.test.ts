// The engine runtime: tasks as real OCI containers on a private Docker engine that each lab starts
// in its own host netns (tasknet lab up --runtime engine). What a task definition asks for is what
// the kernel enforces, each checked from the kernel's side (cgroup files, /proc, routes), and every
// protection is shown against a control where the same attempt, without it, succeeds.
import { createWriteStream, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { dirname, join } from 'node:path';
import t, { type Test } from 'tap';
import { connectEngine, type Engine } from '../../src/agent/runtime/engine/client.js';
import { LABEL_TASK } from '../../src/agent/runtime/runtime.js';
import {
  assertClean,
  DEMO,
  inNetns,
  ipJson,
  makeLab,
  needsRoot,
  taskdef,
  waitFor,
  writeTaskdef,
  type Lab,
} from './harness.js';

const hasDockerd = (process.env.PATH ?? '').split(':').some((d) => d !== '' && existsSync(join(d, 'dockerd')));
const skip = needsRoot || (hasDockerd ? false : 'needs dockerd (scripts/setup.sh installs docker.io)');

const BUSYBOX = 'tasknet/busybox:1';
const APP = 'tasknet-demo/app:1';

// A busybox container that idles until stopped (tini as PID 1 forwards SIGTERM).
const idle = (name: string, extra: object = {}): object => ({
  name,
  image: BUSYBOX,
  command: ['sleep', '2147483647'],
  memory: 32,
  stopTimeout: 2,
  linuxParameters: { initProcessEnabled: true },
  ...extra,
});

const engineLab = async (
  t: Test,
  opts: { enis?: number; blockImds?: boolean } = {},
): Promise<{ lab: Lab; engine: Engine }> => {
  const lab = await makeLab(t, {
    runtime: 'engine',
    enis: opts.enis ?? 2,
    ...(opts.blockImds ? { blockImds: true } : {}),
  });
  const engine = await connectEngine(join(lab.stateDir, 'engine', 'docker.sock'));
  return { lab, engine };
};

const exec = async (lab: Lab, taskId: string, container: string, argv: string[]) => {
  const r = await lab.tn(['exec', taskId, '--container', container, '--', ...argv]);
  return { code: r.code, out: `${r.stdout}${r.stderr}`.trim() };
};

const taskContainers = async (engine: Engine, taskId: string) =>
  engine.listContainers({ all: true, filters: { label: [`${LABEL_TASK}=${taskId}`] } });

// The memory limit of a process's cgroup (or of its parent: the task's), read where the kernel keeps it.
const memoryLimitOf = (pid: number, { parent = false } = {}): number => {
  const lines = readFileSync(`/proc/${pid}/cgroup`, 'utf8').trim().split('\n');
  const up = (path: string) => (parent ? dirname(path) : path);
  const v1 = lines.find((l) => /^\d+:([^:]*,)?memory(,[^:]*)?:/.test(l));
  if (v1) return Number(readFileSync(`/sys/fs/cgroup/memory${up(v1.split(':')[2]!)}/memory.limit_in_bytes`, 'utf8'));
  const v2 = lines.find((l) => l.startsWith('0::'))!.slice(3);
  return Number(readFileSync(`/sys/fs/cgroup${up(v2)}/memory.max`, 'utf8'));
};

const MIB = 1024 * 1024;

t.test('a task on real containers: images, users, read-only root, limits, health, teardown', { skip }, async (t) => {
  const { lab, engine } = await engineLab(t);
  const build = await lab.tn(['image', 'build', DEMO, '-t', APP]);
  t.equal(build.code, 0, `image build: ${build.stderr}`);

  const a = await lab.run(join(DEMO, 'task.json'));
  t.equal(a.runtime, 'engine');
  const inEngine = await taskContainers(engine, a.id);
  t.equal(inEngine.length, 3, 'the engine holds the pause and both containers, labelled with the task id');
  const pause = await engine.getContainer(lab.taskFile(a.id).pause.engineId).inspect();
  t.equal(pause.HostConfig.NetworkMode, 'none', 'the pause container has no network of its own');
  for (const name of ['web', 'api']) {
    const c = await engine.getContainer(a.containers.find((x: any) => x.name === name).engineId).inspect();
    t.equal(c.HostConfig.NetworkMode, `container:${pause.Id}`, `${name} joins the pause container's netns`);
    t.equal(c.Config.Image, APP);
  }
  const ls = (await lab.tn(['ls'])).stdout;
  t.match(ls, /api:running\(healthy\)/, 'ls shows the health of a container with a health check');
  const web = lab.taskFile(a.id).containers.find((c: any) => c.name === 'web');
  const api = lab.taskFile(a.id).containers.find((c: any) => c.name === 'api');
  t.ok(Date.parse(web.startedAt) > Date.parse(api.startedAt), 'web (dependsOn api HEALTHY) started after api');

  const page = inNetns(lab.vpcNs, [process.execPath, join(DEMO, 'client.mjs'), 'http://10.0.0.10/']);
  t.equal(page.code, 0, page.out);
  t.match(
    page.out,
    /api over http:\/\/127\.0\.0\.1:8080\/ answered: \{"service":"api"/,
    'web reaches api over 127.0.0.1',
  );

  const meta = await exec(lab, a.id, 'web', ['sh', '-c', 'wget -q -O - "$ECS_CONTAINER_METADATA_URI_V4/task"']);
  t.equal(meta.code, 0, meta.out);
  const tm = JSON.parse(meta.out);
  t.same(tm.Limits, { CPU: 0.25, Memory: 512 }, 'task metadata: the task-level limits');
  const apiMeta = tm.Containers.find((x: any) => x.Name === 'api');
  t.same(
    [apiMeta.DockerId, apiMeta.Image, apiMeta.DockerName],
    [api.engineId, APP, `tasknet-${a.id}-api`],
    "task metadata: the engine's container",
  );
  t.same(apiMeta.Health, { status: 'HEALTHY' });
  const stats = JSON.parse(
    (await exec(lab, a.id, 'web', ['sh', '-c', 'wget -q -O - "$ECS_CONTAINER_METADATA_URI_V4/stats"'])).out,
  );
  t.equal(stats.memory_stats.limit, 128 * MIB, "v4 /stats: the engine's stats of the container (its memory limit)");
  t.ok(stats.cpu_stats && stats.pids_stats, "in Docker's stats shape");
  const taskStats = JSON.parse(
    (await exec(lab, a.id, 'web', ['sh', '-c', 'wget -q -O - "$ECS_CONTAINER_METADATA_URI_V4/task/stats"'])).out,
  );
  t.same(
    Object.keys(taskStats).sort(),
    [api.engineId, web.engineId].sort(),
    "v4 /task/stats: keyed by each container's Docker id",
  );
  const otherStats = await exec(lab, a.id, 'web', [
    'wget',
    '-q',
    '-O',
    '-',
    `http://169.254.170.2/v4/${a.containers[0].metadataId.replace(/-[0-9a-f]+$/, '-00000000')}/stats`,
  ]);
  t.not(otherStats.code, 0, 'an unknown id gets no stats');
  t.same(await exec(lab, a.id, 'api', ['id', '-u']), { code: 0, out: '65534' }, 'user "65534" runs as 65534');
  t.same(await exec(lab, a.id, 'web', ['id', '-u']), { code: 0, out: '0' }, 'control: without user, root');
  const ro = await exec(lab, a.id, 'api', ['touch', '/x']);
  t.not(ro.code, 0);
  t.match(ro.out, /Read-only file system/, 'readonlyRootFilesystem: the root is read-only');
  t.equal(memoryLimitOf(api.init.pid), 128 * MIB, "memory 128: the container's cgroup limit");
  t.equal(
    memoryLimitOf(pause.State.Pid, { parent: true }),
    512 * MIB,
    "task memory 512: the task's cgroup limit, over all its containers",
  );

  // Enforcement, with a control: dd holds a 100 MiB buffer, over a 64 MiB limit and under 256 MiB.
  const oom = await lab.run(
    taskdef('oom', [
      {
        name: 'small',
        image: BUSYBOX,
        command: ['dd', 'if=/dev/zero', 'of=/dev/null', 'bs=100M', 'count=1'],
        memory: 64,
        essential: false,
      },
      {
        name: 'large',
        image: BUSYBOX,
        command: ['dd', 'if=/dev/zero', 'of=/dev/null', 'bs=100M', 'count=1'],
        memory: 256,
        essential: false,
      },
      idle('keep', { readonlyRootFilesystem: false }),
    ]),
  );
  await waitFor(
    'both dd to exit',
    async () =>
      (await lab.tn(['ls', '--json'])).json
        .find((x: any) => x.id === oom.id)
        .containers.filter((c: any) => c.status === 'STOPPED').length === 2,
    60_000,
  );
  const exits = Object.fromEntries(
    (await lab.tn(['ls', '--json'])).json
      .find((x: any) => x.id === oom.id)
      .containers.map((c: any) => [c.name, c.exitCode]),
  );
  t.equal(exits.small, 137, 'over its 64 MiB limit, the kernel kills it');
  t.equal(exits.large, 0, 'control: the same with 256 MiB succeeds');
  t.equal(
    (await exec(lab, oom.id, 'keep', ['touch', '/x'])).code,
    0,
    'control: a root that is not read-only takes writes',
  );

  t.equal((await lab.tn(['stop', a.id, oom.id])).code, 0);
  t.same(await taskContainers(engine, a.id), [], 'the engine holds nothing of a stopped task');
  t.same(await taskContainers(engine, oom.id), [], 'nor of the other');
  t.same((await engine.listVolumes()).Volumes ?? [], [], 'no volume left');
  t.match((await lab.tn(['logs', a.id, 'api'])).stdout, /api listening on :8080/, 'the logs outlive the containers');
  assertClean(t, lab, [a.id, oom.id], 2);
});

t.test('isolation on the engine runtime, each with its control', { skip }, async (t) => {
  const { lab } = await engineLab(t, { enis: 3, blockImds: true });
  const victim = await lab.run(
    taskdef('victim', [idle('main')], { taskRoleArn: 'arn:aws:iam::123456789012:role/victim' }),
  );
  const attacker = await lab.run(
    taskdef('attacker', [idle('main')], { taskRoleArn: 'arn:aws:iam::123456789012:role/attacker' }),
  );
  const admin = await lab.run(
    taskdef('admin', [
      idle('main', { linuxParameters: { initProcessEnabled: true, capabilities: { add: ['NET_ADMIN'] } } }),
    ]),
  );
  const blackholes = (id: string) =>
    ipJson('-n', `tasknet-${id}`, 'route', 'show', 'type', 'blackhole').map((r) => r.dst);

  await t.test('a task cannot remove its instance-metadata blackhole', async (t) => {
    t.same(blackholes(attacker.id), ['169.254.169.254']);
    const denied = await exec(lab, attacker.id, 'main', ['ip', 'route', 'del', 'blackhole', '169.254.169.254']);
    t.not(denied.code, 0);
    t.match(denied.out, /Operation not permitted/);
    t.same(blackholes(attacker.id), ['169.254.169.254'], 'the blackhole is still there');
    const control = await exec(lab, admin.id, 'main', ['ip', 'route', 'del', 'blackhole', '169.254.169.254']);
    t.equal(control.code, 0, `control: with NET_ADMIN added the same command works: ${control.out}`);
    t.same(blackholes(admin.id), [], 'control: its blackhole is gone');
  });

  await t.test("a task cannot read another task's credentials or metadata, by any path", async (t) => {
    const creds = (id: string) => `http://169.254.170.2/v2/credentials/${id}`;
    const own = await exec(lab, victim.id, 'main', ['wget', '-q', '-O', '-', creds(victim.credentialsId)]);
    t.equal(own.code, 0, 'the victim reads its own');
    t.match(own.out, /role\/victim/);
    const stolen = await exec(lab, attacker.id, 'main', ['wget', '-q', '-O', '-', creds(victim.credentialsId)]);
    t.not(stolen.code, 0, "the attacker is refused the victim's id from its own netns");
    const meta = await exec(lab, attacker.id, 'main', [
      'wget',
      '-q',
      '-O',
      '-',
      `http://169.254.170.2/v4/${victim.containers[0].metadataId}`,
    ]);
    t.not(meta.code, 0, "and the victim's metadata");
    // Another path: into the victim's netns, then ask as the victim. It works from the host (the
    // control), so the attempt is real; from the container there is no netns file to open and no
    // SYS_ADMIN to open it with.
    const viaHost = inNetns(`tasknet-${attacker.id}`, [
      'nsenter',
      `--net=/var/run/netns/tasknet-${victim.id}`,
      process.execPath,
      '-e',
      'fetch(process.argv[1]).then(async (r) => { console.log(r.status); })',
      creds(victim.credentialsId),
    ]);
    t.equal(viaHost.out.trim(), '200', "control: whoever can enter the victim's netns gets its credentials");
    const netnsDir = await exec(lab, attacker.id, 'main', ['ls', '/var/run/netns']);
    t.not(netnsDir.code, 0, `the container sees no netns files: ${netnsDir.out}`);
    const caps = await exec(lab, attacker.id, 'main', ['grep', 'CapEff', '/proc/self/status']);
    const eff = BigInt(`0x${caps.out.split(/\s+/)[1]}`);
    t.equal(eff & (1n << 21n), 0n, 'and has no CAP_SYS_ADMIN (setns)');
    t.equal(eff & (1n << 12n), 0n, 'nor CAP_NET_ADMIN');
  });

  await t.test("a task sees neither the host's files nor its processes", async (t) => {
    const hostFile = join(lab.stateDir, 'lab.json');
    t.ok(readFileSync(hostFile).length > 0, 'control: the host has the file');
    t.not((await exec(lab, attacker.id, 'main', ['cat', hostFile])).code, 0, 'the container cannot read it');
    const ps = await exec(lab, attacker.id, 'main', ['ps', '-o', 'pid,comm']);
    t.notMatch(ps.out, /dockerd|containerd|node/, `only the container's own processes: ${ps.out}`);
  });

  t.equal((await lab.tn(['stop', victim.id, attacker.id, admin.id])).code, 0);
  assertClean(t, lab, [victim.id, attacker.id, admin.id], 3);
});

t.test('what else a container definition asks for, the engine runtime does', { skip }, async (t) => {
  const { lab, engine } = await engineLab(t, { enis: 2 });
  writeFileSync(join(lab.stateDir, 'app.env'), '# comment\nFROM_FILE=file\nSHARED=from-file\n', { mode: 0o600 });
  writeFileSync(
    join(lab.stateDir, 'secrets.json'),
    JSON.stringify({ 'arn:aws:secretsmanager:us-east-1:123456789012:secret:db': 's3cret' }),
    { mode: 0o600 },
  );
  await lab.killAgent('SIGTERM');
  await lab.startAgent(['--secrets-file', join(lab.stateDir, 'secrets.json')]);

  const def = taskdef('features', [
    { name: 'init', image: BUSYBOX, command: ['sh', '-c', 'echo prepared'], essential: false, memory: 16 },
    idle('main', {
      dependsOn: [{ containerName: 'init', condition: 'SUCCESS' }],
      environment: [{ name: 'SHARED', value: 'from-environment' }],
      environmentFiles: [{ value: 'app.env', type: 's3' }],
      secrets: [{ name: 'DB_PASSWORD', valueFrom: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:db' }],
      ulimits: [{ name: 'nofile', softLimit: 1000, hardLimit: 2000 }],
      linuxParameters: { initProcessEnabled: true, capabilities: { drop: ['CHOWN'] } },
      dockerLabels: { team: 'net' },
      workingDirectory: '/tmp',
    }),
    {
      name: 'stubborn',
      image: BUSYBOX,
      command: ['sh', '-c', 'trap "" TERM; echo up; while :; do sleep 1; done'],
      memory: 16,
      stopTimeout: 1,
      essential: false,
    },
  ]);
  const task = await lab.run(def);
  const env = (await exec(lab, task.id, 'main', ['env'])).out.split('\n');
  t.ok(env.includes('FROM_FILE=file'), 'environmentFiles are read (a local path beside the task definition)');
  t.ok(env.includes('SHARED=from-environment'), 'environment wins over the files, as in ECS');
  t.ok(env.includes('DB_PASSWORD=s3cret'), "secrets come from the agent's secrets provider");
  t.ok(env.some((l) => l.startsWith('ECS_CONTAINER_METADATA_URI_V4=http://169.254.170.2/v4/')));
  t.notOk(
    env.some((l) => l.startsWith('ECS_CONTAINER_METADATA_URI=')),
    'no v3 URI: tasknet serves v4 only',
  );
  t.notMatch(
    readFileSync(join(lab.stateDir, 'tasks', task.id, 'task.json'), 'utf8'),
    /s3cret/,
    'the secret is not in the task record',
  );
  // The container's own processes (PID 1 here); `docker exec` gives exec'd ones the hard limit as soft.
  t.match(
    (await exec(lab, task.id, 'main', ['grep', 'Max open files', '/proc/1/limits'])).out,
    /^Max open files\s+1000\s+2000\s/,
    'ulimits',
  );
  t.same(await exec(lab, task.id, 'main', ['pwd']), { code: 0, out: '/tmp' }, 'workingDirectory');
  const chown = await exec(lab, task.id, 'main', ['chown', '65534', '/tmp']);
  t.not(chown.code, 0, 'capabilities.drop CHOWN: chown fails');
  t.equal((await exec(lab, task.id, 'stubborn', ['chown', '65534', '/tmp'])).code, 0, 'control: with CHOWN it works');
  const main = await engine.getContainer(task.containers.find((c: any) => c.name === 'main').engineId).inspect();
  t.equal(main.Config.Labels.team, 'net', 'dockerLabels');
  const init = (await lab.tn(['ls', '--json'])).json[0].containers.find((c: any) => c.name === 'init');
  t.same([init.status, init.exitCode], ['STOPPED', 0], 'main started after init succeeded');
  t.equal(
    (await lab.tn(['exec', task.id, '--container', 'main', '--', 'sh', '-c', 'exit 7'])).code,
    7,
    "exec exits with the command's code",
  );
  t.same((await lab.tn(['logs', task.id, 'stubborn', '--tail', '1'])).stdout, 'up\n', 'logs --tail from the engine');

  const follow = lab.tn(['logs', task.id, 'init', '-f']);
  t.same((await follow).stdout, 'prepared\n', 'logs -f of an exited container ends with its output');

  const t0 = Date.now();
  t.equal((await lab.tn(['stop', task.id])).code, 0);
  t.ok(
    Date.now() - t0 < 20_000,
    'a container that ignores SIGTERM is killed after its stopTimeout, not the default 30 s',
  );
  t.match(lab.agentLog(), new RegExp(`task ${task.id}: container stubborn ignored SIGTERM for 1000 ms: killed`));

  // An essential container's exit stops the task, with the reason ECS gives.
  // (It may exit before the start is over: then the run itself fails, for the same reason.)
  await lab.tn([
    'run',
    writeTaskdef(
      lab.stateDir,
      taskdef('short', [{ name: 'once', image: BUSYBOX, command: ['sh', '-c', 'exit 3'], memory: 16 }]),
    ),
    '--eni',
    'auto',
  ]);
  await waitFor('the task to stop', async () => (await lab.tn(['ls', '--json'])).json.length === 0, 30_000);
  const stopped = (await lab.tn(['ls', '--all', '--json'])).json.find((x: any) => x.family === 'short');
  t.match(stopped.stoppedReason, /Essential container in task exited \(once: exit code 3\)/);

  // A dependency that never turns healthy fails the start, and leaves nothing.
  const sick = await lab.tn([
    'run',
    writeTaskdef(
      lab.stateDir,
      taskdef('sick', [
        idle('sick', {
          essential: false,
          healthCheck: { command: ['CMD', 'false'], interval: 5, timeout: 2, retries: 1 },
        }),
        idle('main', { dependsOn: [{ containerName: 'sick', condition: 'HEALTHY' }] }),
      ]),
    ),
    '--eni',
    'auto',
  ]);
  t.equal(sick.code, 1);
  t.match(
    sick.stderr,
    /failed to start: container sick is unhealthy/,
    'HEALTHY: an unhealthy dependency fails the start',
  );

  // Images: one the engine lacks (and cannot pull here) is named; `image load` brings one in.
  const missing = await lab.tn([
    'run',
    writeTaskdef(lab.stateDir, taskdef('nope', [idle('main', { image: 'example.invalid/none:1' })])),
    '--eni',
    'auto',
  ]);
  t.equal(missing.code, 1);
  t.match(
    missing.stderr,
    /image example\.invalid\/none:1 is not on the engine and could not be pulled .*tasknet image load FILE\.tar/,
  );
  const archive = join(lab.stateDir, 'busybox.tar');
  await pipeline(await engine.getImage(BUSYBOX).get(), createWriteStream(archive));
  await engine.getImage(BUSYBOX).remove({ noprune: true }); // untags it (tasknet/pause:1 keeps the layers)
  t.equal(
    await engine
      .getImage(BUSYBOX)
      .inspect()
      .then(
        () => 'there',
        () => 'gone',
      ),
    'gone',
  );
  const loaded = await lab.tn(['image', 'load', archive]);
  t.equal(loaded.code, 0, loaded.stderr);
  t.match(loaded.stdout, /Loaded image: tasknet\/busybox:1/, 'image load brings it back from a docker save archive');
  t.same(
    (await engine.listContainers({ all: true, filters: { label: [LABEL_TASK] } })).map((c) => c.Names[0]),
    [],
    'no container of any task is left in the engine',
  );
  assertClean(t, lab, [task.id, stopped.id], 2);
});

t.test('a restarted agent reconciles against the engine', { skip }, async (t) => {
  const { lab, engine } = await engineLab(t, { enis: 2 });
  const kept = await lab.run(taskdef('kept', [idle('main')]));
  const lost = await lab.run(taskdef('lost', [idle('main')]));
  // A container of no task this agent knows (a crash between create and record).
  const stray = await engine.createContainer({
    Image: BUSYBOX,
    Cmd: ['sleep', '1000'],
    Labels: { [LABEL_TASK]: 'f'.repeat(32) },
  });
  await lab.killAgent('SIGKILL');
  // While the agent is down, the engine loses the other task's pause container.
  await engine.getContainer(lab.taskFile(lost.id).pause.engineId).remove({ force: true });
  await lab.startAgent();
  const tasks = (await lab.tn(['ls', '--json'])).json;
  t.same(
    tasks.map((x: any) => [x.id, x.status]),
    [[kept.id, 'RUNNING']],
    'the live task is adopted, the other torn down',
  );
  t.equal(
    await engine
      .getContainer(stray.id)
      .inspect()
      .catch(() => undefined),
    undefined,
    'the stray container is removed',
  );
  t.match(lab.agentLog(), /removed containers of no known task/);
  t.same(await taskContainers(engine, lost.id), [], 'nothing of the lost task is left in the engine');
  // The adopted task is still watched: its essential container dies, the task stops.
  await engine.getContainer(kept.containers[0].engineId).kill();
  await waitFor('the adopted task to stop', async () => (await lab.tn(['ls', '--json'])).json.length === 0, 30_000);
  t.same(await taskContainers(engine, kept.id), [], 'and the engine holds nothing of it');
  assertClean(t, lab, [kept.id, lost.id], 2);
});
