// Task definitions are refused the way the ECS API refuses them, with a message that names the
// field (a dotted path) and its value; and the CLI shows that message as its one error line.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { parseEniSpec } from '../../src/agent/task/eni.js';
import { checkForEngine } from '../../src/agent/runtime/engine/engine-runtime.js';
import { ProcessRuntime } from '../../src/agent/runtime/process/process-runtime.js';
import {
  parseTaskDefinition,
  startOrder,
  TaskDefinitionError,
  type TaskDefinition,
} from '../../src/agent/task/definition.js';
import { DEMO, PROCESS_DEMO, tasknet } from './harness.js';
import { readFileSync } from 'node:fs';

const c = (name: string, extra: object = {}) => ({ name, image: 'tasknet/busybox:1', command: ['true'], ...extra });
const def = (containers: object[], extra: object = {}) => ({
  family: 'f',
  memory: '256',
  containerDefinitions: containers,
  ...extra,
});

const refused = (
  t: Test,
  input: unknown,
  message: string | RegExp,
  check: (d: TaskDefinition) => void = () => undefined,
): void => {
  try {
    check(parseTaskDefinition(input));
    t.fail(`accepted, expected: ${message}`);
  } catch (error) {
    t.type(error, TaskDefinitionError);
    if (typeof message === 'string') t.equal((error as Error).message, message);
    else t.match((error as Error).message, message);
  }
};

t.test('the demo task definitions are valid', async (t) => {
  const demo = parseTaskDefinition(JSON.parse(readFileSync(join(DEMO, 'task.json'), 'utf8')));
  t.equal(demo.family, 'demo-web');
  t.equal(demo.cpu, 256);
  t.equal(demo.memory, 512);
  t.same(
    demo.containers.map((x) => [x.name, x.essential, x.argv]),
    [
      ['web', true, ['node', 'web.mjs']],
      ['api', true, ['node', 'api.mjs']],
    ],
  );
  t.same(
    startOrder(demo.containers).map((w) => w.map((x) => x.name)),
    [['api'], ['web']],
    'web depends on api: api starts first',
  );
  const api = demo.containers[1]!;
  t.same([api.user, api.readonlyRootFilesystem, api.memory], ['65534', true, 128]);
  t.same(api.healthCheck, {
    command: ['CMD-SHELL', 'wget -q -O /dev/null http://127.0.0.1:8080/health || exit 1'],
    interval: 5,
    timeout: 2,
    retries: 3,
    startPeriod: 0,
  });
  t.doesNotThrow(() => checkForEngine(demo, { allowPrivileged: false, cgroupfs: true }), 'the engine runtime runs it');
  for (const file of ['task.json', 'other-task.json']) {
    const local = parseTaskDefinition(JSON.parse(readFileSync(join(PROCESS_DEMO, file), 'utf8')));
    t.doesNotThrow(() => new ProcessRuntime().check(local), `the process runtime runs process/${file}`);
  }
  t.same(parseTaskDefinition(def([c('a', { entryPoint: ['sh', '-c'], command: ['echo hi'] })])).containers[0]!.argv, [
    'sh',
    '-c',
    'echo hi',
  ]);
  t.equal(parseTaskDefinition(def([c('a')], { cpu: '0.5 vCPU', memory: '1 GB' })).cpu, 512);
  t.equal(parseTaskDefinition(def([c('a')], { memory: '1GB' })).memory, 1024);
  const pasted = def([c('a', { mountPoints: [], volumesFrom: [], systemControls: [] })], {
    taskDefinitionArn: 'arn:...',
    revision: 7,
    status: 'ACTIVE',
  });
  t.equal(
    parseTaskDefinition(pasted).revision,
    7,
    'describe-task-definition output is accepted as is (its empty lists too)',
  );
});

