// `tasknet agent`'s configuration: flags first, then the environment (tasknet's own variables and
// the ECS agent's where tasknet has the same knob), then the defaults; a bad value is a usage error
// naming the variable.
import t from 'tap';
import { agentConfig, goDurationSeconds } from '../../src/agent/cli/agent.js';
import { CliError } from '../../src/agent/cli/errors.js';
import type { DaemonConfig } from '../../src/agent/daemon/main.js';

const ECS_VARS = [
  'ECS_AWSVPC_BLOCK_IMDS',
  'ECS_CONTAINER_STOP_TIMEOUT',
  'ECS_CLUSTER',
  'ECS_DATADIR',
  'TASKNET_STATE_DIR',
  'TASKNET_ENGINE_SOCKET',
];

// The configuration for `argv` with exactly `env` of the variables above set.
const configWith = (env: Record<string, string>, argv: string[] = []): DaemonConfig => {
  const saved = Object.fromEntries(ECS_VARS.map((k) => [k, process.env[k]]));
  for (const k of ECS_VARS) delete process.env[k];
  Object.assign(process.env, env);
  try {
    const config = agentConfig(argv);
    if (config === 'help') throw new Error('unexpected help');
    return config;
  } finally {
    for (const k of ECS_VARS)
      if (saved[k] === undefined) delete process.env[k];
      else process.env[k] = saved[k];
  }
};

t.test('defaults, without any variable', async (t) => {
  const c = configWith({});
  t.equal(c.blockInstanceMetadata, false);
  t.equal(c.stopTimeoutMs, 30_000);
  t.equal(c.identity.cluster, 'tasknet');
  t.equal(c.stateDir, '/var/lib/tasknet');
});

t.test('the ECS agent settings are read where tasknet has the knob', async (t) => {
  t.equal(configWith({ ECS_AWSVPC_BLOCK_IMDS: 'true' }).blockInstanceMetadata, true);
  t.equal(configWith({ ECS_AWSVPC_BLOCK_IMDS: 'FALSE' }).blockInstanceMetadata, false);
  t.equal(configWith({ ECS_AWSVPC_BLOCK_IMDS: '1' }).blockInstanceMetadata, true, "as Go's ParseBool");
  t.equal(configWith({ ECS_CONTAINER_STOP_TIMEOUT: '2m' }).stopTimeoutMs, 120_000);
  t.equal(configWith({ ECS_CONTAINER_STOP_TIMEOUT: '1m30s' }).stopTimeoutMs, 90_000);
  t.equal(configWith({ ECS_CONTAINER_STOP_TIMEOUT: '500ms' }).stopTimeoutMs, 500);
  t.equal(configWith({ ECS_CLUSTER: 'prod' }).identity.cluster, 'prod');
  t.equal(configWith({ ECS_DATADIR: '/data' }).stateDir, '/data');
  t.equal(
    configWith({ ECS_DATADIR: '/data', TASKNET_STATE_DIR: '/srv/tn' }).stateDir,
    '/srv/tn',
    "tasknet's own variable first",
  );
});

t.test('a flag wins over the environment', async (t) => {
  const c = configWith(
    { ECS_AWSVPC_BLOCK_IMDS: 'false', ECS_CONTAINER_STOP_TIMEOUT: '2m', ECS_CLUSTER: 'prod', ECS_DATADIR: '/data' },
    ['--block-instance-metadata', '--stop-timeout', '5', '--cluster', 'dev', '--state-dir', '/tmp/x'],
  );
  t.equal(c.blockInstanceMetadata, true);
  t.equal(c.stopTimeoutMs, 5000);
  t.equal(c.identity.cluster, 'dev');
  t.equal(c.stateDir, '/tmp/x');
});

t.test('a bad value is a usage error that names the variable', async (t) => {
  const usage = (env: Record<string, string>, pattern: RegExp): void => {
    let error: unknown;
    try {
      configWith(env);
    } catch (e) {
      error = e;
    }
    t.ok(error instanceof CliError && error.usage, `${JSON.stringify(env)}: a usage error`);
    t.match((error as Error | undefined)?.message, pattern);
  };
  usage({ ECS_AWSVPC_BLOCK_IMDS: 'yes' }, /^invalid ECS_AWSVPC_BLOCK_IMDS="yes": expected true or false$/);
  usage({ ECS_CONTAINER_STOP_TIMEOUT: '30' }, /^invalid ECS_CONTAINER_STOP_TIMEOUT="30": expected a duration/);
  usage({ ECS_CONTAINER_STOP_TIMEOUT: '2h' }, /^invalid ECS_CONTAINER_STOP_TIMEOUT="2h": expected at most 1h$/);
  t.throws(() => goDurationSeconds('X', '1d'), /invalid X="1d"/);
});
