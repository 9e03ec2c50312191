// `tasknet install` and `tasknet uninstall` without the command line: plan every file first, refuse
// before writing anything, then write atomically and record what was written.
import { mkdir, rmdir, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { buildInfo } from '../../cni/build-info.js';
import { CliError } from '../cli/errors.js';
import type { Options } from '../cli/common.js';
import { agentEnvFile, agentUnit, UNIT_NAME } from './agent-service.js';
import type { ConflistSource } from './conflist.js';
import { pathState, removeFile, sha256, writeFileAtomic, type PathState } from './files.js';
import { bundlePath, launcherScript, missingBundles, PLUGINS } from './launcher.js';
import { manifestPath, readManifest, writeManifest, type Manifest, type ManifestEntry } from './manifest.js';

export interface InstallOptions {
  binDir: string;
  confDir: string;
  conflists: readonly ConflistSource[];
  force: boolean;
  root: string; // the tasknet package whose dist/ the launchers start
  nodePath: string;
  // --agent: a tasknet launcher in binDir, the unit in systemdDir, the environment file envFile.
  agent?: { systemdDir: string; envFile: string; agentOptions: Options };
}

export type Action = 'created' | 'replaced' | 'unchanged' | 'removed' | 'kept' | 'gone';

export interface Step {
  path: string;
  action: Action;
  note?: string;
  // A kept environment file: the user's settings, kept on purpose (not a failure to remove).
  conffile?: boolean;
}

interface Planned {
  entry: ManifestEntry;
  content: string;
  mode: number;
}

// Ours: what the manifest says we wrote, still byte for byte; or exactly what we are about to
// write (a manifest lost after the files were written, or a second identical install).
const isOurs = (state: PathState, recorded: ManifestEntry | undefined, content: string): boolean =>
  state.kind === 'file' && (state.sha256 === recorded?.sha256 || state.sha256 === sha256(content));

// An environment file that exists as a file or a symlink (to a site-wide file): the user's once
// it is not the bytes tasknet wrote.
const isUsersConffile = (state: PathState): boolean =>
  state.kind === 'file' || (state.kind === 'other' && state.what !== 'a directory');

const whyNotOurs = (path: string, state: PathState, recorded: ManifestEntry | undefined, binDir: string): string => {
  if (state.kind === 'other') return `${path} is ${state.what}, not a file tasknet installed`;
  return recorded
    ? `${path} was changed since tasknet installed it`
    : `${path} exists and is not tasknet's (${manifestPath(binDir)} does not list it)`;
};

// Creates a directory and its missing parents, returning those it created (top first).
const makeDirs = async (dir: string): Promise<string[]> => {
  const missing: string[] = [];
  for (let d = resolve(dir); ; d = dirname(d)) {
    try {
      if (!(await stat(d)).isDirectory()) throw new CliError(`${d} is not a directory`);
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      missing.unshift(d);
      if (dirname(d) === d) break;
    }
  }
  for (const d of missing)
    await mkdir(d, { mode: 0o755 }).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== 'EEXIST') throw e;
    });
  return missing;
};

export const install = async (options: InstallOptions): Promise<Step[]> => {
  const missing = missingBundles(options.root, options.agent !== undefined);
  if (missing.length > 0)
    throw new CliError(`${missing.join(', ')} missing: run \`npm run build\` in ${options.root} first`);
  const binDir = resolve(options.binDir);
  const confDir = resolve(options.confDir);
  // The manifest is a .json file: in a conf dir, libcni would load it as a network config.
  if (binDir === confDir) throw new CliError(`--cni-bin-dir and --cni-conf-dir must differ (both are ${binDir})`, true);
  const previous = await readManifest(binDir);
  const recorded = new Map((previous?.files ?? []).map((e) => [e.path, e]));
  const tasknet = `tasknet ${buildInfo().version} (${buildInfo().gitShortHash})`;

  const planned: Planned[] = [
    ...PLUGINS.map((plugin) => {
      const content = launcherScript(
        plugin,
        options.nodePath,
        bundlePath(options.root, plugin),
        `${tasknet} at ${options.root}`,
      );
      return {
        entry: { path: join(binDir, plugin), kind: 'launcher' as const, sha256: sha256(content) },
        content,
        mode: 0o755,
      };
    }),
    ...options.conflists.map((c) => ({
      entry: { path: join(confDir, c.name), kind: 'conflist' as const, sha256: sha256(c.text) },
      content: c.text,
      mode: 0o644,
    })),
    ...(options.agent ? agentFiles(options.agent, binDir, options, tasknet) : []),
  ];
  const names = planned.map((p) => p.entry.path);
  const twice = names.find((p, i) => names.indexOf(p) !== i);
  if (twice) throw new CliError(`two conflists would both be installed as ${twice}`, true);

  // Every refusal before any write: a refused install changes nothing.
  const states = await Promise.all(planned.map((p) => pathState(p.entry.path)));
  // The environment file once changed (or never ours: also a symlink to the site's own file) is
  // the user's: kept, never a conflict, also with --force.
  const keptConffile = (p: Planned, state: PathState): boolean =>
    p.entry.kind === 'env' && isUsersConffile(state) && !isOurs(state, recorded.get(p.entry.path), p.content);
  const conflicts = planned.flatMap((p, i) => {
    const state = states[i]!;
    if (state.kind === 'missing' || isOurs(state, recorded.get(p.entry.path), p.content) || keptConffile(p, state))
      return [];
    if (state.kind === 'other' && state.what === 'a directory')
      return [`${p.entry.path} is a directory: remove it yourself`];
    return options.force
      ? []
      : [`${whyNotOurs(p.entry.path, state, recorded.get(p.entry.path), binDir)}; use --force to replace it`];
  });
  if (conflicts.length > 0) throw new CliError(`refusing to install: ${conflicts.join('; ')}`);

  const agentDirs = options.agent ? [resolve(options.agent.systemdDir), dirname(resolve(options.agent.envFile))] : [];
  const createdDirs: string[] = [];
  for (const dir of [binDir, confDir, ...agentDirs]) createdDirs.push(...(await makeDirs(dir)));
  const steps: Step[] = [];
  const keptPaths = new Set<string>();
  for (const [i, p] of planned.entries()) {
    const state = states[i]!;
    if (keptConffile(p, state)) {
      keptPaths.add(p.entry.path);
      steps.push({
        path: p.entry.path,
        action: 'kept',
        conffile: true,
        note: `${recorded.has(p.entry.path) ? 'changed since install' : 'not written by tasknet'}: your settings stay as they are`,
      });
      continue;
    }
    if (state.kind === 'file' && state.sha256 === p.entry.sha256) {
      // Same bytes: only the mode could differ (someone's chmod); put ours back without a rewrite,
      // except on the environment file, whose mode is the user's to tighten.
      const { mode } = await stat(p.entry.path);
      if ((mode & 0o7777) === p.mode || p.entry.kind === 'env') {
        steps.push({ path: p.entry.path, action: 'unchanged' });
        continue;
      }
    }
    await writeFileAtomic(p.entry.path, p.content, p.mode);
    steps.push({ path: p.entry.path, action: state.kind === 'missing' ? 'created' : 'replaced' });
  }

  // Earlier installs' files stay recorded (another --conflist, say) until uninstall.
  const files = new Map(previous?.files.map((e) => [e.path, e]));
  // A kept environment file keeps its old record (changed: uninstall keeps it too), or none.
  for (const p of planned) if (!keptPaths.has(p.entry.path)) files.set(p.entry.path, p.entry);
  const manifest: Manifest = {
    v: 1,
    installedFrom: options.root,
    node: options.nodePath,
    tasknet,
    updatedAt: new Date().toISOString(),
    files: [...files.values()],
    createdDirs: [...new Set([...(previous?.createdDirs ?? []), ...createdDirs])],
  };
  await writeManifest(binDir, manifest);
  return steps;
};

