// `tasknet status`: the running agent, as its control socket's GET /health describes it.
import { callAgent } from '../daemon/client.js';
import { parseCommand, printFields, printJson } from './common.js';
import { CliError } from './errors.js';
import { expectOk } from './replies.js';

const HELP = `usage: tasknet status [--json] [--state-dir DIR]

Asks the agent of the state dir and prints its pid, uptime, version, default runtime (and engine
socket), CNI chain mode, its tasks by state, the endpoint address and the state dir; --json prints
the agent's GET /health answer as it is. With no agent running: one line on stderr and exit 1.`;

// GET /health, as control-server.ts answers it (docs/agent.md, "The control socket").
export interface Health {
  ok: boolean;
  pid: number;
  startedAt: string;
  uptimeSeconds: number;
  build: { version: string; dirty: boolean; gitShortHash: string };
  runtime: string;
  engineSocket?: string;
  chainMode: string;
  tasks: Record<string, number>;
  endpoint: string;
  stateDir: string;
}

// 93784 -> "1d 2h 3m 4s": the two largest units, as `docker ps` rounds an age.
export const formatUptime = (seconds: number): string => {
  const units: [string, number][] = [
    ['d', 86_400],
    ['h', 3600],
    ['m', 60],
    ['s', 1],
  ];
  let rest = Math.max(0, Math.floor(seconds));
  const parts: string[] = [];
  for (const [unit, size] of units) {
    const n = Math.floor(rest / size);
    rest -= n * size;
    if (n > 0 || (unit === 's' && parts.length === 0)) parts.push(`${n}${unit}`);
  }
  return parts.slice(0, 2).join(' ');
};

export const statusCommand = async (argv: string[]): Promise<number> => {
  const cmd = parseCommand(argv, { json: { type: 'boolean' } });
  if (cmd.help) {
    process.stdout.write(`${HELP}\n`);
    return 0;
  }
  if (cmd.positionals.length > 0) throw new CliError(`unexpected ${cmd.positionals[0]} (tasknet help status)`, true);
  const health = expectOk(await callAgent<Health>(cmd.stateDir, 'GET', '/health'));
  if (cmd.values.json) {
    printJson(health);
    return 0;
  }
  const build = health.build;
  // An agent older than the fields status prints still answers /health: say "unknown", not "undefined".
  const tasks = health.tasks
    ? Object.entries(health.tasks)
        .map(([state, n]) => `${n} ${state.toLowerCase()}`)
        .join(', ')
    : 'unknown';
  printFields([
    ['pid', String(health.pid)],
    [
      'uptime',
      health.uptimeSeconds === undefined
        ? 'unknown'
        : `${formatUptime(health.uptimeSeconds)} (since ${health.startedAt})`,
    ],
    ['version', build ? `${build.version} (${build.gitShortHash}${build.dirty ? ', dirty' : ''})` : 'unknown'],
    [
      'runtime',
      health.runtime === 'engine'
        ? `engine (socket ${health.engineSocket})`
        : `${health.runtime}${health.engineSocket ? ` (engine socket ${health.engineSocket} for tasks that ask)` : ''}`,
    ],
    ['chain', health.chainMode],
    ['tasks', tasks],
    ['endpoint', health.endpoint ?? 'unknown'],
    ['state dir', health.stateDir],
  ]);
  return 0;
};
