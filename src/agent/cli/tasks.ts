// run, ls, stop, logs, exec: the CLI side of the control socket.
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { callAgent } from '../daemon/client.js';
import { expectOk } from './replies.js';
import { isAlive, type ProcessRef } from '../runtime/process/process-ref.js';
import { parseTaskDefinition, TaskDefinitionError } from '../task/definition.js';
import type { TaskSummary } from '../task/record.js';
import { parseCommand, printFields, printJson, printTable } from './common.js';
import { engineExec, engineLogs } from './engine-io.js';
import { CliError } from './errors.js';

const RUN_HELP = `usage: tasknet run TASKDEF.json --eni SPEC [--json] [--state-dir DIR] [--runtime engine|process] [--chain in-process|exec]

Starts a task from an ECS task definition (awsvpc) and waits until all its containers started.
  --eni MAC,ip=CIDR[,ip=CIDR],gw=IP[,gw=IP][,dns=NAME]   the ENI to give the task
  --eni auto                                            a free ENI of the lab (tasknet lab up)
  --eni MAC                                             that lab ENI, with the lab's address for it
  --runtime KIND                                        engine (OCI containers from images) or process
                                                        (host commands, image "local"); default: the agent's
  --chain MODE                                          override the agent's CNI chain mode for this task
Prints the task id, the ENI address, the bridge address and the credentials id.`;

export const runCommand = async (argv: string[]): Promise<number> => {
  const cmd = parseCommand(argv, {
    eni: { type: 'string' },
    json: { type: 'boolean' },
    chain: { type: 'string' },
    runtime: { type: 'string' },
  });
  if (cmd.help) return help(RUN_HELP);
  const [file, ...extra] = cmd.positionals;
  if (!file || extra.length > 0)
    throw new CliError(`expected one TASKDEF.json (tasknet run --help shows the usage)`, true);
  const eni = cmd.values.eni as string | undefined;
  if (!eni)
    throw new CliError(`--eni is required (MAC,ip=CIDR,gw=IP or auto) (tasknet run --help shows the usage)`, true);
  const path = resolve(file);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new CliError(
      `${file}: ${code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : (error as Error).message}`,
    );
  }
  let definition: unknown;
  try {
    definition = JSON.parse(text);
  } catch (error) {
    throw new CliError(`${file}: not valid JSON: ${jsonErrorAt(text, error as Error)}`);
  }
  try {
    parseTaskDefinition(definition); // the agent checks again; this fails fast without one
  } catch (error) {
    if (error instanceof TaskDefinitionError) throw new CliError(`${file}: ${error.message}`);
    throw error;
  }
  const body = {
    definition,
    baseDir: dirname(path),
    eni,
    ...(cmd.values.chain ? { chainMode: cmd.values.chain } : {}),
    ...(cmd.values.runtime ? { runtime: cmd.values.runtime } : {}),
  };
  const task = expectOk(await callAgent<TaskSummary>(cmd.stateDir, 'POST', '/tasks', body));
  if (cmd.values.json) {
    printJson(task);
    return 0;
  }
  printFields([
    ['task', task.id],
    ['family', task.family],
    [
      'eni',
      `${task.eni.mac} ${task.eni.addresses.join(' ')}${task.eni.gateways.length ? ` (gateway ${task.eni.gateways.join(', ')})` : ''}`,
    ],
    ['bridge', task.bridgeAddress],
    ['credentials', task.credentialsId ?? '(no taskRoleArn)'],
    ['containers', task.containers.map((c) => c.name).join(', ')],
    [
      'runtime',
      task.runtime === 'process'
        ? 'process (WARNING: host commands as root on the host filesystem: no file or user isolation)'
        : 'engine',
    ],
    [
      'started in',
      task.timings
        ? `${task.timings.totalMs} ms (network ${task.timings.networkMs} ms, chain ${task.chainMode})`
        : undefined,
    ],
  ]);
  return 0;
};

// JSON.parse's complaint with the line and column its position falls on (Node 20 gives only the
// offset), e.g. "Expected double-quoted property name at line 3, column 16".
export const jsonErrorAt = (text: string, error: Error): string => {
  const m = /^(.*?) in JSON at position (\d+)/.exec(error.message);
  if (!m) return error.message;
  const before = text.slice(0, Number(m[2]));
  const line = before.split('\n').length;
  return `${m[1]} at line ${line}, column ${before.length - before.lastIndexOf('\n')}`;
};

