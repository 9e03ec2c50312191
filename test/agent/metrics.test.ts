// The agent's Prometheus metrics, counted from real work in a lab of its own: a task started and
// stopped through the CLI, endpoint requests made from inside the task, a start that fails in
// ecs-eni. Scraped over the control socket (as `curl --unix-socket` does) and over the loopback TCP
// port of --metrics-address, inside the lab's host netns.
import { spawnSync } from 'node:child_process';
import { request } from 'node:http';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { agentConfig } from '../../src/agent/cli/agent.js';
import { CliError } from '../../src/agent/cli/errors.js';
import {
  container,
  fetchInTask,
  inNetns,
  makeLab,
  needsRoot,
  taskdef,
  TASKNET,
  writeTaskdef,
  type Lab,
} from './harness.js';

const PORT = 9464; // in the lab's own netns: no other listener there

interface Scrape {
  status: number;
  contentType: string;
  body: string;
}

// GET /metrics over the agent's control socket.
const scrapeSocket = (lab: Lab): Promise<Scrape> =>
  new Promise((resolve, reject) => {
    const req = request({ socketPath: join(lab.stateDir, 'agent.sock'), path: '/metrics' }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => {
        body += d;
      });
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, contentType: String(res.headers['content-type']), body }),
      );
    });
    req.on('error', reject);
    req.end();
  });

// GET over TCP from inside the lab's host netns (where the agent and its loopback live).
const GET =
  'fetch(process.argv[1]).then(async r=>{console.log(JSON.stringify({status:r.status,type:r.headers.get("content-type"),body:await r.text()}))},e=>{console.log(JSON.stringify({status:0,body:String(e.cause?.code??e.message)}))})';
const getTcp = (lab: Lab, path: string): { status: number; type: string; body: string } =>
  JSON.parse(inNetns(lab.hostNs, [process.execPath, '-e', GET, `http://127.0.0.1:${PORT}${path}`], 30_000).out.trim());

// The value of one sample: `name` with at least the given labels (0 when the series is absent:
// a counter or histogram series appears with its first observation).
const sample = (body: string, name: string, labels: Record<string, string> = {}): number => {
  for (const line of body.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) return Number(m[3]);
  }
  return 0;
};