t.test('ECS rules, each refused with the field and the value', async (t) => {
  const cases: [string, unknown, string | RegExp][] = [
    ['not an object', 'nope', 'invalid config "nope": must be an object'],
    ['no family', { containerDefinitions: [c('a')], memory: '256' }, 'invalid family: is required'],
    [
      'bad family',
      def([c('a')], { family: 'my family' }),
      'invalid family "my family": must be 1-255 letters, digits, "_" or "-"',
    ],
    [
      'bridge mode',
      def([c('a')], { networkMode: 'bridge' }),
      'invalid networkMode "bridge": tasknet runs awsvpc tasks only (omit it or use "awsvpc")',
    ],
    ['no containers', def([]), /^invalid containerDefinitions \[\]: must have at least 1/],
    [
      '11 containers',
      def(Array.from({ length: 11 }, (_, i) => c(`c${i}`))),
      /^invalid containerDefinitions .*: must have at most 10 containers \(the ECS limit\)/,
    ],
    [
      'container without image',
      def([{ name: 'a', command: ['true'] }]),
      'invalid containerDefinitions.0.image: is required',
    ],
    [
      'unknown container field (typo)',
      def([c('a', { essentail: true })]),
      /^unknown key containerDefinitions\.0\.essentail \(did you mean essential\?\)$/,
    ],
    [
      'duplicate names',
      def([c('a'), c('a')]),
      'invalid containerDefinitions.1.name "a": is already the name of containerDefinitions.0',
    ],
    [
      'no essential container',
      def([c('a', { essential: false })]),
      'invalid containerDefinitions: at least one container must be essential',
    ],
    [
      'hostPort differs',
      def([c('a', { portMappings: [{ containerPort: 80, hostPort: 8080 }] })]),
      'invalid containerDefinitions.0.portMappings.0.hostPort 8080: must be absent or equal containerPort 80 in awsvpc mode',
    ],
    [
      'containerPort twice in a task',
      def([c('a', { portMappings: [{ containerPort: 80 }] }), c('b', { portMappings: [{ containerPort: 80 }] })]),
      'invalid containerDefinitions.1.portMappings.0.containerPort 80: 80/tcp is already mapped by containerDefinitions.0.portMappings.0: containers of an awsvpc task share one network stack',
    ],
    [
      'port out of range',
      def([c('a', { portMappings: [{ containerPort: 70000 }] })]),
      'invalid containerDefinitions.0.portMappings.0.containerPort 70000: must be a port number (1-65535)',
    ],
    [
      'bad protocol',
      def([c('a', { portMappings: [{ containerPort: 53, protocol: 'sctp' }] })]),
      'invalid containerDefinitions.0.portMappings.0.protocol "sctp": must be one of "tcp", "udp"',
    ],
    [
      'hostname in awsvpc',
      def([c('a', { hostname: 'x' })]),
      'invalid containerDefinitions.0.hostname "x": is not supported in awsvpc mode (the task hostname comes from its ENI)',
    ],
    [
      'links in awsvpc',
      def([c('a', { links: ['b'] })]),
      /^invalid containerDefinitions\.0\.links \["b"\]: are not supported in awsvpc mode/,
    ],
    [
      "container memory over the task's",
      def([c('a', { memory: 512 })]),
      'invalid containerDefinitions.0.memory 512: must not exceed the task memory 256',
    ],
    [
      'reservation over limit',
      def([c('a', { memory: 64, memoryReservation: 128 })]),
      'invalid containerDefinitions.0.memoryReservation 128: must not exceed memory 64',
    ],
    ['bad task memory', def([c('a')], { memory: 'lots' }), 'invalid memory "lots": must be MiB (at least 6) or "N GB"'],
    [
      'bad task cpu',
      def([c('a')], { cpu: '2 cores' }),
      'invalid cpu "2 cores": must be CPU units (at least 128) or "N vCPU"',
    ],
    [
      'bad role ARN',
      def([c('a')], { taskRoleArn: 'my-role' }),
      'invalid taskRoleArn "my-role": must be an IAM role ARN (arn:aws:iam::123456789012:role/NAME)',
    ],
    [
      'environment not name/value',
      def([c('a', { environment: [{ name: 'A=B', value: 'x' }] })]),
      'invalid containerDefinitions.0.environment.0.name "A=B": must be a non-empty variable name without "="',
    ],
    [
      'command not strings',
      def([c('a', { command: ['sleep', 5] })]),
      'invalid containerDefinitions.0.command.1 5: must be a string',
    ],
    [
      'stopTimeout over 120',
      def([c('a', { stopTimeout: 300 })]),
      'invalid containerDefinitions.0.stopTimeout 300: must be 0-120 (seconds)',
    ],
    [
      'dependsOn unknown container',
      def([c('a', { dependsOn: [{ containerName: 'x', condition: 'START' }] })]),
      'invalid containerDefinitions.0.dependsOn.0.containerName "x": is not a container of this task',
    ],
    [
      'dependsOn itself',
      def([c('a', { dependsOn: [{ containerName: 'a', condition: 'START' }] })]),
      'invalid containerDefinitions.0.dependsOn.0.containerName "a": a container cannot depend on itself',
    ],
    [
      'dependsOn cycle',
      def([
        c('a', { dependsOn: [{ containerName: 'b', condition: 'START' }] }),
        c('b', { dependsOn: [{ containerName: 'a', condition: 'START' }] }),
      ]),
      'invalid containerDefinitions: dependsOn has a cycle among a, b',
    ],
    [
      'SUCCESS on an essential container',
      def([c('a'), c('b', { dependsOn: [{ containerName: 'a', condition: 'SUCCESS' }] })]),
      'invalid containerDefinitions.1.dependsOn.0.condition "SUCCESS": a is essential: COMPLETE and SUCCESS need a non-essential container',
    ],
    [
      'HEALTHY on a container without a health check',
      def([c('a', { essential: false }), c('b', { dependsOn: [{ containerName: 'a', condition: 'HEALTHY' }] })]),
      'invalid containerDefinitions.1.dependsOn.0.condition "HEALTHY": a has no healthCheck',
    ],
    [
      'a field tasknet does not honour',
      def([c('a', { mountPoints: [{ sourceVolume: 'v', containerPath: '/data' }] })]),
      'invalid containerDefinitions.0.mountPoints [{"sourceVolume":"v","containerPath":"/data"}]: is not honoured by tasknet: remove it',
    ],
    [
      'logConfiguration',
      def([c('a', { logConfiguration: { logDriver: 'awslogs' } })]),
      'invalid containerDefinitions.0.logConfiguration {"logDriver":"awslogs"}: is not honoured by tasknet: remove it',
    ],
    [
      'a linuxParameters field tasknet does not honour',
      def([c('a', { linuxParameters: { tmpfs: [{ containerPath: '/t', size: 1 }] } })]),
      /^invalid containerDefinitions\.0\.linuxParameters\.tmpfs .*: is not honoured by tasknet: remove it/,
    ],
    [
      'bad healthCheck command',
      def([c('a', { healthCheck: { command: ['curl', 'x'] } })]),
      'invalid containerDefinitions.0.healthCheck.command ["curl","x"]: must be ["CMD", ARG...] or ["CMD-SHELL", "COMMAND"]',
    ],
    [
      'healthCheck interval',
      def([c('a', { healthCheck: { command: ['CMD', 'true'], interval: 1 } })]),
      'invalid containerDefinitions.0.healthCheck.interval 1: must be 5-300 (seconds)',
    ],
    [
      'unknown ulimit',
      def([c('a', { ulimits: [{ name: 'files', softLimit: 1, hardLimit: 1 }] })]),
      /^invalid containerDefinitions\.0\.ulimits\.0\.name "files": must be one of/,
    ],
    [
      'ulimit soft over hard',
      def([c('a', { ulimits: [{ name: 'nofile', softLimit: 10, hardLimit: 5 }] })]),
      'invalid containerDefinitions.0.ulimits.0.softLimit 10: must not exceed hardLimit 5',
    ],
    [
      'capability with CAP_',
      def([c('a', { linuxParameters: { capabilities: { add: ['CAP_NET_ADMIN'] } } })]),
      'invalid containerDefinitions.0.linuxParameters.capabilities.add.0 "CAP_NET_ADMIN": must be a capability name such as "NET_ADMIN" (no "CAP_" prefix) or "ALL"',
    ],
    [
      'bad user',
      def([c('a', { user: 'root; rm' })]),
      'invalid containerDefinitions.0.user "root; rm": must be USER, UID, USER:GROUP or UID:GID',
    ],
    [
      'environmentFiles not s3',
      def([c('a', { environmentFiles: [{ value: 'a.env', type: 'file' }] })]),
      /^invalid containerDefinitions\.0\.environmentFiles\.0\.type "file"/,
    ],
  ];
  for (const [name, input, message] of cases) await t.test(name, async (t) => refused(t, input, message));
});