export interface UninstallOptions {
  binDir: string;
  force: boolean;
}

// Removes what the manifest lists, each file only while it is still what install wrote (or with
// --force); a kept file stays in the manifest so a later uninstall can still find it.
export const uninstall = async (options: UninstallOptions): Promise<Step[]> => {
  const binDir = resolve(options.binDir);
  const manifest = await readManifest(binDir);
  if (!manifest) return [];
  const steps: Step[] = [];
  const kept: ManifestEntry[] = [];
  for (const entry of manifest.files) {
    const state = await pathState(entry.path);
    if (state.kind === 'missing') {
      steps.push({ path: entry.path, action: 'gone' });
    } else if (
      (state.kind === 'file' && state.sha256 === entry.sha256) ||
      (options.force && !(state.kind === 'other' && state.what === 'a directory'))
    ) {
      await removeFile(entry.path);
      steps.push({ path: entry.path, action: 'removed' });
    } else if (entry.kind === 'env' && isUsersConffile(state)) {
      // As a package manager keeps a changed conffile: the user's settings stay, and the file is
      // no longer tasknet's (dropped from the manifest).
      steps.push({
        path: entry.path,
        action: 'kept',
        conffile: true,
        note: 'changed since install: your settings stay (remove it yourself, or uninstall --force)',
      });
    } else {
      kept.push(entry);
      steps.push({
        path: entry.path,
        action: 'kept',
        note: `${whyNotOurs(entry.path, state, entry, binDir)}; use --force to remove it`,
      });
    }
  }
  if (kept.length > 0) {
    await writeManifest(binDir, { ...manifest, files: kept, updatedAt: new Date().toISOString() });
    return steps;
  }
  await removeFile(manifestPath(binDir));
  steps.push({ path: manifestPath(binDir), action: 'removed' });
  // Deepest first; a directory someone else put files into stays.
  for (const dir of [...manifest.createdDirs].sort((a, b) => b.length - a.length)) {
    await rmdir(dir).catch(() => {
      /* not empty, or already gone */
    });
  }
  return steps;
};

// `install --agent`'s files: tasknet's own launcher next to the plugins' (the unit's ExecStart),
// the unit, and the environment file it reads.
const agentFiles = (
  agent: NonNullable<InstallOptions['agent']>,
  binDir: string,
  options: InstallOptions,
  tasknet: string,
): Planned[] => {
  const launcherPath = join(binDir, 'tasknet');
  const envFile = resolve(agent.envFile);
  const unitPath = join(resolve(agent.systemdDir), UNIT_NAME);
  const from = `${tasknet} at ${options.root}`;
  const launcher = launcherScript('tasknet', options.nodePath, bundlePath(options.root, 'tasknet'), from);
  const unit = agentUnit({ launcher: launcherPath, envFile, from });
  const env = agentEnvFile(agent.agentOptions, envFile, unitPath);
  return [
    { entry: { path: launcherPath, kind: 'launcher', sha256: sha256(launcher) }, content: launcher, mode: 0o755 },
    { entry: { path: unitPath, kind: 'unit', sha256: sha256(unit) }, content: unit, mode: 0o644 },
    // Root's only: operators put credentials in an EnvironmentFile.
    { entry: { path: envFile, kind: 'env', sha256: sha256(env) }, content: env, mode: 0o600 },
  ];
};
