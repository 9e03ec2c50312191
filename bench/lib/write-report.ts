// Writes (or, with check, compares) a run's report files in a results dir; an old chart of a
// section the run no longer has is removed, so the charts/ folder is exactly what RESULTS.md shows.
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { reportFiles, type Results } from './report.js';

// The files that differ from what the results give (empty: up to date); written unless check.
export const writeReport = (results: Results, dir: string, check = false): string[] => {
  const files = reportFiles(results);
  const chartsDir = join(dir, 'charts');
  const stale = existsSync(chartsDir)
    ? readdirSync(chartsDir)
        .filter((f) => f.endsWith('.svg') && !files.has(`charts/${f}`))
        .map((f) => `charts/${f}`)
    : [];
  const differ = [...files]
    .filter(([path, text]) => !existsSync(join(dir, path)) || readFileSync(join(dir, path), 'utf8') !== text)
    .map(([path]) => path);
  if (!check) {
    for (const path of differ) {
      mkdirSync(dirname(join(dir, path)), { recursive: true });
      writeFileSync(join(dir, path), files.get(path)!);
    }
    for (const path of stale) rmSync(join(dir, path));
  }
  return [...differ, ...stale];
};
