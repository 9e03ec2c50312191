// `tasknet completion bash|zsh`: a completion script generated from the CLI's own tables: the
// commands from index.ts's COMMANDS, each command's options from the table it parses with
// (describeOptions), so a new command or option is completed without anyone touching this file.
// What the tables cannot say, which positionals are verbs or task ids, is POSITIONALS below (a
// test holds it to each command's usage lines).
import { buildInfo } from '../../cni/build-info.js';
import { RUNTIME_KINDS } from '../runtime/runtime.js';
import { CHAIN_MODES } from '../task/network.js';
import { CNI_VERBS } from './cni.js';
import { describeOptions, parseOptions } from './common.js';
import { CliError } from './errors.js';

export const SHELLS = ['bash', 'zsh'] as const;
type Shell = (typeof SHELLS)[number];

const HELP = `usage: tasknet completion bash|zsh

Prints a completion script for the shell: commands, each command's options and their values
(--runtime, --chain, directories), lab/image/cni verbs, and task ids (from tasknet ls -q, with the
--state-dir of the command line) for stop, logs and exec.
  bash:  source <(tasknet completion bash)        or save it as
         /etc/bash_completion.d/tasknet (or ~/.local/share/bash-completion/completions/tasknet)
  zsh:   source <(tasknet completion zsh)         after compinit, or save it as _tasknet in a
         directory of $fpath`;

// What a command's positionals are: verbs (the first positional), or task ids (the first, or all).
export const POSITIONALS: Record<string, { verbs?: readonly string[]; tasks?: 'first' | 'all' }> = {
  stop: { tasks: 'all' },
  logs: { tasks: 'first' },
  exec: { tasks: 'first' },
  lab: { verbs: ['up', 'down'] },
  image: { verbs: ['load', 'build', 'ls'] },
  cni: { verbs: CNI_VERBS },
  completion: { verbs: SHELLS },
};

// Values of an option, by its name in every command: words, or a directory.
const VALUES: Record<string, readonly string[] | 'dir'> = {
  runtime: RUNTIME_KINDS,
  chain: CHAIN_MODES,
  eni: ['auto'],
  'state-dir': 'dir',
  'cni-bin-dir': 'dir',
  'cni-conf-dir': 'dir',
  'systemd-dir': 'dir',
  'cache-dir': 'dir',
};

export interface CommandSpec {
  name: string;
  options: string[]; // --long and -s forms
  valueOptions: string[]; // those of them that take a value
  verbs?: readonly string[];
  tasks?: 'first' | 'all';
}

// Every command with its options, in the order of COMMANDS, then `help`.
export const commandSpecs = async (): Promise<CommandSpec[]> => {
  const { COMMANDS } = await import('./index.js');
  const specs: CommandSpec[] = [];
  for (const [name, load] of Object.entries(COMMANDS)) {
    const table = await describeOptions(await load());
    const options: string[] = [];
    const valueOptions: string[] = [];
    for (const [long, option] of Object.entries(table)) {
      const forms = [`--${long}`, ...(option.short ? [`-${option.short}`] : [])];
      options.push(...forms);
      if (option.type === 'string') valueOptions.push(...forms);
    }
    specs.push({ name, options, valueOptions, ...POSITIONALS[name] });
  }
  specs.push({ name: 'help', options: [], valueOptions: [], verbs: Object.keys(COMMANDS) });
  return specs;
};

// Single-quoted for sh, bash and zsh alike (every word here is [a-z0-9-] anyway).
const q = (s: string): string => `'${s.replaceAll("'", "'\\''")}'`;