const LS_HELP = `usage: tasknet ls [--all] [--json | -q] [--state-dir DIR]

Lists the agent's tasks (--all: also the recently stopped ones; -q/--quiet: only their ids, one
per line, as in tasknet stop $(tasknet ls -q)).`;

export const lsCommand = async (argv: string[]): Promise<number> => {
  const cmd = parseCommand(argv, {
    all: { type: 'boolean' },
    json: { type: 'boolean' },
    quiet: { type: 'boolean', short: 'q' },
  });
  if (cmd.help) return help(LS_HELP);
  if (cmd.positionals.length > 0)
    throw new CliError(`unexpected ${cmd.positionals[0]} (tasknet ls --help shows the usage)`, true);
  if (cmd.values.json && cmd.values.quiet) throw new CliError('give --json or -q, not both', true);
  const { tasks } = expectOk(
    await callAgent<{ tasks: TaskSummary[] }>(cmd.stateDir, 'GET', `/tasks${cmd.values.all ? '?all=1' : ''}`),
  );
  if (cmd.values.quiet) {
    process.stdout.write(tasks.map((t) => `${t.id}\n`).join(''));
    return 0;
  }
  if (cmd.values.json) {
    printJson(tasks);
    return 0;
  }
  printTable(
    ['TASK', 'FAMILY', 'STATUS', 'ENI ADDRESS', 'BRIDGE', 'CONTAINERS'],
    tasks.map((t) => [
      t.id.slice(0, 12),
      t.family,
      t.status,
      t.eni.addresses[0] ?? '',
      t.bridgeAddress ?? '',
      t.containers
        .map(
          (c) =>
            `${c.name}:${c.status === 'STOPPED' ? `exited(${c.exitCode ?? '?'})` : c.status.toLowerCase()}${c.health ? `(${c.health})` : ''}`,
        )
        .join(' '),
    ]),
  );
  return 0;
};

const STOP_HELP = `usage: tasknet stop TASK... [--json] [--state-dir DIR]

Stops tasks (by id or unique id prefix): SIGTERM to every container, SIGKILL after its stop
timeout, then the network is torn down. Waits until each task is gone.`;

export const stopCommand = async (argv: string[]): Promise<number> => {
  const cmd = parseCommand(argv, { json: { type: 'boolean' } });
  if (cmd.help) return help(STOP_HELP);
  if (cmd.positionals.length === 0) throw new CliError(`expected a TASK (tasknet stop --help shows the usage)`, true);
  const results = await Promise.all(
    cmd.positionals.map(async (ref) =>
      expectOk(await callAgent<TaskSummary>(cmd.stateDir, 'DELETE', `/tasks/${encodeURIComponent(ref)}`)),
    ),
  );
  if (cmd.values.json) printJson(results);
  else
    for (const t of results)
      process.stdout.write(`${t.id} ${t.status}${t.stoppedReason ? ` (${t.stoppedReason})` : ''}\n`);
  return 0;
};

const LOGS_HELP = `usage: tasknet logs TASK [CONTAINER] [-f|--follow] [--tail N] [--state-dir DIR]

Prints a container's output (stdout and stderr), or every container's, each line prefixed with
its name. On the engine runtime the output comes from the engine while the task runs (-f follows
it, --tail N starts N lines from the end). Logs of stopped tasks stay available for the last 50
tasks.`;

interface TaskDetail extends TaskSummary {
  engineSocket?: string;
  containerDetails?: ContainerDetail[];
}

