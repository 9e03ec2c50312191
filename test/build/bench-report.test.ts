// bench/RESULTS.md and its charts are generated from bench/results.json (bench/render.ts): the
// committed files are what the committed results give, and a chart shows every compared case.
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import t from 'tap';
import { tempDir } from '../cni/temp.js';
import { REPO } from '../cni/process.js';

const render = (...args: string[]) =>
  execa(process.execPath, ['--import=tsx', join(REPO, 'bench/render.ts'), ...args], { reject: false });

t.test('the committed report and charts are what results.json gives', async (t) => {
  const r = await render('--check');
  t.equal(r.exitCode, 0, r.stderr);
});

t.test('a chart per compared section, with each case at its median; a stale report is caught', async (t) => {
  const dir = tempDir(t, 'tasknet-bench-report-');
  cpSync(join(REPO, 'bench/results.json'), join(dir, 'results.json'));
  t.equal((await render(`--out=${dir}`)).exitCode, 0);
  const results = JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8'));
  const chain = results.sections.find((s: { id: string }) => s.id === 'chain');
  const svg = readFileSync(join(dir, 'charts/chain.svg'), 'utf8');
  for (const row of chain.rows) t.match(svg, `>${row.name}</text>`, `chain chart names ${row.name}`);
  t.match(readFileSync(join(dir, 'RESULTS.md'), 'utf8'), '](charts/chain.svg)', 'RESULTS.md shows it');
  t.equal((await render(`--out=${dir}`, '--check')).exitCode, 0);
  chain.rows[0].median *= 2;
  writeFileSync(join(dir, 'results.json'), JSON.stringify(results));
  const stale = await render(`--out=${dir}`, '--check');
  t.equal(stale.exitCode, 1, 'control: changed results make the committed report stale');
  t.match(stale.stderr, 'charts/chain.svg');
});
