// Bundles each executable into one CommonJS file under dist/. One file because a CNI runtime
// starts a fresh process per call and module resolution is start-up time; CommonJS because Node
// starts a CJS entry ~8 ms faster than an ESM one (measured on Node 20). Verb code sits behind
// dynamic import(), which esbuild turns into lazy initialisers: VERSION never runs it.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { build } from 'esbuild';

const root = new URL('..', import.meta.url).pathname;
const pkg = JSON.parse(readFileSync(`${root}package.json`, 'utf8'));

const git = (...args) => {
  try {
    return execFileSync('git', args, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return undefined;
  }
};

const hash = git('rev-parse', '--short=8', 'HEAD');
const buildInfo = {
  version: pkg.version,
  dirty: hash === undefined || (git('status', '--porcelain') ?? '') !== '',
  gitShortHash: hash ?? 'unknown',
};

export const entries = {
  'ecs-eni': 'src/plugins/eni/main.ts',
  'ecs-bridge': 'src/plugins/bridge/main.ts',
  'ecs-ipam': 'src/ipam/main.ts',
  tasknet: 'src/agent/main.ts',
};

await build({
  absWorkingDir: root,
  entryPoints: entries,
  outdir: 'dist',
  outExtension: { '.js': '.cjs' },
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  minify: true,
  legalComments: 'none',
  logLevel: 'warning',
  define: { __TASKNET_BUILD__: JSON.stringify(buildInfo) },
});
