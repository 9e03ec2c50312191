// `tasknet completion bash|zsh`: the script comes from the CLI's own tables (every command, every
// option a command parses), completes verbs that each command's usage names, option values, and
// task ids through `tasknet ls -q`; bash's is exercised as bash runs it (COMP_WORDS, COMP_CWORD,
// COMPREPLY), zsh's with zsh where it is installed, else checked for shape only.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { describeOptions } from '../../src/agent/cli/common.js';
import { commandSpecs, POSITIONALS } from '../../src/agent/cli/completion.js';
import { COMMANDS } from '../../src/agent/cli/index.js';
import { tempDir, writeFile } from '../cni/temp.js';
import { bashComplete } from './bash-complete.js';
import { tasknet } from './harness.js';

const script = async (shell: 'bash' | 'zsh'): Promise<string> => {
  const r = await tasknet(['completion', shell]);
  if (r.code !== 0) throw new Error(`tasknet completion ${shell} failed: ${r.stderr}`);
  return r.stdout;
};

t.test('every command and every option it parses is in the tables the script is made from', async (t) => {
  const specs = await commandSpecs();
  t.same(
    specs.map((s) => s.name),
    [...Object.keys(COMMANDS), 'help'],
  );
  for (const [name, load] of Object.entries(COMMANDS)) {
    const spec = specs.find((s) => s.name === name)!;
    const table = await describeOptions(await load());
    for (const [long, o] of Object.entries(table)) {
      t.ok(spec.options.includes(`--${long}`), `${name} --${long}`);
      if (o.short) t.ok(spec.options.includes(`-${o.short}`), `${name} -${o.short}`);
      t.equal(
        spec.valueOptions.includes(`--${long}`),
        o.type === 'string',
        `${name} --${long} takes a value: ${o.type === 'string'}`,
      );
    }
    t.equal(
      spec.options.length,
      Object.keys(table).length + Object.values(table).filter((o) => o.short).length,
      `${name}: nothing else`,
    );
  }
  // Spot checks against what the commands are known to take.
  const of = (name: string) => specs.find((s) => s.name === name)!;
  t.ok(of('ls').options.includes('-q') && of('ls').options.includes('--all'));
  t.ok(of('agent').valueOptions.includes('--stop-timeout'));
  t.ok(of('install').options.includes('--agent'));
  t.ok(of('status').options.includes('--json'));
});

t.test("the verbs and task arguments completed are those each command's usage names", async (t) => {
  for (const name of Object.keys(COMMANDS)) {
    const help = await tasknet(['help', name]);
    t.equal(help.code, 0, `tasknet help ${name}`);
    // "usage: tasknet lab up ..." and "       tasknet lab down ...": the word after the command.
    const firsts = [...help.stdout.matchAll(new RegExp(`^(?:usage:)?\\s+tasknet ${name} (\\S+)`, 'gm'))].map(
      (m) => m[1]!,
    );
    const verbs = firsts.filter((w) => /^[a-z][a-z|]*$/.test(w)).flatMap((w) => w.split('|'));
    t.same([...(POSITIONALS[name]?.verbs ?? [])].sort(), verbs.sort(), `${name}: verbs ${verbs.join(' ') || '(none)'}`);
    t.equal(
      POSITIONALS[name]?.tasks !== undefined,
      firsts.some((w) => /^TASK\b/.test(w)),
      `${name}: task ids or not`,
    );
  }
});

t.test('tasknet help lists every command; help CMD answers for each', async (t) => {
  const help = await tasknet(['help']);
  t.equal(help.code, 0);
  for (const name of Object.keys(COMMANDS))
    t.match(help.stdout, new RegExp(`^  ${name} `, 'm'), `tasknet help lists ${name}`);
  for (const name of ['status', 'completion']) {
    const bogus = await tasknet([name, '--bogus']);
    t.equal(bogus.code, 2, `tasknet ${name} --bogus exits 2`);
    t.equal(bogus.stderr, `tasknet ${name}: Unknown option '--bogus' (--help lists the options)\n`, 'in one line');
  }
  const bad = await tasknet(['completion', 'fish']);
  t.equal(bad.code, 2, 'an unknown shell is a usage error');
  t.equal(bad.stderr, 'tasknet completion: expected bash or zsh (tasknet help completion)\n');
});