t.test('metrics count a real task, its CNI calls and its endpoint requests', { skip: needsRoot }, async (t) => {
  const lab = await makeLab(t, { enis: 2 });
  await lab.killAgent('SIGTERM');
  await lab.startAgent(['--metrics-address', `127.0.0.1:${PORT}`]);
  const before = await scrapeSocket(lab);
  t.equal(before.status, 200);
  t.match(before.contentType, /^text\/plain; version=0\.0\.4/, "the exposition format's content type");
  t.equal(sample(before.body, 'tasknet_tasks', { state: 'RUNNING' }), 0);
  t.match(before.body, /^tasknet_tasks\{state="RUNNING"\} 0$/m, 'a state with no task is 0, not absent');
  t.equal(sample(before.body, 'tasknet_task_start_duration_seconds_count'), 0);
  t.match(before.body, /^process_resident_memory_bytes \d+/m, 'the default process metrics');

  const task = await lab.run(taskdef('metrics', [container('main', ['sleep', 'infinity'])]));
  const running = (await scrapeSocket(lab)).body;
  t.equal(sample(running, 'tasknet_tasks', { state: 'RUNNING' }), 1, 'one task RUNNING');
  t.equal(
    sample(running, 'tasknet_task_start_duration_seconds_count', { runtime: 'process', result: 'success' }),
    1,
    'one start observed',
  );
  t.ok(
    sample(running, 'tasknet_task_start_duration_seconds_sum', { runtime: 'process', result: 'success' }) > 0,
    'with its duration',
  );
  for (const plugin of ['ecs-eni', 'ecs-bridge']) {
    t.equal(
      sample(running, 'tasknet_cni_plugin_duration_seconds_count', { plugin, verb: 'ADD', result: 'success' }),
      1,
      `one ${plugin} ADD`,
    );
    t.equal(
      sample(running, 'tasknet_cni_plugin_duration_seconds_count', { plugin, verb: 'DEL' }),
      0,
      `no ${plugin} DEL yet`,
    );
  }

  const creds = await fetchInTask(
    lab,
    task.id,
    `http://169.254.170.2/v2/credentials/${task.credentialsId}`,
    undefined,
    30_000,
  );
  t.equal(creds.status, 200, creds.body);
  const unknown = await fetchInTask(lab, task.id, 'http://169.254.170.2/v4/no-such-id/task', undefined, 30_000);
  t.equal(unknown.status, 404);
  const served = (await scrapeSocket(lab)).body;
  t.equal(
    sample(served, 'tasknet_endpoint_requests_total', { path: 'credentials', status: '200' }),
    1,
    'the credentials request',
  );
  t.equal(
    sample(served, 'tasknet_endpoint_requests_total', { path: 'metadata', status: '404' }),
    1,
    'the refused metadata request',
  );

  t.equal((await lab.tn(['stop', task.id])).code, 0);
  const stopped = (await scrapeSocket(lab)).body;
  t.equal(sample(stopped, 'tasknet_tasks', { state: 'RUNNING' }), 0, 'no task RUNNING after stop');
  for (const plugin of ['ecs-eni', 'ecs-bridge']) {
    t.equal(
      sample(stopped, 'tasknet_cni_plugin_duration_seconds_count', { plugin, verb: 'DEL', result: 'success' }),
      1,
      `one ${plugin} DEL`,
    );
  }

  await t.test('a start that fails in ecs-eni: its error code and the failed start', async (t) => {
    const def = writeTaskdef(lab.stateDir, taskdef('no-eni', [container('main', ['sleep', 'infinity'])]));
    const run = await lab.tn(['run', def, '--eni', '0e:99:00:00:00:01,ip=10.0.0.99/24,gw=10.0.0.1']);
    t.equal(run.code, 1, 'no such ENI: the run fails');
    const body = (await scrapeSocket(lab)).body;
    const errors = body.split('\n').filter((l) => l.startsWith('tasknet_cni_errors_total{'));
    t.equal(errors.length, 1, errors.join('\n'));
    t.match(
      errors[0],
      /^tasknet_cni_errors_total\{plugin="ecs-eni",verb="ADD",code="\d+"\} 1$/,
      'ecs-eni ADD failed once, by its CNI code',
    );
    t.equal(
      sample(body, 'tasknet_cni_plugin_duration_seconds_count', { plugin: 'ecs-eni', verb: 'ADD', result: 'error' }),
      1,
    );
    t.equal(
      sample(body, 'tasknet_task_start_duration_seconds_count', { runtime: 'process', result: 'error' }),
      1,
      'the failed start',
    );
  });

  await t.test('the TCP listener serves /metrics and /health, nothing else', async (t) => {
    const metrics = getTcp(lab, '/metrics');
    t.equal(metrics.status, 200);
    t.match(metrics.type, /^text\/plain; version=0\.0\.4/);
    t.equal(
      sample(metrics.body, 'tasknet_task_start_duration_seconds_count', { result: 'success' }),
      1,
      'the same registry',
    );
    const health = getTcp(lab, '/health');
    t.equal(health.status, 200);
    t.same(JSON.parse(health.body), { ok: true });
    t.equal(getTcp(lab, '/tasks').status, 404, 'no control API over TCP');
    t.match(
      lab.agentLog(),
      new RegExp(`ready: .*, metrics http://127\\.0\\.0\\.1:${PORT}/metrics`),
      'the ready line says where',
    );
  });
});