// The helpers both shells share: plain sh `case` tables that print candidate words, or a :kind the
// shell's own function turns into its native file, directory or task completion.
const helpers = (specs: CommandSpec[]): string => {
  const lines: string[] = [];
  lines.push(`_tasknet_commands=${q(specs.map((s) => s.name).join(' '))}`, '');
  lines.push('# _tasknet_options CMD: its options.', '_tasknet_options() {', '  case $1 in');
  for (const s of specs) if (s.options.length > 0) lines.push(`    ${s.name}) echo ${q(s.options.join(' '))} ;;`);
  lines.push('  esac', '}', '');
  lines.push(
    '# _tasknet_takes_value CMD OPTION: whether OPTION takes a value (the next word).',
    '_tasknet_takes_value() {',
    '  case "$1 $2" in',
  );
  const pairs = specs.flatMap((s) => s.valueOptions.map((o) => q(`${s.name} ${o}`)));
  if (pairs.length > 0) lines.push(`    ${pairs.join('|')}) return 0 ;;`);
  lines.push('  esac', '  return 1', '}', '');
  lines.push('# _tasknet_values OPTION: its values, or :dir or :file.', '_tasknet_values() {', '  case $1 in');
  for (const [name, values] of Object.entries(VALUES)) {
    lines.push(`    --${name}) echo ${values === 'dir' ? ':dir' : q(values.join(' '))} ;;`);
  }
  lines.push('    *) echo :file ;;', '  esac', '}', '');
  lines.push(
    '# _tasknet_positional CMD INDEX: the INDEX-th (from 0) positional: words, :tasks or :file.',
    '_tasknet_positional() {',
    '  case $1 in',
  );
  for (const s of specs) {
    if (s.verbs)
      lines.push(`    ${s.name}) if [ "$2" = 0 ]; then echo ${q(s.verbs.join(' '))}; else echo :file; fi ;;`);
    else if (s.tasks === 'all') lines.push(`    ${s.name}) echo :tasks ;;`);
    else if (s.tasks === 'first')
      lines.push(`    ${s.name}) if [ "$2" = 0 ]; then echo :tasks; else echo :none; fi ;;`);
  }
  lines.push('    *) echo :file ;;', '  esac', '}', '');
  // The shells hand over words as typed: quotes and a leading ~ are the user's, not the path's.
  lines.push(
    '# _tasknet_dequote WORD: WORD without its surrounding quotes, a leading ~ made $HOME.',
    '_tasknet_dequote() {',
    '  local w=$1',
    '  case $w in',
    `    \\"*\\"|\\'*\\') w=\${w:1:\${#w}-2} ;;`,
    '  esac',
    `  case $w in`,
    `    '~'|'~/'*) w=$HOME\${w:1} ;;`,
    '  esac',
    `  printf '%s' "$w"`,
    '}',
  );
  return lines.join('\n');
};

// The words before the cursor, read the same way in both shells: the command, the value an option
// takes, --state-dir (for the task ids), `--` (exec's command follows), the positionals' count.
const scan = (
  first: string,
  end: string,
  word: (i: string) => string,
): string => `  local cmd='' w='' value_of='' state_dir='' dashdash=0 npos=0 i
  for ((i = ${first}; i < ${end}; i++)); do
    w=${word('i')}
    if [[ -z $cmd ]]; then
      cmd=$w
      continue
    fi
    if [[ -n $value_of ]]; then
      [[ $w == '=' ]] && continue
      [[ $value_of == --state-dir ]] && state_dir=$(_tasknet_dequote "$w")
      value_of=''
      continue
    fi
    if ((dashdash)); then
      npos=$((npos + 1))
      continue
    fi
    case $w in
      --) dashdash=$i ;;
      --state-dir=*) state_dir=$(_tasknet_dequote "\${w#--state-dir=}") ;;
      -*=*) ;;
      -*) _tasknet_takes_value "$cmd" "$w" && value_of=$w ;;
      *) npos=$((npos + 1)) ;;
    esac
  done`;

const header = (
  shell: Shell,
): string => `# ${shell} completion for tasknet ${buildInfo().version} (${buildInfo().gitShortHash}), generated by
# \`tasknet completion ${shell}\` from the CLI's own command and option tables: regenerate it after
# an upgrade. Task ids come from \`tasknet ls -q\`.`;

