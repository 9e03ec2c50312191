import { spawn } from 'node:child_process';
import { CniError, ErrorCode } from './errors.js';
import type { PluginOutput } from './skel.js';

// Runs one plugin binary the way a CNI runtime does: config on stdin, result or error on stdout,
// stderr passed through. node:child_process rather than execa here: this sits on ecs-bridge's ADD
// path, and execa's bundle alone costs ~24 ms of start-up per plugin process (measured).
const execOnce = (
  file: string,
  env: Readonly<Record<string, string | undefined>>,
  stdin: string,
  timeoutMs: number,
): Promise<PluginOutput> =>
  new Promise((resolve, reject) => {
    const child = spawn(file, [], { env: env as NodeJS.ProcessEnv, stdio: ['pipe', 'pipe', 'inherit'] });
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.stdout.on('data', (chunk: Buffer) => chunks.push(chunk));
    child.on('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(
        Object.assign(new CniError(ErrorCode.Delegate, `cannot run plugin ${file}: ${error.message}`), {
          errno: error.code,
        }),
      );
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const stdout = Buffer.concat(chunks).toString();
      if (signal) {
        reject(
          new CniError(
            ErrorCode.Delegate,
            `plugin ${file} was killed by ${signal}${signal === 'SIGKILL' ? ` (timeout ${timeoutMs} ms?)` : ''}`,
          ),
        );
        return;
      }
      resolve({ exitCode: code ?? 1, stdout });
    });
    child.stdin.on('error', () => {
      /* the plugin may exit without reading its config */
    });
    child.stdin.end(stdin);
  });

// A binary being replaced (an upgrade copying into CNI_PATH) fails with ETXTBSY for a moment;
// libcni retries 5 times, 1 s apart (pkg/invoke/raw_exec.go), and so do we.
export const execPlugin = async (
  file: string,
  env: Readonly<Record<string, string | undefined>>,
  stdin: string,
  {
    timeoutMs = 55_000,
    busyRetries = 5,
    busyDelayMs = 1000,
  }: { timeoutMs?: number; busyRetries?: number; busyDelayMs?: number } = {},
): Promise<PluginOutput> => {
  for (let attempt = 0; ; attempt++) {
    try {
      return await execOnce(file, env, stdin, timeoutMs);
    } catch (error) {
      if ((error as { errno?: string }).errno !== 'ETXTBSY' || attempt >= busyRetries) throw error;
      await new Promise((r) => setTimeout(r, busyDelayMs));
    }
  }
};