export const logsCommand = async (argv: string[]): Promise<number> => {
  const cmd = parseCommand(argv, { follow: { type: 'boolean', short: 'f' }, tail: { type: 'string' } });
  if (cmd.help) return help(LOGS_HELP);
  const [ref, container, ...extra] = cmd.positionals;
  if (!ref || extra.length > 0)
    throw new CliError(`expected TASK [CONTAINER] (tasknet logs --help shows the usage)`, true);
  const tail = cmd.values.tail === undefined ? undefined : Number(cmd.values.tail);
  if (tail !== undefined && (!Number.isInteger(tail) || tail < 0))
    throw new CliError(`invalid --tail ${JSON.stringify(cmd.values.tail)}: expected a number of lines`, true);
  const follow = cmd.values.follow === true;
  const detail = expectOk(await callAgent<TaskDetail>(cmd.stateDir, 'GET', `/tasks/${encodeURIComponent(ref)}`));
  const live = detail.engineSocket && detail.status !== 'STOPPED' ? (detail.containerDetails ?? []) : [];
  if (container !== undefined && !detail.containers.some((c) => c.name === container)) {
    throw new CliError(
      `task ${detail.id} has no container ${JSON.stringify(container)} (it has ${detail.containers.map((c) => c.name).join(', ')})`,
    );
  }
  if (live.length > 0) {
    const targets = live.filter((c) => c.engineId && (container === undefined || c.name === container));
    if (follow && targets.length !== 1) throw new CliError('--follow needs one CONTAINER', true);
    for (const c of targets) {
      const prefix = container ? '' : `${c.name} | `;
      let partial = '';
      await engineLogs(detail.engineSocket!, c.engineId!, {
        follow,
        ...(tail !== undefined ? { tail } : {}),
        out: (text) => {
          const lines = (partial + text).split('\n');
          partial = lines.pop() ?? '';
          for (const line of lines) process.stdout.write(`${prefix}${line}\n`);
        },
      });
      if (partial) process.stdout.write(`${prefix}${partial}\n`);
    }
    return 0;
  }
  if (follow) throw new CliError(`task ${detail.id}: --follow needs a running task on the engine runtime`, true);
  const query = container ? `?container=${encodeURIComponent(container)}` : '';
  const { logs } = expectOk(
    await callAgent<{ logs: { container: string; path: string }[] }>(
      cmd.stateDir,
      'GET',
      `/tasks/${encodeURIComponent(ref)}/logs${query}`,
    ),
  );
  for (const log of logs) {
    const text = await readFile(log.path, 'utf8');
    let lines = text.split('\n').slice(0, text.endsWith('\n') ? -1 : undefined);
    if (tail !== undefined) lines = lines.slice(Math.max(0, lines.length - tail));
    for (const line of lines) process.stdout.write(container ? `${line}\n` : `${log.container} | ${line}\n`);
  }
  return 0;
};

const EXEC_HELP = `usage: tasknet exec TASK [--container NAME] [--state-dir DIR] -- CMD [ARG...]

Runs a command inside a running container of the task, as the container's own user, with its
environment (AWS_CONTAINER_CREDENTIALS_RELATIVE_URI, ECS_CONTAINER_METADATA_URI_V4, ...): through
the engine's exec API on the engine runtime, in the container's namespaces on the process runtime.
Default container: the first one running. Exits with the command's exit code.`;

interface ContainerDetail {
  name: string;
  status: string;
  engineId?: string;
  init?: ProcessRef;
  env: Record<string, string>;
}

export const execCommand = async (argv: string[]): Promise<number> => {
  const cmd = parseCommand(argv, { container: { type: 'string' } });
  if (cmd.help) return help(EXEC_HELP);
  const [ref, ...command] = cmd.positionals;
  if (!ref || command.length === 0)
    throw new CliError(`expected TASK -- CMD... (tasknet exec --help shows the usage)`, true);
  const detail = expectOk(await callAgent<TaskDetail>(cmd.stateDir, 'GET', `/tasks/${encodeURIComponent(ref)}`));
  const name = cmd.values.container as string | undefined;
  const containers = detail.containerDetails ?? [];
  const target = name ? containers.find((c) => c.name === name) : containers.find((c) => c.status === 'RUNNING');
  if (name && !target) throw new CliError(`task ${detail.id} has no container ${JSON.stringify(name)}`);
  if (detail.engineSocket && target?.engineId && target.status === 'RUNNING')
    return engineExec(detail.engineSocket, target.engineId, command);
  if (target?.status !== 'RUNNING' || !isAlive(target.init)) {
    throw new CliError(
      `task ${detail.id}: ${target ? `container ${target.name} is not running` : 'no container is running'}`,
    );
  }
  const child = spawn(
    'nsenter',
    ['--target', String(target.init!.pid), '--net', '--uts', '--pid', '--mount', '--wd', '--', ...command],
    {
      stdio: 'inherit',
      env: target.env,
    },
  );
  return new Promise<number>((done) => {
    child.on('error', (error) => {
      process.stderr.write(`tasknet exec: ${error.message}\n`);
      done(126);
    });
    child.on('exit', (code, signal) => done(code ?? 128 + (signal ? 15 : 0)));
  });
};

const help = (text: string): number => {
  process.stdout.write(`${text}\n`);
  return 0;
};