t.test('each runtime refuses by name what it cannot honour', async (t) => {
  const engine =
    (allowPrivileged = false, cgroupfs = true) =>
    (d: TaskDefinition) =>
      checkForEngine(d, { allowPrivileged, cgroupfs });
  await t.test('engine', async (t) => {
    refused(
      t,
      { family: 'f', containerDefinitions: [c('a')] },
      'invalid containerDefinitions.0.memory: memory or memoryReservation is required when the task has no memory',
      engine(),
    );
    refused(
      t,
      def([c('a', { privileged: true })]),
      'invalid containerDefinitions.0.privileged true: this agent does not run privileged containers (start it with --allow-privileged)',
      engine(),
    );
    t.doesNotThrow(
      () => engine(true)(parseTaskDefinition(def([c('a', { privileged: true })]))),
      'privileged with --allow-privileged',
    );
    refused(
      t,
      def([c('a')]),
      /^invalid memory 256: task-level limits need an engine with the cgroupfs cgroup driver/,
      engine(false, false),
    );
    t.doesNotThrow(
      () => engine()(parseTaskDefinition(def([{ name: 'a', image: 'nginx' }]))),
      "no command: the image's",
    );
  });
  await t.test('process', async (t) => {
    const proc = (d: TaskDefinition) => new ProcessRuntime().check(d);
    const local = (extra: object = {}) => ({
      family: 'f',
      containerDefinitions: [{ name: 'a', image: 'local', command: ['true'], ...extra }],
    });
    t.doesNotThrow(() =>
      proc(
        parseTaskDefinition(
          local({ linuxParameters: { capabilities: { drop: ['CHOWN'] }, initProcessEnabled: true } }),
        ),
      ),
    );
    refused(
      t,
      local({ image: 'nginx' }),
      /^invalid containerDefinitions\.0\.image "nginx": the process runtime has no images: use "local"/,
      proc,
    );
    refused(
      t,
      local({ command: undefined }),
      /^invalid containerDefinitions\.0\.command: is required .*no image to take a default command from/,
      proc,
    );
    refused(t, { ...local(), memory: '512' }, /^invalid memory 512: the process runtime cannot honour it/, proc);
    const fields: [string, object, string][] = [
      ['user', { user: '65534' }, 'user "65534"'],
      ['readonlyRootFilesystem', { readonlyRootFilesystem: true }, 'readonlyRootFilesystem true'],
      ['memory', { memory: 64 }, 'memory 64'],
      ['memoryReservation', { memoryReservation: 64 }, 'memoryReservation 64'],
      ['cpu', { cpu: 128 }, 'cpu 128'],
      [
        'ulimits',
        { ulimits: [{ name: 'nofile', softLimit: 1, hardLimit: 2 }] },
        'ulimits [{"name":"nofile","softLimit":1,"hardLimit":2}]',
      ],
      [
        'capabilities.add',
        { linuxParameters: { capabilities: { add: ['NET_ADMIN'] } } },
        'linuxParameters.capabilities.add ["NET_ADMIN"]',
      ],
      [
        'healthCheck',
        { healthCheck: { command: ['CMD', 'true'] } },
        'healthCheck {"command":["CMD","true"],"interval":30,"timeout":5,"retries":3,"startPeriod":0}',
      ],
      ['dockerLabels', { dockerLabels: { a: 'b' } }, 'dockerLabels {"a":"b"}'],
      ['privileged', { privileged: true }, 'privileged true'],
    ];
    for (const [name, extra, shown] of fields) {
      await t.test(name, async (t) =>
        refused(
          t,
          local(extra),
          `invalid containerDefinitions.0.${shown}: the process runtime cannot honour it (it runs host commands without an engine): run the task on the engine runtime`,
          proc,
        ),
      );
    }
  });
});

