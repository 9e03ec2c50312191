// Runs the installer as a user would (a process of its own, through test/install/entry.ts) and
// the launchers it writes.
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url)).replace(/\/$/, '');
const ENTRY = join(ROOT, 'test', 'install', 'entry.ts');

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

export const tasknet = async (args: string[], env: Record<string, string> = {}): Promise<Run> => {
  const r = await execa(process.execPath, ['--import=tsx', ENTRY, ...args], { cwd: ROOT, reject: false, env });
  return { code: r.exitCode ?? -1, stdout: r.stdout, stderr: r.stderr };
};

// `tasknet install` into temp dirs; fails the test's setup loudly when it fails.
export const installInto = async (binDir: string, confDir: string, ...extra: string[]): Promise<Run> => {
  const r = await tasknet(['install', '--cni-bin-dir', binDir, '--cni-conf-dir', confDir, ...extra]);
  if (r.code !== 0) throw new Error(`tasknet install failed (${r.code}): ${r.stderr}`);
  return r;
};
