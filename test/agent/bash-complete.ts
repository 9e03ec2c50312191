// Runs a bash completion script as bash does: COMP_WORDS and COMP_CWORD set, the cursor on the
// last word, _tasknet called; returns COMPREPLY.
import { spawnSync } from 'node:child_process';

export const bashComplete = (file: string, words: string[]): string[] => {
  const r = spawnSync(
    'bash',
    [
      '-c',
      // biome-ignore lint/suspicious/noTemplateCurlyInString: bash's own ${...}, not a template
      'source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _tasknet; printf "%s\\n" "${COMPREPLY[@]}"',
      'bash',
      file,
      ...words,
    ],
    { encoding: 'utf8' },
  );
  if (r.status !== 0 || r.stderr) throw new Error(`bash completion failed for ${words.join(' ')}: ${r.stderr}`);
  return r.stdout.split('\n').filter(Boolean);
};