t.test('--eni specs', async (t) => {
  const eni = parseEniSpec('0E:12:34:56:78:9A,ip=10.0.0.20/24,ip=2001:db8::5/64,gw=10.0.0.1,gw=2001:db8::1');
  t.same(eni, {
    id: 'eni-0e123456789a',
    mac: '0e:12:34:56:78:9a',
    addresses: ['10.0.0.20/24', '2001:db8::5/64'],
    gateways: ['10.0.0.1', '2001:db8::1'],
    subnets: ['10.0.0.0/24', '2001:db8::5/64'],
  });
  const bad: [string, RegExp][] = [
    ['0e:12:34', /invalid MAC address "0e:12:34"/],
    ['01:00:5e:00:00:01,ip=10.0.0.2/24', /a multicast address cannot be an ENI/],
    ['0e:12:34:56:78:9a', /needs at least one ip=CIDR/],
    ['0e:12:34:56:78:9a,ip=10.0.0.20', /invalid ip="10.0.0.20": expected an address with a prefix length/],
    ['0e:12:34:56:78:9a,ip=10.0.0.20/24,gw=x', /invalid gw="x"/],
    ['0e:12:34:56:78:9a,ip=10.0.0.20/24,gw=2001:db8::1', /gateway 2001:db8::1 is IPv6 but the ENI has no IPv6 address/],
    ['0e:12:34:56:78:9a,ip=10.0.0.20/24,mtu=9000', /invalid --eni key "mtu"/],
  ];
  for (const [spec, message] of bad) t.throws(() => parseEniSpec(spec), message, spec);
});

