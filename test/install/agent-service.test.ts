// `tasknet install --agent` in temp dirs: a tasknet launcher, a systemd unit that systemd would
// accept (systemd-analyze verify) and that leaves tasks running on restart, a commented
// agent.env naming every setting the agent reads; the agent, started the way the unit starts it
// with agent.env loaded, honours it; uninstall removes exactly what install put and keeps an
// agent.env the user changed, as a package manager keeps a changed conffile.
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  accessSync,
  appendFileSync,
  chmodSync,
  constants,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  lstatSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { agentCommand } from '../../src/agent/cli/agent.js';
import { describeOptions } from '../../src/agent/cli/common.js';
import { AGENT_VARIABLES } from '../../src/agent/install/agent-service.js';
import { ownPluginName } from '../../src/cni/delegate.js';
import { tasknet as tasknetBin } from '../agent/harness.js';
import { tempDir } from '../cni/temp.js';
import { makeNetns, needsRoot } from '../helpers/netns.js';
import { ROOT, tasknet } from './helpers.js';

const UNIT = 'tasknet-agent.service';

interface Dirs {
  root: string;
  bin: string;
  conf: string;
  systemd: string;
  env: string;
}
const dirsIn = (root: string): Dirs => ({
  root,
  bin: join(root, 'opt/cni/bin'),
  conf: join(root, 'etc/cni/net.d'),
  systemd: join(root, 'etc/systemd/system'),
  env: join(root, 'etc/tasknet/agent.env'),
});
const install = (d: Dirs, ...extra: string[]) =>
  tasknet([
    'install',
    '--cni-bin-dir',
    d.bin,
    '--cni-conf-dir',
    d.conf,
    '--agent',
    '--systemd-dir',
    d.systemd,
    '--agent-env',
    d.env,
    ...extra,
  ]);
const uninstall = (d: Dirs) => tasknet(['uninstall', '--cni-bin-dir', d.bin]);

// Every path under root, with a hash of each file: what a test compares before and after.
const tree = (root: string): Record<string, string> => {
  const out: Record<string, string> = {};
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      const st = lstatSync(path);
      out[path.slice(root.length)] = st.isDirectory()
        ? 'dir'
        : createHash('sha256').update(readFileSync(path)).digest('hex');
      if (st.isDirectory()) walk(path);
    }
  };
  walk(root);
  return out;
};

