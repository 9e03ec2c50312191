// What `npm pack` ships: everything the shipped commands and docs use (the launchers and bundles,
// the example conflists `tasknet install --conflist NAME` copies, the schemas and docs README links
// to, the license), no build step for whoever installs it, and as dependencies only the modules
// the bundles load at run time.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join } from 'node:path';
import t from 'tap';
import { REPO } from '../cni/process.js';

const pkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8'));

t.test('the packed file list holds what the commands and docs use', async (t) => {
  const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], {
    cwd: REPO,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  const packed = new Set((JSON.parse(out)[0].files as { path: string }[]).map((f) => f.path));
  const expected = [
    'LICENSE',
    'README.md',
    'package.json',
    ...Object.values(pkg.bin as Record<string, string>),
    ...readdirSync(join(REPO, 'dist'))
      .filter((f) => f.endsWith('.cjs'))
      .map((f) => `dist/${f}`),
    ...readdirSync(join(REPO, 'examples/cni')).map((f) => `examples/cni/${f}`),
    ...readdirSync(join(REPO, 'schemas')).map((f) => `schemas/${f}`),
    ...readdirSync(join(REPO, 'docs')).map((f) => `docs/${f}`),
  ];
  t.same(
    expected.filter((f) => !packed.has(f)),
    [],
    'nothing missing',
  );
  // Every file README.md links to by a relative path is in the package too.
  const links = [
    ...readFileSync(join(REPO, 'README.md'), 'utf8').matchAll(/\]\(((?:docs|examples|schemas)\/[^)#\s]+)\)/g),
  ].map((m) => m[1]!);
  t.ok(links.length > 0, 'README links to files of the repository');
  t.same(
    links.filter((f) => !f.endsWith('/') && !packed.has(f)),
    [],
    'every file README links to is packed',
  );
  t.same(
    [...packed].filter((f) => /^(src|test|bench|node_modules)\//.test(f)),
    [],
    'no sources, tests or benchmarks',
  );
});

t.test('installing the package runs no build and no script of ours', async (t) => {
  const scripts = Object.keys(pkg.scripts ?? {});
  t.same(
    scripts.filter((s) => ['prepare', 'preinstall', 'install', 'postinstall'].includes(s)),
    [],
  );
  t.ok(scripts.includes('prepack'), 'npm pack builds dist/ first');
  t.same(pkg.os, ['linux']);
  t.match(readFileSync(join(REPO, 'LICENSE'), 'utf8'), /^Apache License\s+Version 2\.0, January 2004/);
  t.equal(pkg.license, 'Apache-2.0');
});

t.test('dependencies are exactly the modules the bundles leave to require at run time', async (t) => {
  const required = new Set<string>();
  for (const file of readdirSync(join(REPO, 'dist')).filter((f) => f.endsWith('.cjs'))) {
    const text = readFileSync(join(REPO, 'dist', file), 'utf8');
    for (const m of text.matchAll(/(?:require|import)\("([^"./][^"]*)"\)/g)) {
      const name = m[1]!.startsWith('@') ? m[1]!.split('/').slice(0, 2).join('/') : m[1]!.split('/')[0]!;
      if (!name.startsWith('node:') && !builtinModules.includes(name)) required.add(name);
    }
  }
  t.ok(required.has('dockerode'), 'the engine client is loaded at run time');
  t.same(Object.keys(pkg.dependencies ?? {}).sort(), [...required].sort());
});