t.test('the CLI prints the validation error as one line, before talking to any agent', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tasknet-taskdef-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'bad.json');
  writeFileSync(file, JSON.stringify(def([c('web', { portMappings: [{ containerPort: 80, hostPort: 81 }] })])));
  const r = await tasknet(['run', file, '--eni', 'auto', '--state-dir', join(dir, 'no-agent')]);
  t.equal(r.code, 1);
  t.equal(
    r.stderr,
    `tasknet run: ${file}: invalid containerDefinitions.0.portMappings.0.hostPort 81: must be absent or equal containerPort 80 in awsvpc mode\n`,
  );
  writeFileSync(file, '{"family": "x",\n  "containerDefinitions": [\n   {"name": "a",}\n]}');
  t.equal(
    (await tasknet(['run', file, '--eni', 'auto', '--state-dir', dir])).stderr,
    `tasknet run: ${file}: not valid JSON: Expected double-quoted property name at line 3, column 17\n`,
    'a JSON error gives line and column',
  );
  t.equal(
    (await tasknet(['run', join(dir, 'missing.json'), '--eni', 'auto', '--state-dir', dir])).stderr,
    `tasknet run: ${join(dir, 'missing.json')}: no such file\n`,
    'a missing file is one plain line',
  );
  writeFileSync(file, JSON.stringify(def([c('web', { essentail: true, memmory: 5 })])));
  t.equal(
    (await tasknet(['run', file, '--eni', 'auto', '--state-dir', dir])).stderr,
    `tasknet run: ${file}: unknown key containerDefinitions.0.essentail (did you mean essential?), and containerDefinitions.0.memmory (did you mean memory?)\n`,
    "an unknown key is named with the key it is likely a typo of, without the container's JSON",
  );
  const noAgent = await tasknet([
    'run',
    join(PROCESS_DEMO, 'task.json'),
    '--eni',
    'auto',
    '--state-dir',
    join(dir, 'no-agent'),
  ]);
  t.equal(noAgent.code, 1);
  t.match(noAgent.stderr, /^tasknet run: no agent is running with state dir .*no-agent \(start one: /);
  t.equal(noAgent.stderr.split('\n').length, 2, 'one line');
});

