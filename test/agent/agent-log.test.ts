// The agent's log: levels (--log-level, the ECS agent's ECS_LOGLEVEL), the text format the agent
// always wrote and --log-format json (one object per line), checked on what a real agent in a lab
// writes while it runs a task.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { agentConfig } from '../../src/agent/cli/agent.js';
import { CliError } from '../../src/agent/cli/errors.js';
import { container, makeLab, needsRoot, taskdef, TASKNET, type Lab } from './harness.js';

// What the agent wrote to agent.log from `from` (a length of it) on.
const logSince = (lab: Lab, from: number): string[] => lab.agentLog().slice(from).split('\n').filter(Boolean);

// The agent restarted with `args` and the ECS_LOGLEVEL given (the harness passes on this process's
// environment); returns where its lines start in agent.log.
const restart = async (lab: Lab, args: string[], ecsLogLevel?: string): Promise<number> => {
  await lab.killAgent('SIGTERM');
  const from = lab.agentLog().length;
  const saved = process.env.ECS_LOGLEVEL;
  if (ecsLogLevel === undefined) delete process.env.ECS_LOGLEVEL;
  else process.env.ECS_LOGLEVEL = ecsLogLevel;
  try {
    await lab.startAgent(args);
  } finally {
    if (saved === undefined) delete process.env.ECS_LOGLEVEL;
    else process.env.ECS_LOGLEVEL = saved;
  }
  return from;
};

const runAndStop = async (t: Test, lab: Lab, family: string): Promise<string> => {
  const task = await lab.run(taskdef(family, [container('main', ['sleep', 'infinity'])]));
  t.equal((await lab.tn(['stop', task.id])).code, 0, `${family} stopped`);
  return task.id;
};

t.test('agent logs: json lines, text lines, and the level from ECS_LOGLEVEL', { skip: needsRoot }, async (t) => {
  const lab = await makeLab(t, { enis: 1 });

  await t.test('--log-format json: one object per line with level, time, msg and the task id', async (t) => {
    const from = await restart(lab, ['--log-format', 'json']);
    const id = await runAndStop(t, lab, 'json-log');
    const lines = logSince(lab, from);
    const parsed = lines.map((line) => {
      try {
        return JSON.parse(line) as Record<string, unknown>;
      } catch {
        return undefined;
      }
    });
    t.same(
      lines.filter((_, i) => parsed[i] === undefined),
      [],
      'every line is JSON',
    );
    for (const entry of parsed) {
      if (!entry) continue;
      t.ok(
        ['error', 'warn', 'info'].includes(entry.level as string) &&
          typeof entry.msg === 'string' &&
          !Number.isNaN(Date.parse(entry.time as string)),
        `level, time and msg: ${JSON.stringify(entry).slice(0, 120)}`,
      );
    }
    const running = parsed.find((e) => typeof e?.msg === 'string' && e.msg.startsWith(`task ${id} (json-log) RUNNING`));
    t.match(
      running,
      { level: 'info', taskId: id, family: 'json-log', runtime: 'process' },
      'the RUNNING line carries the task as fields',
    );
    t.match(
      parsed.find(
        (e) =>
          e?.msg ===
          'the process runtime runs task commands on the host filesystem as root: it isolates networks, not files or users',
      ),
      { level: 'warn' },
      'the process runtime warning is a warn',
    );
    t.notOk(
      parsed.some((e) => e?.level === 'debug'),
      'no debug lines at the default level',
    );
  });

  await t.test('ECS_LOGLEVEL=debug: debug lines, in the text format', async (t) => {
    const from = await restart(lab, [], 'debug');
    const id = await runAndStop(t, lab, 'debug-log');
    const lines = logSince(lab, from);
    t.ok(
      lines.every((l) => /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z /.test(l)),
      'text lines start with the time',
    );
    t.ok(
      lines.some((l) => new RegExp(`^\\S+ task ${id} \\(debug-log\\) RUNNING on process`).test(l)),
      'info lines as they always were: time, message',
    );
    for (const plugin of ['ecs-eni', 'ecs-bridge']) {
      t.ok(
        lines.some((l) => new RegExp(`^\\S+ DEBUG cni ADD ${plugin}: [\\d.]+ ms$`).test(l)),
        `a debug line for the ${plugin} ADD`,
      );
    }
    t.ok(
      lines.some((l) => / WARN the process runtime runs task commands/.test(l)),
      'a warning says so',
    );
  });

  await t.test('--log-level warn wins over ECS_LOGLEVEL=debug', async (t) => {
    const from = await restart(lab, ['--log-level', 'warn'], 'debug');
    await runAndStop(t, lab, 'quiet-log');
    const lines = logSince(lab, from);
    t.ok(lines.length > 0, 'the warning is still written');
    t.same(
      lines.filter((l) => !/^\S+ (WARN|ERROR) /.test(l)),
      [],
      'only warnings and errors',
    );
  });
});

