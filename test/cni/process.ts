import { spawn } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

// Shared by the tests that are about processes: the built executables and the fake plugins.
export const REPO = fileURLToPath(new URL('../..', import.meta.url));
export const BIN = `${REPO}bin`;
export const FAKE_PLUGINS = `${REPO}test/fixtures/cni-plugins`;

// The environment of a test's child: this process's, minus any CNI_* the shell that runs the
// tests may carry, plus the call's own. (tap's process tracker re-adds NODE_OPTIONS to every
// child it sees spawned, so there is no point removing it here; the fake plugins drop it.)
export const childEnv = (extra: Record<string, string | undefined> = {}): Record<string, string | undefined> => ({
  ...Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('CNI_'))),
  ...extra,
});

export interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

// Runs an executable with exactly this env and stdin; a child that exits before reading all of
// stdin (the oversized-config case) is not an error of the test.
export const run = (
  file: string,
  {
    args = [],
    env = childEnv(),
    stdin = '',
  }: {
    args?: string[];
    env?: Record<string, string | undefined>;
    stdin?: string | Buffer;
  } = {},
): Promise<Run> =>
  new Promise((resolve, reject) => {
    const child = spawn(file, args, { env: env as NodeJS.ProcessEnv, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.on('error', reject);
    child.on('close', (code, signal) =>
      resolve({
        code,
        signal,
        stdout: Buffer.concat(out).toString(),
        stderr: Buffer.concat(err).toString(),
      }),
    );
    child.stdin.on('error', () => {
      /* EPIPE: the child stopped reading, which may be the point */
    });
    child.stdin.end(stdin);
  });

// The black-box tests run what `npm run build` produced: list what is missing, or older than the
// protocol code it bundles, so a stale dist/ fails loudly instead of testing yesterday's code.
// Each executable is two files: the start-up front (dist/NAME.cjs) and the full bundle.
export const unbuiltExecutables = (): string[] => {
  const newestSource = Math.max(...readdirSync(`${REPO}src/cni`).map((f) => statSync(`${REPO}src/cni/${f}`).mtimeMs));
  return ['ecs-eni', 'ecs-bridge', 'ecs-ipam', 'tasknet'].filter((name) =>
    [`${REPO}dist/${name}.cjs`, `${REPO}dist/${name}.full.cjs`].some(
      (bundle) => !existsSync(bundle) || statSync(bundle).mtimeMs < newestSource,
    ),
  );
};

// stdout of a CNI call must be exactly one JSON document: JSON.parse of the whole of it refuses
// a log line, a second document or a stack trace.
export const oneJsonDocument = (stdout: string): Record<string, unknown> => {
  const value: unknown = JSON.parse(stdout);
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new Error(`not a JSON object: ${stdout}`);
  return value as Record<string, unknown>;
};
