import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { CniError, ErrorCode } from './errors.js';
import { execPlugin } from './exec.js';
import { parseResult } from './result-parse.js';
import type { Result } from './result.js';
import { runPlugin, type PluginDefinition, type PluginOutput, type PluginRequest } from './skel.js';

const PLUGIN_TYPE = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

// SPEC.md section 4 / libcni FindInPath: a plugin `type` is a file name searched in CNI_PATH in
// order; anything with a path separator would let a config run an arbitrary binary.
export const findPlugin = (type: string, cniPath: readonly string[]): string => {
  if (!PLUGIN_TYPE.test(type) || type === '..' || type.length > 255) {
    throw new CniError(
      ErrorCode.InvalidNetworkConfig,
      `invalid plugin type ${JSON.stringify(type)}: must be a plain file name`,
    );
  }
  if (cniPath.length === 0) {
    throw new CniError(ErrorCode.InvalidEnvironment, `cannot find plugin "${type}": CNI_PATH is empty`);
  }
  for (const dir of cniPath) {
    const file = join(dir, type);
    try {
      const stat = statSync(file);
      if (stat.isFile() && (stat.mode & 0o111) !== 0) return file;
    } catch {
      /* not in this directory */
    }
  }
  throw new CniError(ErrorCode.Delegate, `failed to find plugin "${type}" in path [${cniPath.join(' ')}]`);
};

// Launchers written by tasknet (bin/ and `tasknet install`) carry this mark near the top, so a
// caller can tell "this is our own plugin" from the file CNI_PATH resolved, not from the type name.
export const LAUNCHER_MARK = 'tasknet-plugin=';

export const ownPluginName = (file: string): string | undefined => {
  let fd: number | undefined;
  try {
    fd = openSync(file, 'r');
    const head = Buffer.alloc(512);
    const n = readSync(fd, head, 0, head.length, 0);
    return new RegExp(`${LAUNCHER_MARK}([a-z-]+)`).exec(head.subarray(0, n).toString('latin1'))?.[1];
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
};

// Turns a plugin's exit code and stdout into its result or its own CNI error (code kept, message
// prefixed with the plugin's type so the user sees which link of the chain failed).
export const readPluginOutput = (type: string, out: PluginOutput, cniVersion: string): Result | undefined => {
  if (out.exitCode === 0) {
    if (out.stdout.trim() === '') return undefined;
    let json: unknown;
    try {
      json = JSON.parse(out.stdout);
    } catch {
      throw new CniError(
        ErrorCode.DecodeFailure,
        `plugin ${type} printed a result that is not JSON`,
        out.stdout.slice(0, 500),
      );
    }
    return parseResult(json, cniVersion, `${type} result`);
  }
  let error: { code?: unknown; msg?: unknown; details?: unknown } = {};
  try {
    error = JSON.parse(out.stdout) as typeof error;
  } catch {
    /* not a CNI error JSON: report the raw text below */
  }
  if (typeof error.code === 'number' && typeof error.msg === 'string') {
    throw new CniError(
      error.code,
      `${type}: ${error.msg}`,
      typeof error.details === 'string' ? error.details : undefined,
    );
  }
  throw new CniError(
    ErrorCode.Delegate,
    `plugin ${type} failed with exit code ${out.exitCode}`,
    out.stdout.slice(0, 500) || undefined,
  );
};

export interface DelegateOptions {
  // Plugins of this package that may run in this process when CNI_PATH resolves to their launcher.
  inProcess?: Readonly<Record<string, () => Promise<PluginDefinition>>>;
  timeoutMs?: number;
}

// Runs a delegate (IPAM) plugin for the current request with the same stdin and env, only
// CNI_COMMAND changed (SPEC.md section 4). When the binary found is one of ours, the same code
// runs in-process: same input, same output, one Node start-up fewer.
export const delegate = async (
  type: string,
  command: PluginRequest['command'],
  req: Pick<PluginRequest, 'path' | 'env' | 'stdin' | 'cniVersion'>,
  options: DelegateOptions = {},
): Promise<Result | undefined> => {
  const file = findPlugin(type, req.path);
  const env = { ...req.env, CNI_COMMAND: command };
  const own = ownPluginName(file);
  const loadDefinition = own === type ? options.inProcess?.[type] : undefined;
  const out = loadDefinition
    ? await runPlugin(await loadDefinition(), { env, stdin: req.stdin })
    : await execPlugin(file, env, req.stdin, { timeoutMs: options.timeoutMs });
  return readPluginOutput(type, out, req.cniVersion);
};
