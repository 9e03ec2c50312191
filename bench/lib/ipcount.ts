// Counting `ip` processes per verb. In-process, the agent records every child with its argv and
// -batch stdin; for exec'd plugins, a shim directory put first on PATH logs each `ip` (and marks
// the ones started through nsenter) before exec'ing the real one.
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import type { IpTrace } from './protocol.js';

const OPTS_WITH_ARG = new Set(['-n', '-netns', '-f', '-family', '-b', '-batch', '-rc', '-rcvbuf', '-l', '-loops']);
const ACTIONS = new Set([
  'show',
  'list',
  'lst',
  'add',
  'del',
  'delete',
  'set',
  'replace',
  'change',
  'flush',
  'get',
  'exec',
  'save',
  'restore',
]);

// "link show", "addr add", ... from the words after `ip` and its options.
const verbOf = (words: string[]): string => {
  const [object, action] = words;
  if (object === undefined) return '(none)';
  return action !== undefined && ACTIONS.has(action) ? `${object} ${action}` : `${object} show`;
};

export interface IpCall {
  via: 'local' | '-n' | 'nsenter';
  verb: string; // "link show" or "batch[link set, link set]"
  json: boolean;
}

// argv after `ip` (and the batch lines, if any).
export const classifyIpArgs = (args: string[], batchLines: string[] | undefined, via: IpCall['via']): IpCall => {
  let json = false;
  let batch = false;
  let netnsOpt = false;
  const words: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (words.length === 0 && a.startsWith('-')) {
      if (a === '-j' || a === '-json') json = true;
      if (a === '-batch' || a === '-b') batch = true;
      if (a === '-n' || a === '-netns') netnsOpt = true;
      if (OPTS_WITH_ARG.has(a)) i++;
      continue;
    }
    words.push(a);
  }
  const where = via === 'local' && netnsOpt ? '-n' : via;
  if (batch) {
    const verbs = (batchLines ?? [])
      .filter((l) => l.trim() !== '')
      .map((l) =>
        verbOf(
          l
            .trim()
            .split(/\s+/)
            .filter((w) => !w.startsWith('-')),
        ),
      );
    return { via: where, verb: `batch[${verbs.join(', ')}]`, json };
  }
  return { via: where, verb: verbOf(words), json };
};

// An in-process trace record (argv from spawn: ip ... or nsenter --net=P ip ...).
export const classifyTrace = (t: IpTrace): IpCall | undefined => {
  const argv = t.argv;
  let via: IpCall['via'] = 'local';
  let rest = argv;
  if (argv[0] === 'nsenter') {
    via = 'nsenter';
    const i = argv.findIndex((a, k) => k > 0 && !a.startsWith('-'));
    rest = i < 0 ? [] : argv.slice(i);
  }
  if (rest[0] !== 'ip') return undefined;
  return classifyIpArgs(rest.slice(1), t.input?.split('\n'), via);
};

export const callKey = (c: IpCall): string =>
  `${c.via === 'local' ? '' : c.via === '-n' ? 'ip -n NS ' : 'nsenter ip '}${c.json ? '-j ' : ''}${c.verb}`;

export const tally = (calls: IpCall[]): Record<string, number> => {
  const out: Record<string, number> = {};
  for (const c of calls) out[callKey(c)] = (out[callKey(c)] ?? 0) + 1;
  return Object.fromEntries(Object.entries(out).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])));
};

// The shim: `ip` and `nsenter` scripts in dir. Slow (a shell per call), so never on a timed path.
export const writeShim = (dir: string): { pathPrefix: string; log: string } => {
  const realIp = execFileSync('sh', ['-c', 'command -v ip'], { encoding: 'utf8' }).trim();
  const realNsenter = execFileSync('sh', ['-c', 'command -v nsenter'], { encoding: 'utf8' }).trim();
  const log = join(dir, 'ip.log');
  writeFileSync(log, '');
  writeFileSync(
    join(dir, 'ip'),
    `#!/bin/bash
# bench shim: logs one line per ip process (via<TAB>args<TAB>batch lines joined by ';')
via=\${BENCH_VIA_NSENTER:+nsenter}
unset BENCH_VIA_NSENTER
batch=
for a in "$@"; do [ "$a" = -batch ] && batch=1; done
if [ -n "$batch" ]; then
  input=$(cat)
  printf '%s\\t%s\\t%s\\n' "$via" "$*" "\${input//$'\\n'/;}" >> "\${BENCH_IP_LOG:-/dev/null}"
  exec ${realIp} "$@" <<< "$input"
fi
printf '%s\\t%s\\t\\n' "$via" "$*" >> "\${BENCH_IP_LOG:-/dev/null}"
exec ${realIp} "$@"
`,
  );
  writeFileSync(
    join(dir, 'nsenter'),
    `#!/bin/bash
export BENCH_VIA_NSENTER=1
exec ${realNsenter} "$@"
`,
  );
  chmodSync(join(dir, 'ip'), 0o755);
  chmodSync(join(dir, 'nsenter'), 0o755);
  return { pathPrefix: dir, log };
};

export const readShimLog = (log: string): IpCall[] =>
  readFileSync(log, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [via, args, batch] = line.split('\t');
      const argv = (args ?? '').split(' ').filter(Boolean);
      const v: IpCall['via'] = via === 'nsenter' ? 'nsenter' : 'local';
      return classifyIpArgs(argv, batch ? batch.split(';') : undefined, v);
    });

export const resetShimLog = (log: string): void => writeFileSync(log, '');