export const bashScript = (specs: CommandSpec[]): string => `${header('bash')}
# Load: source <(tasknet completion bash)

${helpers(specs)}

_tasknet_tasks() {
  "\${COMP_WORDS[0]}" ls -q \${1:+--state-dir "$1"} 2>/dev/null
}

# Words as completions: COMPREPLY from a word list, a :kind, and the current word.
_tasknet_reply() {
  case $1 in
    :dir) compopt -o filenames 2>/dev/null; mapfile -t COMPREPLY < <(compgen -d -- "$2") ;;
    :none) compopt +o default 2>/dev/null; COMPREPLY=() ;;
    :file) COMPREPLY=() ;;
    :tasks) COMPREPLY=($(compgen -W "$(_tasknet_tasks "$3")" -- "$2")) ;;
    *) COMPREPLY=($(compgen -W "$1" -- "$2")) ;;
  esac
}

_tasknet() {
  local cur=\${COMP_WORDS[COMP_CWORD]}
  COMPREPLY=()
${scan('1', 'COMP_CWORD', (i) => `\${COMP_WORDS[${i}]}`)}
  if [[ -z $cmd ]]; then
    if [[ $cur == -* ]]; then _tasknet_reply '--help --version' "$cur"; else _tasknet_reply "$_tasknet_commands" "$cur"; fi
    return 0
  fi
  if [[ -n $value_of ]]; then
    [[ $cur == '=' ]] && cur=''
    _tasknet_reply "$(_tasknet_values "$value_of")" "$cur" "$state_dir"
    return 0
  fi
  ((dashdash)) && return 0
  case $cur in
    -*=*) return 0 ;;
    -*) _tasknet_reply "$(_tasknet_options "$cmd")" "$cur" ;;
    *) _tasknet_reply "$(_tasknet_positional "$cmd" "$npos")" "$cur" "$state_dir" ;;
  esac
  return 0
}

complete -o default -F _tasknet tasknet
`;

export const zshScript = (specs: CommandSpec[]): string => `#compdef tasknet
${header('zsh')}
# Load: source <(tasknet completion zsh) after compinit, or save as _tasknet in a $fpath directory.

${helpers(specs)}

_tasknet_tasks() {
  local -a sd
  [[ -n $1 ]] && sd=(--state-dir "$1")
  \${words[1]} ls -q $sd 2>/dev/null
}

# Words as completions: compadd from a word list, or zsh's own file and directory completion.
_tasknet_reply() {
  case $1 in
    :dir) _files -/ ;;
    :file) _files ;;
    :none) return 1 ;;
    :tasks) compadd -- \${(f)"$(_tasknet_tasks "$2")"} ;;
    *) compadd -- \${=1} ;;
  esac
}

_tasknet() {
  local cur=\${words[CURRENT]}
${scan('2', 'CURRENT', (i) => `\${words[${i}]}`)}
  if [[ -z $cmd ]]; then
    if [[ $cur == -* ]]; then _tasknet_reply '--help --version'; else _tasknet_reply "$_tasknet_commands"; fi
    return
  fi
  if [[ -n $value_of ]]; then
    _tasknet_reply "$(_tasknet_values "$value_of")" "$state_dir"
    return
  fi
  # After --, the words from there on are a command line of their own (exec's command).
  ((dashdash)) && { words=("\${(@)words[dashdash+1,-1]}"); (( CURRENT -= dashdash )); _normal; return; }
  if [[ $cur == --*=* ]]; then
    local option=\${cur%%=*}
    compset -P '*='
    _tasknet_takes_value "$cmd" "$option" && _tasknet_reply "$(_tasknet_values "$option")" "$state_dir"
    return
  fi
  if [[ $cur == -* ]]; then
    _tasknet_reply "$(_tasknet_options "$cmd")"
  else
    _tasknet_reply "$(_tasknet_positional "$cmd" "$npos")" "$state_dir"
  fi
}

if [[ \${funcstack[1]} == _tasknet ]]; then
  _tasknet "$@"
else
  compdef _tasknet tasknet
fi
`;

export const completionCommand = async (argv: string[]): Promise<number> => {
  const { values, positionals } = parseOptions({
    args: argv,
    allowPositionals: true,
    options: { help: { type: 'boolean', short: 'h' } },
  });
  if (values.help) {
    process.stdout.write(`${HELP}\n`);
    return 0;
  }
  const [shell, ...extra] = positionals;
  if (!SHELLS.includes(shell as Shell) || extra.length > 0)
    throw new CliError(`expected bash or zsh (tasknet help completion)`, true);
  const specs = await commandSpecs();
  process.stdout.write(shell === 'bash' ? bashScript(specs) : zshScript(specs));
  return 0;
};
