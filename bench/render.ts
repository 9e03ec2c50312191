// Renders bench/RESULTS.md and bench/charts/*.svg again from bench/results.json, without running
// the bench (after a change to the report's layout). `--check` changes nothing and exits 1 when
// the committed report is not what results.json gives (test/build/bench-report.test.ts).
//   node --import=tsx bench/render.ts [--check] [--out=DIR]
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Results } from './lib/report.js';
import { writeReport } from './lib/write-report.js';

const args = process.argv.slice(2);
const check = args.includes('--check');
const dir =
  args.find((a) => a.startsWith('--out='))?.slice('--out='.length) ?? fileURLToPath(new URL('.', import.meta.url));
const results = JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8')) as Results;
const differ = writeReport(results, dir, check);
if (check && differ.length) {
  console.error(`bench report out of date with results.json: ${differ.join(', ')} (run: npm run bench:render)`);
  process.exit(1);
}
console.log(
  check
    ? 'bench report up to date'
    : `bench report: ${differ.length ? `wrote ${differ.join(', ')}` : 'nothing to change'}`,
);