t.test('bash: commands, options, values, verbs and task ids', async (t) => {
  const dir = tempDir(t, 'tasknet-completion-');
  const file = join(dir, 'tasknet.bash');
  writeFile(file, await script('bash'), 0o644);
  const at = (...words: string[]) => bashComplete(file, words);
  t.same(at('tasknet', ''), [...Object.keys(COMMANDS), 'help'], 'every command');
  t.same(at('tasknet', 'st'), ['status', 'stop']);
  t.same(at('tasknet', '-'), ['--help', '--version']);
  t.same(
    at('tasknet', 'ls', '-'),
    ['--state-dir', '--help', '-h', '--all', '--json', '--quiet', '-q'],
    'the options ls parses',
  );
  t.same(at('tasknet', 'install', '--ag'), ['--agent', '--agent-env']);
  t.same(at('tasknet', 'agent', '--runtime', ''), ['engine', 'process'], "an option's values");
  t.same(at('tasknet', 'run', 'x.json', '--chain', '=', 'e'), ['exec'], '--chain=e, as bash splits it at =');
  t.same(at('tasknet', 'lab', ''), ['up', 'down']);
  t.same(at('tasknet', 'lab', '--enis', '4', 'd'), ['down'], "an option's value is not a positional");
  t.same(at('tasknet', 'cni', 's'), ['status']);
  t.same(at('tasknet', 'completion', ''), ['bash', 'zsh']);
  t.same(at('tasknet', 'help', 'un'), ['uninstall']);
  t.same(at('tasknet', 'lab', 'up', ''), [], 'no verb after the verb');
  t.ok(
    at('tasknet', 'install', '--cni-bin-dir', dir.slice(0, -3)).includes(dir),
    'a directory option completes directories',
  );

  // Task ids come from `<the typed tasknet> ls -q`, with the line's --state-dir.
  const calls = join(dir, 'calls');
  const fake = writeFile(
    join(dir, 'fake-tasknet'),
    `#!/bin/sh\necho "$*" >> ${calls}\nprintf 'aaa111\\nabc222\\nbbb333\\n'\n`,
  );
  const ids = (...words: string[]) => bashComplete(file, [fake, ...words]);
  t.same(ids('stop', ''), ['aaa111', 'abc222', 'bbb333']);
  t.same(ids('stop', 'aaa111', 'a'), ['aaa111', 'abc222'], 'stop takes several tasks');
  t.same(ids('logs', '--state-dir', '/run/x', 'ab'), ['abc222']);
  t.same(ids('exec', '--state-dir=/run/y', 'b'), ['bbb333']);
  t.same(ids('logs', 'aaa111', ''), [], 'the second positional of logs is a container, not a task');
  t.same(ids('exec', 'aaa111', '--', 'l'), [], "after --, exec's command: the shell's own completion");
  t.same(readFileSync(calls, 'utf8').trim().split('\n'), [
    'ls -q',
    'ls -q',
    'ls -q --state-dir /run/x',
    'ls -q --state-dir /run/y',
  ]);
  // The state dir as the shell will pass it: without the user's quotes, with ~ expanded.
  writeFileSync(calls, '');
  ids('stop', '--state-dir', '"/run/a b"', '');
  ids('stop', "--state-dir='/run/c'", '');
  ids('stop', '--state-dir', '~/d', '');
  t.same(readFileSync(calls, 'utf8').trim().split('\n'), [
    'ls -q --state-dir /run/a b',
    'ls -q --state-dir /run/c',
    `ls -q --state-dir ${process.env.HOME}/d`,
  ]);
  // A directory name with a space is one completion, not two.
  mkdirSync(join(dir, 'with space'));
  t.same(at('tasknet', 'install', '--cni-bin-dir', join(dir, 'with')), [join(dir, 'with space')]);
});

const zsh = spawnSync('zsh', ['--version']).status === 0 ? 'zsh' : undefined;

t.test('zsh: the script is complete (its shape; with zsh installed, its syntax and answers)', async (t) => {
  const text = await script('zsh');
  t.match(text, /^#compdef tasknet\n/, 'a compsys file: #compdef on the first line');
  const count = (re: RegExp) => (text.match(re) ?? []).length;
  t.equal(count(/^\s*case\b/gm), count(/^\s*esac\b/gm), 'every case closed');
  t.equal(count(/\bif\b/g) - count(/\bfi\b/g), 0, 'every if closed');
  t.equal(count(/\{/g), count(/\}/g), 'braces balanced');
  t.match(text, /compdef _tasknet tasknet/);
  for (const spec of await commandSpecs())
    for (const o of spec.options)
      t.ok(text.includes(` ${o}`) || text.includes(`'${o}`), `${spec.name} ${o} in the script`);
  if (!zsh) {
    t.comment(
      'zsh is not installed: its syntax and answers are not checked here (the helpers it shares with bash are)',
    );
    return;
  }
  const dir = tempDir(t, 'tasknet-completion-');
  const file = writeFile(join(dir, '_tasknet'), text, 0o644);
  t.equal(spawnSync('zsh', ['-n', file]).status, 0, 'zsh -n');
  // compsys's builtins stand in as functions that print what they were given.
  const at = (...words: string[]) =>
    spawnSync(
      'zsh',
      [
        '-f',
        '-c',
        'compdef() { :; }; compadd() { print -r -- "$*" }; _files() { print -r -- "_files $*" }; compset() { :; }; ' +
          // biome-ignore lint/suspicious/noTemplateCurlyInString: zsh's own ${...}, not a template
          '_normal() { print -r -- "_normal $CURRENT ${words[*]}" }; ' +
          'source "$1"; shift; words=("$@"); CURRENT=$#; _tasknet',
        'zsh',
        file,
        ...words,
      ],
      { encoding: 'utf8' },
    ).stdout.trim();
  t.equal(at('tasknet', 'l'), `-- ${[...Object.keys(COMMANDS), 'help'].join(' ')}`);
  t.equal(at('tasknet', 'lab', ''), '-- up down');
  t.equal(at('tasknet', 'agent', '--chain', ''), '-- in-process exec');
  t.equal(at('tasknet', 'run', '--runtime=p'), '-- engine process');
  // After --, exec's command is completed as a command line of its own (words and CURRENT shifted).
  t.equal(at('tasknet', 'exec', 'abc', '--', 'ls', '-'), '_normal 2 ls -');
});
