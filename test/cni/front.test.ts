// The start-up front (src/cni/front.ts, dist/NAME.cjs) against the full bundle it stands in front
// of. front-<name>.test.ts run, for each bin/ executable, a matrix of VERSION inputs, environments,
// flags and odd stdin/stdout once as is and once with the front skipped (TASKNET_SKIP_FRONT), and
// compare stdout, stderr, exit code and signal. This file checks that the plain cases really are
// answered by the front alone, and everything else really does reach the full bundle.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { SKIP_FRONT_ENV } from '../../src/cni/front.js';
import { MAX_CONFIG_BYTES } from '../../src/cni/stdio.js';
import { SUPPORTED_VERSIONS } from '../../src/cni/version.js';
import { EXECUTABLES, inBatches, padded, runCase, tmp, type Case } from './front-cases.js';
import { BIN, unbuiltExecutables } from './process.js';

t.test('dist/ is built and current (npm run build)', async (t) => {
  t.same(unbuiltExecutables(), []);
});

// A preload that writes, at exit, every CommonJS file the process loaded.
const preload = join(tmp, 'record-loads.cjs');
writeFileSync(
  preload,
  `process.on('exit', () => require('node:fs').writeFileSync(process.env.TASKNET_TEST_LOADS, JSON.stringify(Object.keys(require.cache))));\n`,
);

const loadsFull = async (name: string, c: Case, extra: Record<string, string> = {}): Promise<boolean> => {
  const record = join(tmp, `loads-${name}-${Math.random().toString(16).slice(2)}.json`);
  const out = await runCase(join(BIN, name), c, { TASKNET_TEST_LOADS: record, ...extra }, ['--require', preload]);
  if (out.code !== 0 && out.code !== 1 && out.code !== 2)
    throw new Error(`${name} ${c.name}: exit ${out.code} ${out.stderr}`);
  const loaded = JSON.parse(readFileSync(record, 'utf8')) as string[];
  return loaded.some((f) => f.endsWith(`${name}.full.cjs`));
};

t.test('the plain cases never load the full bundle; every other case does', async (t) => {
  const plain: Case[] = [
    ...SUPPORTED_VERSIONS.map((v) => ({ name: `cniVersion ${v}`, stdin: JSON.stringify({ cniVersion: v }) })),
    { name: 'config at the size limit', stdin: padded('0.4.0', MAX_CONFIG_BYTES) },
    { name: '--version', args: ['--version'], env: { CNI_COMMAND: undefined } },
    { name: '--capabilities', args: ['--capabilities'], env: { CNI_COMMAND: undefined } },
  ];
  const pluginPlain: Case[] = [
    { name: 'about text', env: { CNI_COMMAND: undefined } },
    { name: '-h', args: ['-h'] },
  ];
  const handedOn: Case[] = [
    { name: 'invalid JSON', stdin: '{"cniVersion":' },
    { name: 'empty stdin', stdin: '' },
    { name: 'no cniVersion', stdin: '{}' },
    { name: 'prefixed cniVersion', stdin: '{"cniVersion":"v1.0.0"}' },
    { name: 'config one byte over the limit', stdin: padded('0.4.0', MAX_CONFIG_BYTES + 1) },
    { name: 'stdin is a directory', stdin: 'directory' },
    { name: 'ADD', env: { CNI_COMMAND: 'ADD' } },
    { name: 'VERSION to a failing stdout', stdout: 'read-only' },
  ];
  const checks: { name: string; c: Case; skip: boolean; full: boolean; what: string }[] = [];
  for (const name of EXECUTABLES) {
    const isPlugin = name !== 'tasknet';
    for (const c of [...plain, ...(isPlugin ? pluginPlain : [])]) {
      checks.push({ name, c, skip: false, full: false, what: 'answered by the front' });
      checks.push({ name, c, skip: true, full: true, what: `with ${SKIP_FRONT_ENV}: the full bundle` });
    }
    // tasknet's VERSION ignores stdin, so only its non-probe cases reach the full bundle.
    for (const c of isPlugin ? handedOn : handedOn.filter((x) => x.env?.CNI_COMMAND === 'ADD')) {
      checks.push({ name, c, skip: false, full: true, what: 'handed to the full bundle' });
    }
  }
  const seen = await inBatches(checks, 4, (x) => loadsFull(x.name, x.c, x.skip ? { [SKIP_FRONT_ENV]: '1' } : {}));
  checks.forEach((x, i) => {
    t.equal(seen[i], x.full, `${x.name} ${x.c.name}: ${x.what}`);
  });
});
