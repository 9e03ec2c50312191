// Bundles each executable into CommonJS files under dist/: the full bundle (dist/<name>.full.cjs)
// and a small start-up front (dist/<name>.cjs, what bin/ and `tasknet install` launchers start).
// Few files because a CNI runtime starts a fresh process per call and module resolution is
// start-up time; CommonJS because Node starts a CJS entry ~8 ms faster than an ESM one (measured
// on Node 20). Verb code sits behind dynamic import(), which esbuild turns into lazy initialisers:
// VERSION never runs it. But V8 still parses the whole bundle, 3-5 ms of a 30 ms start, so the
// front (src/cni/front.ts) answers VERSION, --version and --capabilities from the plugin's own
// definition and loads the full bundle only for anything else.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = fileURLToPath(new URL('..', import.meta.url));
const pkg = JSON.parse(readFileSync(`${root}package.json`, 'utf8'));

const git = (...args) => {
  try {
    return execFileSync('git', args, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return undefined;
  }
};

// Outside a git checkout (the Vagrant VM builds from an rsync copy without .git) whoever copied
// the sources says which commit they are: TASKNET_GIT_HASH, and TASKNET_GIT_DIRTY=0 if clean.
const gitHash = git('rev-parse', '--short=8', 'HEAD');
const givenHash = /^[0-9a-f]{7,40}$/.test(process.env.TASKNET_GIT_HASH ?? '')
  ? process.env.TASKNET_GIT_HASH.slice(0, 8)
  : undefined;
const hash = gitHash ?? givenHash;
const buildInfo = {
  version: pkg.version,
  dirty:
    gitHash !== undefined
      ? (git('status', '--porcelain') ?? '') !== ''
      : hash === undefined || process.env.TASKNET_GIT_DIRTY !== '0',
  gitShortHash: hash ?? 'unknown',
};

export const entries = {
  'ecs-eni': 'src/plugins/eni/main.ts',
  'ecs-bridge': 'src/plugins/bridge/main.ts',
  'ecs-ipam': 'src/ipam/main.ts',
  tasknet: 'src/agent/main.ts',
};

// The definition each plugin's main.ts runs (its `plugin` export): the front answers from the
// same object, so the about text and supported versions have one source.
const definitions = {
  'ecs-eni': 'src/plugins/eni/plugin.ts',
  'ecs-bridge': 'src/plugins/bridge/plugin.ts',
  'ecs-ipam': 'src/ipam/plugin.ts',
};

// A front past this size has picked up real code through a static import (see src/cni/front.ts).
const FRONT_MAX_BYTES = 16 * 1024;

const common = {
  absWorkingDir: root,
  outdir: 'dist',
  outExtension: { '.js': '.cjs' },
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  // TASKNET_BUILD_MINIFY=0: readable bundles, for CPU profiles (the bench's section 9).
  minify: process.env.TASKNET_BUILD_MINIFY !== '0',
  legalComments: 'none',
  logLevel: 'warning',
  // import.meta.url: never read in a CommonJS bundle (src/agent/runtime/engine/client.ts).
  define: { __TASKNET_BUILD__: JSON.stringify(buildInfo), 'import.meta.url': 'undefined' },
};

// One generated entry per front: the definition, the front, and a require of the full bundle
// next to it. The definition's dynamic imports (its handlers) stay out: the front never calls
// load(), only the full bundle does.
const frontEntries = {
  name: 'tasknet-fronts',
  setup(b) {
    b.onResolve({ filter: /^tasknet-front:/ }, (args) => ({
      path: args.path.slice('tasknet-front:'.length),
      namespace: 'tasknet-front',
    }));
    b.onLoad({ filter: /.*/, namespace: 'tasknet-front' }, ({ path: name }) => {
      const full = JSON.stringify(`/${name}.full.cjs`);
      const load = `(options) => loadBundle(__dirname + ${full}, options)`;
      const contents =
        `import { loadBundle } from './src/cni/code-cache.ts';\n` +
        (name in definitions
          ? `import { plugin } from ${JSON.stringify(`./${definitions[name]}`)};\n` +
            `import { pluginFront } from './src/cni/front.ts';\n` +
            `pluginFront(plugin, ${load});\n`
          : `import { agentFront } from './src/cni/front.ts';\nagentFront(${load});\n`);
      return { contents, loader: 'ts', resolveDir: root };
    });
    b.onResolve({ filter: /.*/ }, (args) =>
      args.kind === 'dynamic-import' ? { path: args.path, external: true } : undefined,
    );
  },
};

await Promise.all([
  // dockerode stays a runtime dependency (node_modules), loaded only where an engine is used: it
  // brings gRPC and an SSH client that bundle poorly and that no plugin should parse.
  build({
    ...common,
    external: ['dockerode'],
    entryPoints: Object.fromEntries(Object.entries(entries).map(([name, main]) => [`${name}.full`, main])),
  }),
  build({
    ...common,
    entryPoints: Object.fromEntries(Object.keys(entries).map((name) => [name, `tasknet-front:${name}`])),
    plugins: [frontEntries],
  }),
]);

// A full bundle runs from a V8 code cache (src/cni/code-cache.ts), where Node 20 gives import() no
// callback: it would throw at run time. Dynamic imports of our own modules are bundled away by
// esbuild; an external must be required instead (src/agent/runtime/engine/client.ts).
for (const name of Object.keys(entries)) {
  const full = readFileSync(`${root}dist/${name}.full.cjs`, 'utf8');
  const at = full.search(/\bimport\(/);
  if (at >= 0) {
    throw new Error(`dist/${name}.full.cjs calls import() (${full.slice(at, at + 40)}...): require the module instead`);
  }
  const size = statSync(`${root}dist/${name}.cjs`).size;
  if (size > FRONT_MAX_BYTES) {
    throw new Error(
      `dist/${name}.cjs (the start-up front) is ${size} bytes, over ${FRONT_MAX_BYTES}: a static import in src/cni/front.ts or a plugin definition pulls in code the front must not load`,
    );
  }
}

// V8 code caches (src/cni/code-cache.ts): each executable answers one warm-up request with
// --write-code-cache, and keeps what V8 compiled for it in dist/<name>.full.cache. The requests
// touch nothing: the plugins' DEL of a netns that does not exist runs config parsing, the IPAM
// release (in a throwaway store) and the host-side lookups, with `ip` on PATH a stub that knows no
// link (the real one is never run); `tasknet ls` asks an agent that is not there. A DEL compiles
// more of what every verb shares than an ADD that stops at its netns check (ecs-bridge ADD: ~6 ms
// less CPU, measured).
const warmDir = mkdtempSync(join(tmpdir(), 'tasknet-build-'));
try {
  const stubs = join(warmDir, 'bin');
  mkdirSync(stubs);
  writeFileSync(join(stubs, 'ip'), "#!/bin/sh\necho '[]'\n", { mode: 0o755 });
  const cni = (command) => ({
    CNI_COMMAND: command,
    CNI_CONTAINERID: 'tasknet-build-warm-up',
    CNI_NETNS: join(warmDir, 'no-such-netns'),
    CNI_IFNAME: 'eth0',
    CNI_PATH: `${root}bin`,
    PATH: `${stubs}:${process.env.PATH}`,
  });
  const ipam = {
    type: 'ecs-ipam',
    'ipv4-subnet': '169.254.172.0/22',
    'ipv4-routes': [{ dst: '169.254.170.2/32' }],
    dataDir: join(warmDir, 'store'),
  };
  const warmUps = {
    'ecs-bridge': {
      env: cni('DEL'),
      stdin: { cniVersion: '1.0.0', name: 'warm-up', type: 'ecs-bridge', bridge: 'ecs-br0', ipam },
    },
    'ecs-eni': {
      env: cni('DEL'),
      stdin: {
        cniVersion: '1.0.0',
        name: 'warm-up',
        type: 'ecs-eni',
        eni: 'eni-0123456789abcdef0',
        mac: '0a:00:00:00:00:01',
        'ip-addresses': ['10.0.1.5/24'],
        'gateway-ip-addresses': ['10.0.1.1'],
      },
    },
    'ecs-ipam': { env: cni('ADD'), stdin: { cniVersion: '1.0.0', name: 'warm-up', type: 'ecs-ipam', ipam } },
    tasknet: { env: {}, args: ['ls', '--state-dir', join(warmDir, 'state')], stdin: {} },
  };
  for (const [name, warm] of Object.entries(warmUps)) {
    const cache = `${root}dist/${name}.full.cache`;
    rmSync(cache, { force: true });
    const run = spawnSync(process.execPath, [`${root}dist/${name}.cjs`, '--write-code-cache', ...(warm.args ?? [])], {
      input: JSON.stringify(warm.stdin),
      env: { PATH: process.env.PATH, ...warm.env },
      encoding: 'utf8',
    });
    if (!existsSync(cache)) {
      throw new Error(
        `dist/${name}.full.cache was not written by the warm-up call (exit ${run.status}): ${run.stderr}`,
      );
    }
  }
} finally {
  rmSync(warmDir, { recursive: true, force: true });
}