t.test('a non-loopback metrics address is refused unless asked for', { skip: needsRoot }, async (t) => {
  // In a netns of its own: were the check missing, the agent would start, and not in this host's netns.
  const dir = mkdtempSync(join(tmpdir(), 'tasknet-metrics-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const r = spawnSync(
    'unshare',
    ['--net', TASKNET, 'agent', '--state-dir', join(dir, 'state'), '--metrics-address', '0.0.0.0:9464'],
    { encoding: 'utf8', timeout: 60_000 },
  );
  t.equal(r.status, 2, 'a usage error');
  t.equal(
    r.stderr,
    'tasknet agent: invalid --metrics-address "0.0.0.0:9464": 0.0.0.0 is not a loopback address, so metrics would be open to the network (add --metrics-allow-remote if that is meant)\n',
  );
});

t.test(
  'a metrics port already taken fails the start in one line, and the agent exits',
  { skip: needsRoot },
  async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'tasknet-metrics-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    // In a netns of its own, a holder of the port that then starts the agent and reports how it ended.
    const HOLD = `const { spawnSync } = require('node:child_process');
    spawnSync('ip', ['link', 'set', 'lo', 'up']);
    const holder = require('node:net').createServer().listen(${PORT}, '127.0.0.1', () => {
      const r = spawnSync(process.argv[1], ['agent', '--state-dir', process.argv[2], '--runtime', 'process', '--metrics-address', '${PORT}'], { encoding: 'utf8', timeout: 60000 });
      console.log(JSON.stringify({ status: r.status, signal: r.signal, stderr: r.stderr }));
      holder.close();
    });`;
    const state = join(dir, 'state');
    const r = spawnSync('unshare', ['--net', process.execPath, '-e', HOLD, TASKNET, state], {
      encoding: 'utf8',
      timeout: 90_000,
    });
    const agent = JSON.parse(r.stdout.trim() || '{}');
    t.equal(agent.status, 1, `the agent exits (not left running: ${agent.signal ?? 'no signal'})`);
    t.equal(
      agent.stderr,
      `tasknet agent: cannot listen on 127.0.0.1:${PORT} for metrics: listen EADDRINUSE: address already in use 127.0.0.1:${PORT}\n`,
    );
    t.notOk(
      existsSync(join(state, 'agent.sock')) || existsSync(join(state, 'agent.pid')),
      'no control socket and no lock left',
    );
  },
);

t.test('--metrics-address forms', async (t) => {
  const address = (argv: string[], env: Record<string, string> = {}) => {
    const saved = process.env.TASKNET_METRICS_ADDRESS;
    delete process.env.TASKNET_METRICS_ADDRESS;
    Object.assign(process.env, env);
    try {
      const config = agentConfig(argv);
      return config === 'help' ? undefined : config.metricsAddress;
    } finally {
      if (saved === undefined) delete process.env.TASKNET_METRICS_ADDRESS;
      else process.env.TASKNET_METRICS_ADDRESS = saved;
    }
  };
  t.equal(address([]), undefined, 'none unless asked');
  t.same(address(['--metrics-address', '9464']), { host: '127.0.0.1', port: 9464 }, 'a bare port is loopback');
  t.same(address(['--metrics-address', 'localhost:9464']), { host: '127.0.0.1', port: 9464 });
  t.same(address(['--metrics-address', '127.0.0.2:1']), { host: '127.0.0.2', port: 1 });
  t.same(address(['--metrics-address', '[::1]:9464']), { host: '::1', port: 9464 });
  t.same(
    address([], { TASKNET_METRICS_ADDRESS: '127.0.0.1:9100' }),
    { host: '127.0.0.1', port: 9100 },
    'from the environment',
  );
  t.same(
    address(['--metrics-address', '0.0.0.0:9464', '--metrics-allow-remote']),
    { host: '0.0.0.0', port: 9464 },
    'remote when said so',
  );
  const refused = (argv: string[], pattern: RegExp, env: Record<string, string> = {}): void => {
    let error: unknown;
    try {
      address(argv, env);
    } catch (e) {
      error = e;
    }
    t.ok(error instanceof CliError && error.usage, `${argv.join(' ')}: a usage error`);
    t.match((error as Error | undefined)?.message, pattern);
  };
  refused(['--metrics-address', '10.0.0.5:9464'], /10\.0\.0\.5 is not a loopback address/);
  refused(['--metrics-address', '[::]:9464'], /:: is not a loopback address/);
  refused(['--metrics-address', ':9464'], /give the address to listen on/);
  refused(['--metrics-address', 'metrics.example:9464'], /an IP address or localhost/);
  refused(['--metrics-address', '127.0.0.1:70000'], /0-65535/);
  refused([], /^invalid TASKNET_METRICS_ADDRESS="0\.0\.0\.0:1": 0\.0\.0\.0 is not a loopback/, {
    TASKNET_METRICS_ADDRESS: '0.0.0.0:1',
  });
  refused(['--metrics-allow-remote'], /needs --metrics-address/);
});