t.test('an invalid ECS_LOGLEVEL is one line and exit 2, before anything starts', { skip: needsRoot }, async (t) => {
  // In a netns of its own: were the value taken, the agent would start, and not in this host's netns.
  const dir = mkdtempSync(join(tmpdir(), 'tasknet-log-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const r = spawnSync('unshare', ['--net', TASKNET, 'agent', '--state-dir', join(dir, 'state')], {
    encoding: 'utf8',
    timeout: 60_000,
    env: { ...process.env, ECS_LOGLEVEL: 'bogus' },
  });
  t.equal(r.status, 2);
  t.equal(r.stderr, 'tasknet agent: invalid ECS_LOGLEVEL="bogus": expected crit, error, warn, info or debug\n');
  t.equal(r.stdout, '');
});

t.test('log options: flags, then ECS_LOGLEVEL and ECS_LOG_OUTPUT_FORMAT, then info and text', async (t) => {
  const VARS = ['ECS_LOGLEVEL', 'ECS_LOG_OUTPUT_FORMAT'];
  const logOf = (argv: string[], env: Record<string, string> = {}) => {
    const saved = Object.fromEntries(VARS.map((k) => [k, process.env[k]]));
    for (const k of VARS) delete process.env[k];
    Object.assign(process.env, env);
    try {
      const config = agentConfig(argv);
      return config === 'help' ? undefined : config.log;
    } finally {
      for (const k of VARS)
        if (saved[k] === undefined) delete process.env[k];
        else process.env[k] = saved[k];
    }
  };
  t.same(logOf([]), { level: 'info', format: 'text' });
  for (const [ecs, level] of [
    ['crit', 'error'],
    ['error', 'error'],
    ['warn', 'warn'],
    ['info', 'info'],
    ['debug', 'debug'],
    ['DEBUG', 'debug'],
  ]) {
    t.equal(logOf([], { ECS_LOGLEVEL: ecs! })?.level, level, `ECS_LOGLEVEL=${ecs} is ${level}`);
  }
  t.equal(logOf(['--log-level', 'error'], { ECS_LOGLEVEL: 'debug' })?.level, 'error', 'the flag wins');
  t.equal(logOf([], { ECS_LOG_OUTPUT_FORMAT: 'json' })?.format, 'json');
  t.equal(logOf([], { ECS_LOG_OUTPUT_FORMAT: 'logfmt' })?.format, 'text');
  t.equal(logOf(['--log-format', 'text'], { ECS_LOG_OUTPUT_FORMAT: 'json' })?.format, 'text', 'the flag wins');
  const usage = (argv: string[], env: Record<string, string>, pattern: RegExp): void => {
    let error: unknown;
    try {
      logOf(argv, env);
    } catch (e) {
      error = e;
    }
    t.ok(error instanceof CliError && error.usage, `${argv.join(' ')} ${JSON.stringify(env)}: a usage error`);
    t.match((error as Error | undefined)?.message, pattern);
  };
  usage([], { ECS_LOGLEVEL: 'verbose' }, /^invalid ECS_LOGLEVEL="verbose": expected crit, error, warn, info or debug$/);
  usage(['--log-level', 'crit'], {}, /^invalid --log-level "crit": expected error, warn, info, debug$/);
  usage(['--log-format', 'yaml'], {}, /^invalid --log-format "yaml": expected text or json$/);
  usage([], { ECS_LOG_OUTPUT_FORMAT: 'xml' }, /^invalid ECS_LOG_OUTPUT_FORMAT="xml": expected logfmt or json$/);
});