// A unit file's [Section] key=value pairs (keys may repeat).
const parseUnit = (text: string): Record<string, Record<string, string[]>> => {
  const sections: Record<string, Record<string, string[]>> = {};
  let current: Record<string, string[]> | undefined;
  for (const line of text.split('\n')) {
    if (/^\s*([#;]|$)/.test(line)) continue;
    const section = /^\[(.+)\]$/.exec(line);
    if (section) {
      current = sections[section[1]!] = {};
      continue;
    }
    const kv = /^([A-Za-z]+)=(.*)$/.exec(line);
    if (!kv || !current) throw new Error(`not a unit line: ${line}`);
    current[kv[1]!] = [...(current[kv[1]!] ?? []), kv[2]!];
  }
  return sections;
};

// EnvironmentFile= as systemd reads it: VAR=value lines, # and ; comments, quotes around a value.
const readEnvFile = (text: string): Record<string, string> =>
  Object.fromEntries(
    text
      .split('\n')
      .filter((l) => !/^\s*([#;]|$)/.test(l))
      .map((l) => {
        const m = /^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$/.exec(l);
        if (!m) throw new Error(`not an environment line: ${l}`);
        return [m[1]!, m[2]!.replace(/^"(.*)"$|^'(.*)'$/, '$1$2')];
      }),
  );

// ExecStart= as systemd runs it: words; "$VAR" alone is the variable split at whitespace (zero or
// more words), "${VAR}" one word.
const execStart = (line: string, env: Record<string, string>): string[] =>
  line.split(/\s+/).flatMap((word) => {
    const split = /^\$([A-Za-z_][A-Za-z0-9_]*)$/.exec(word);
    if (split) return (env[split[1]!] ?? '').split(/\s+/).filter(Boolean);
    return [word.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_, name: string) => env[name] ?? '')];
  });

// The variables the agent's command line reads (cli/agent.ts, state/layout.ts).
const variablesRead = (): string[] => {
  const source = ['src/agent/cli/agent.ts', 'src/agent/state/layout.ts']
    .map((f) => readFileSync(join(ROOT, f), 'utf8'))
    .join('\n');
  const names = [...source.matchAll(/process\.env\.([A-Z][A-Z0-9_]*)|ecsBool\('([A-Z][A-Z0-9_]*)'\)/g)].map(
    (m) => m[1] ?? m[2]!,
  );
  return [...new Set(names)].sort();
};

const systemdAnalyze = spawnSync('systemd-analyze', ['--version']).status === 0;

t.test('install --agent: a launcher, a unit systemd accepts, a commented agent.env; all recorded', async (t) => {
  const d = dirsIn(tempDir(t, 'tasknet-agent-install-'));
  const r = await install(d);
  t.equal(r.code, 0, r.stderr);
  const launcher = join(d.bin, 'tasknet');
  const unitPath = join(d.systemd, UNIT);
  for (const path of [launcher, unitPath, d.env])
    t.ok(r.stdout.split('\n').includes(`created ${path}`), `created ${path}`);
  const manifest = JSON.parse(readFileSync(join(d.bin, '.tasknet-install.json'), 'utf8')) as {
    files: { path: string; kind: string }[];
  };
  t.same(
    manifest.files.filter((f) => !/ecs-/.test(f.path)).map((f) => [f.path, f.kind]),
    [
      [launcher, 'launcher'],
      [unitPath, 'unit'],
      [d.env, 'env'],
    ],
    'recorded for uninstall',
  );
  t.equal(statSync(launcher).mode & 0o7777, 0o755);
  t.equal(statSync(unitPath).mode & 0o7777, 0o644);
  t.equal(statSync(d.env).mode & 0o7777, 0o600, "agent.env is root's only: it may come to hold credentials");
  t.equal(ownPluginName(launcher), undefined, 'the tasknet launcher is never taken for a plugin');

  const unitText = readFileSync(unitPath, 'utf8');
  const unit = parseUnit(unitText);
  const service = unit.Service!;
  t.same(service.RestartPreventExitStatus, ['2'], 'a settings mistake (exit 2) is not restarted every 5 s');
  t.same(service.EnvironmentFile, [`-${d.env}`], 'the environment file, optional (-)');
  t.same(service.Restart, ['on-failure']);
  t.same(
    service.KillMode,
    ['process'],
    'a stop or restart signals the agent only: tasks keep running for the next agent',
  );
  t.same(service.Type, ['simple']);
  t.same(unit.Install?.WantedBy, ['multi-user.target']);
  const argv = execStart(service.ExecStart![0]!, {});
  t.same(argv, [launcher, 'agent'], 'ExecStart: the installed launcher, absolute, then agent');
  accessSync(argv[0]!, constants.X_OK);
  t.pass('ExecStart names an executable file');
  if (systemdAnalyze) {
    const verify = spawnSync('systemd-analyze', ['verify', unitPath], { encoding: 'utf8' });
    t.equal(verify.status, 0, 'systemd-analyze verify');
    t.equal(verify.stderr, '', 'no warning either (an unknown key is only a warning)');
  } else t.comment('systemd-analyze is not installed: the unit is checked by the parse above only');

  const env = readFileSync(d.env, 'utf8');
  t.same(readEnvFile(env), {}, 'nothing set: every line a comment, the defaults apply');
  const listed = [...env.matchAll(/^#([A-Z][A-Z0-9_]*)=/gm)].map((m) => m[1]!);
  t.same(
    [...listed, 'TASKNET_AGENT_ARGS'].filter((v, i, a) => a.indexOf(v) === i).sort(),
    [...new Set([...variablesRead(), 'TASKNET_AGENT_ARGS'])].sort(),
    'agent.env lists exactly the variables the agent reads (and the one for other flags)',
  );
  for (const name of Object.keys(await describeOptions(agentCommand))) {
    if (name !== 'help') t.match(env, new RegExp(`--${name}\\b`), `agent.env names --${name}`);
  }
  t.same(AGENT_VARIABLES.map((v) => v.name).sort(), variablesRead(), 'its table is the variables read');

  const again = await install(d);
  t.equal(again.code, 0);
  t.notMatch(again.stdout, /created|replaced|kept/, 'a second install changes nothing');
});

t.test('the agent, started as the unit starts it, honours agent.env', { skip: needsRoot }, async (t) => {
  const d = dirsIn(tempDir(t, 'tasknet-agent-install-'));
  t.equal((await install(d)).code, 0);
  const stateDir = join(d.root, 'state');
  // A user's edit: an ECS fallback and a flag without a variable.
  appendFileSync(d.env, `\nECS_DATADIR=${stateDir}\nTASKNET_AGENT_ARGS="--chain exec"\n`);
  const settings = readEnvFile(readFileSync(d.env, 'utf8'));
  t.same(settings, { ECS_DATADIR: stateDir, TASKNET_AGENT_ARGS: '--chain exec' });

  const service = parseUnit(readFileSync(join(d.systemd, UNIT), 'utf8')).Service!;
  t.equal(service.EnvironmentFile![0], `-${d.env}`);
  const argv = execStart(service.ExecStart![0]!, settings);
  t.same(argv.slice(1), ['agent', '--chain', 'exec']);
  // systemd's environment for a service: its PATH and the file's variables, nothing of ours.
  const env = { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', ...settings };
  const [ns] = await makeNetns(t, 1, 'tnsvc');
  const log = join(d.root, 'agent.log');
  const agent = spawn('nsenter', [`--net=/var/run/netns/${ns}`, ...argv], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  agent.stderr.on('data', (c: Buffer) => {
    stderr += c;
    appendFileSync(log, c);
  });
  const exited = new Promise<number | null>((resolve) => agent.on('exit', (code) => resolve(code)));
  t.teardown(() => {
    if (agent.exitCode === null) agent.kill('SIGKILL');
  });

  // Ready when its control socket answers (the state dir it was given through agent.env).
  let health: any;
  const deadline = Date.now() + 120_000;
  while (!health) {
    if (agent.exitCode !== null) throw new Error(`the agent exited (${agent.exitCode}): ${stderr}`);
    if (Date.now() > deadline) throw new Error(`the agent never answered: ${stderr}`);
    const s = await tasknetBin(['status', '--json', '--state-dir', stateDir], { timeoutMs: 10_000 });
    if (s.code === 0) health = s.json;
    else await new Promise((r) => setTimeout(r, 100));
  }
  t.equal(health.stateDir, stateDir, 'ECS_DATADIR from agent.env is its state dir');
  t.equal(health.chainMode, 'exec', 'TASKNET_AGENT_ARGS from agent.env reached its command line');
  t.equal(health.pid, agent.pid, "the launcher execs the agent: the unit's main process is the agent");
  agent.kill('SIGTERM');
  t.equal(await exited, 0, 'SIGTERM (systemctl stop) stops it cleanly');
  t.notOk(existsSync(join(stateDir, 'agent.sock')));

  // The edit is the user's: a second install keeps it, uninstall keeps it and says so (exit 0).
  const before = readFileSync(d.env, 'utf8');
  const again = await install(d);
  t.equal(again.code, 0, again.stderr);
  t.match(again.stdout, `kept ${d.env} (changed since install: your settings stay as they are)`);
  t.equal(readFileSync(d.env, 'utf8'), before, 'not overwritten');
  const u = await uninstall(d);
  t.equal(u.code, 0, 'a kept conffile is not a failure');
  t.match(u.stdout, `kept ${d.env} (changed since install: your settings stay`);
  t.match(u.stdout, `removed ${join(d.systemd, UNIT)}`);
  t.equal(readFileSync(d.env, 'utf8'), before, 'still there, unchanged');
  t.notOk(existsSync(join(d.bin, '.tasknet-install.json')), 'nothing else recorded: the manifest is gone');
  t.notOk(existsSync(join(d.systemd, UNIT)));
  t.notOk(existsSync(join(d.bin, 'tasknet')));
});

t.test('uninstall removes exactly what install --agent put; a foreign agent.env is never touched', async (t) => {
  const d = dirsIn(tempDir(t, 'tasknet-agent-install-'));
  // Someone else's files in the same directories.
  mkdirSync(d.systemd, { recursive: true });
  writeFileSync(join(d.systemd, 'other.service'), '[Service]\nExecStart=/bin/true\n');
  const before = tree(d.root);
  t.equal((await install(d, '--conflist', 'tasknet-pod')).code, 0);
  t.ok(Object.keys(tree(d.root)).length > Object.keys(before).length);
  const u = await uninstall(d);
  t.equal(u.code, 0, u.stderr);
  t.notMatch(u.stdout, /kept/);
  t.same(tree(d.root), before, 'the tree is as it was: files and the directories install made are gone');

  // An agent.env that was there before install is the user's: kept, not recorded, left by uninstall.
  mkdirSync(join(d.root, 'etc/tasknet'), { recursive: true });
  writeFileSync(d.env, 'ECS_CLUSTER=prod\n');
  const r = await install(d);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, `kept ${d.env} (not written by tasknet: your settings stay as they are)`);
  const manifest = JSON.parse(readFileSync(join(d.bin, '.tasknet-install.json'), 'utf8')) as {
    files: { path: string }[];
  };
  t.notOk(
    manifest.files.some((f) => f.path === d.env),
    'not recorded',
  );
  const u2 = await uninstall(d);
  t.equal(u2.code, 0);
  t.notMatch(u2.stdout, new RegExp(d.env));
  t.equal(readFileSync(d.env, 'utf8'), 'ECS_CLUSTER=prod\n');

  // A symlink to the site's own settings is the user's too: kept by install, also with --force.
  rmSync(d.env);
  const site = join(d.root, 'etc/site.env');
  writeFileSync(site, 'ECS_CLUSTER=site\n');
  symlinkSync(site, d.env);
  const linked = await install(d, '--force');
  t.equal(linked.code, 0, linked.stderr);
  t.ok(lstatSync(d.env).isSymbolicLink(), 'still the link');
  t.equal(readFileSync(site, 'utf8'), 'ECS_CLUSTER=site\n', 'the site file untouched');
  t.equal((await uninstall(d)).code, 0);
  t.ok(lstatSync(d.env).isSymbolicLink(), 'uninstall leaves the link');
});

t.test("a user's tighter mode on agent.env survives a reinstall", async (t) => {
  const d = dirsIn(tempDir(t, 'tasknet-agent-install-'));
  t.equal((await install(d)).code, 0);
  chmodSync(d.env, 0o400);
  t.equal((await install(d)).code, 0);
  t.equal(statSync(d.env).mode & 0o7777, 0o400, 'not reset to 0600');
  t.equal((await uninstall(d)).code, 0);
  t.notOk(existsSync(d.env), 'still ours (same bytes): removed');
});

t.test('usage: the agent options go with --agent; a unit path cannot hold a space', async (t) => {
  const d = dirsIn(tempDir(t, 'tasknet-agent-install-'));
  const lone = await tasknet(['install', '--cni-bin-dir', d.bin, '--cni-conf-dir', d.conf, '--systemd-dir', d.systemd]);
  t.equal(lone.code, 2);
  t.equal(lone.stderr, 'tasknet install: --systemd-dir and --agent-env go with --agent', 'one line');
  const spaced = await install({ ...d, env: join(d.root, 'my dir/agent.env') });
  t.equal(spaced.code, 2);
  t.match(
    spaced.stderr,
    /^tasknet install: \S+my dir\/agent\.env: a path with spaces, quotes, backslashes or "\$" cannot go into a systemd unit$/,
  );
  const dollar = await install({ ...d, env: join(d.root, 'etc/$HOME/agent.env') });
  t.equal(dollar.code, 2, 'ExecStart= would expand a $');
  t.match(dollar.stderr, /cannot go into a systemd unit$/);
  t.notOk(existsSync(d.bin), 'a refused install writes nothing');
});