t.test('--help everywhere, and usage errors exit 2', async (t) => {
  for (const cmd of [[], ['agent'], ['run'], ['ls'], ['stop'], ['logs'], ['exec'], ['lab'], ['cni']]) {
    const r = await tasknet([...cmd, '--help']);
    t.equal(r.code, 0, `tasknet ${cmd.join(' ')} --help`);
    t.match(r.stdout, /^usage: tasknet/);
  }
  for (const cmd of ['agent', 'run', 'ls', 'stop', 'logs', 'exec', 'lab', 'image', 'cni', 'install', 'uninstall']) {
    const r = await tasknet([cmd, '--bogus']);
    t.equal(r.code, 2, `tasknet ${cmd} --bogus exits 2`);
    t.match(r.stderr, new RegExp(`^tasknet ${cmd}: Unknown option '--bogus'`));
    t.equal(r.stderr.trimEnd().split('\n').length, 1, `tasknet ${cmd} --bogus: one line`);
  }
  const typo = await tasknet(['sl']);
  t.equal(typo.code, 2);
  t.equal(typo.stderr, 'tasknet: unknown command "sl" (did you mean ls?); tasknet --help lists the commands\n');
  t.equal((await tasknet(['stpo'])).stderr.includes('did you mean stop?'), true);
  t.notMatch((await tasknet(['frobnicate'])).stderr, /did you mean/, 'no suggestion for a word far from every command');
  const helpLs = await tasknet(['help', 'ls']);
  t.equal(helpLs.code, 0);
  t.match(helpLs.stdout, /^usage: tasknet ls /, 'help CMD is CMD --help');
  const helpTypo = await tasknet(['help', 'sl']);
  t.equal(helpTypo.code, 2, 'help of an unknown command is a usage error');
  t.equal(helpTypo.stderr, typo.stderr);
  t.equal(helpTypo.stdout, '');
  // A missing or wrong argument: one line naming the mistake and where the usage is, exit 2.
  for (const [argv, message] of [
    [['lab', 'sideways'], 'tasknet lab: expected up or down (tasknet lab --help shows the usage)'],
    [
      ['run', join(PROCESS_DEMO, 'task.json')],
      'tasknet run: --eni is required (MAC,ip=CIDR,gw=IP or auto) (tasknet run --help shows the usage)',
    ],
    [['run'], 'tasknet run: expected one TASKDEF.json (tasknet run --help shows the usage)'],
    [['stop'], 'tasknet stop: expected a TASK (tasknet stop --help shows the usage)'],
    [
      ['image'],
      'tasknet image: expected load FILE.tar, build DIR -t NAME or ls (tasknet image --help shows the usage)',
    ],
    [['cni'], 'tasknet cni: expected a verb and a conflist (tasknet cni --help shows the usage)'],
  ] as const) {
    const r = await tasknet([...argv]);
    t.equal(r.code, 2, `tasknet ${argv.join(' ')} exits 2`);
    t.equal(r.stderr, `${message}\n`, `tasknet ${argv.join(' ')}: one line`);
  }
});
