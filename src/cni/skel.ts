import { fstatSync, readSync, writeSync } from 'node:fs';
import type { CniArgs } from './args.js';
import { parseNetConf, MAX_CONFIG_BYTES, type NetConfObject } from './config.js';
import { parseCniEnv, type Verb } from './env.js';
import { CniError, ErrorCode, toCniError } from './errors.js';
import { buildInfo } from './build-info.js';
import { logger } from './log.js';
import { formatResult, type Result } from './result.js';
import { CURRENT_VERSION, SUPPORTED_VERSIONS } from './version.js';

// Everything a verb needs about one call: the parsed env, the decoded config, and the raw stdin
// and env (delegates must receive them unchanged, SPEC.md section 4).
export interface PluginRequest {
  command: Exclude<Verb, 'VERSION'>;
  containerId: string;
  netns: string;
  ifname: string;
  args: CniArgs;
  path: string[];
  cniVersion: string;
  config: NetConfObject;
  stdin: string;
  env: Readonly<Record<string, string | undefined>>;
}

export interface PluginHandlers {
  add(req: PluginRequest): Promise<Result>;
  del(req: PluginRequest): Promise<void>;
  check?(req: PluginRequest): Promise<void>;
  status?(req: PluginRequest): Promise<void>;
  gc?(req: PluginRequest): Promise<void>;
}

export interface PluginDefinition {
  name: string;
  about: string;
  supportedVersions?: readonly string[];
  // CNI_ARGS keys the plugin understands; others need IgnoreUnknown=1.
  knownArgs?: readonly string[];
  // Loaded only for verbs that need it, so VERSION and bad input never pay for the plugin's code.
  load(): Promise<PluginHandlers>;
}

export interface PluginCall {
  env: Readonly<Record<string, string | undefined>>;
  stdin: string | Buffer;
}

export interface PluginOutput {
  exitCode: number;
  stdout: string;
}

const ECS_CAPABILITIES = { capabilities: ['awsvpc-network-mode'] };

const errorOutput = (error: unknown, cniVersion: string): PluginOutput => {
  const cniError = toCniError(error);
  if (cniError.code === ErrorCode.Internal) logger.error(`internal error: ${(error as Error)?.stack ?? String(error)}`);
  return { exitCode: 1, stdout: `${JSON.stringify(cniError.toJSON(cniVersion))}\n` };
};

const versionOutput = (stdin: string | Buffer, supported: readonly string[]): PluginOutput => {
  // The spec answers with the request's cniVersion; garbage or empty stdin is not an error here.
  let cniVersion: string = CURRENT_VERSION;
  try {
    const requested = (JSON.parse(stdin.toString()) as { cniVersion?: unknown }).cniVersion;
    if (typeof requested === 'string' && requested !== '') cniVersion = requested;
  } catch { /* VERSION ignores a config it cannot read */ }
  return { exitCode: 0, stdout: `${JSON.stringify({ cniVersion, supportedVersions: supported })}\n` };
};

// One CNI call from env + stdin to exit code + stdout. The executable and the in-process callers
// (the agent, ecs-bridge's IPAM delegation) share this, so their answers cannot differ.
export const runPlugin = async (def: PluginDefinition, call: PluginCall): Promise<PluginOutput> => {
  const supported = def.supportedVersions ?? SUPPORTED_VERSIONS;
  let cniVersion: string = CURRENT_VERSION;
  try {
    const env = parseCniEnv(call.env, def.knownArgs);
    if (env.command === 'VERSION') return versionOutput(call.stdin, supported);
    const config = parseNetConf(call.stdin, env.command, supported);
    cniVersion = config.cniVersion;
    const request: PluginRequest = {
      ...env,
      command: env.command,
      cniVersion,
      config,
      stdin: call.stdin.toString(),
      env: call.env,
    };
    const handlers = await def.load();
    switch (request.command) {
      case 'ADD': {
        const result = await handlers.add(request);
        return { exitCode: 0, stdout: `${JSON.stringify(formatResult(result, cniVersion))}\n` };
      }
      case 'DEL':
        await handlers.del(request);
        break;
      case 'CHECK':
        await (handlers.check ?? notImplemented('CHECK', def.name))(request);
        break;
      case 'STATUS':
        await handlers.status?.(request); // no STATUS handler: ready whenever the binary runs
        break;
      case 'GC':
        await handlers.gc?.(request); // no GC handler: the plugin holds nothing to collect
        break;
    }
    return { exitCode: 0, stdout: '' };
  } catch (error) {
    return errorOutput(error, cniVersion);
  }
};

const notImplemented = (verb: string, plugin: string) => async (): Promise<void> => {
  throw new CniError(ErrorCode.Plugin, `${verb} is not implemented by ${plugin}`);
};

// Reads stdin synchronously (no stream machinery on the start-up path) and stops one byte past the
// limit, so an oversized config is refused without reading all of it.
export const readStdin = (fd = 0): Buffer => {
  try {
    const stat = fstatSync(fd);
    if (stat.isCharacterDevice()) return Buffer.alloc(0); // a terminal: nobody is piping a config
  } catch {
    return Buffer.alloc(0);
  }
  const chunks: Buffer[] = [];
  let total = 0;
  const chunk = Buffer.allocUnsafe(64 * 1024);
  for (;;) {
    let n: number;
    try {
      n = readSync(fd, chunk, 0, chunk.length, null);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'EAGAIN') { Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5); continue; }
      if (code === 'EOF') break;
      throw new CniError(ErrorCode.IoFailure, `cannot read the network config from stdin: ${(error as Error).message}`);
    }
    if (n === 0) break;
    chunks.push(Buffer.from(chunk.subarray(0, n)));
    total += n;
    if (total > MAX_CONFIG_BYTES) break;
  }
  return Buffer.concat(chunks, total);
};

// Writes straight to the fd: touching process.stdout on a pipe builds a net.Socket (net, streams,
// diagnostics_channel), a few ms of start-up that `node -e 0` never pays. The answer is one short
// line; a full pipe (EAGAIN, only if someone made it non-blocking) is waited out.
const writeFd = (fd: number, text: string): void => {
  const data = Buffer.from(text);
  for (let off = 0; off < data.length;) {
    try {
      off += writeSync(fd, data, off);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EAGAIN') throw error;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1);
    }
  }
};

// The executable's entry: the ECS flags the agent probes, then one CNI call on process I/O.
export const pluginMain = async (def: PluginDefinition): Promise<void> => {
  const flag = process.argv[2];
  if (flag === '--version') {
    writeFd(1, `${JSON.stringify(buildInfo())}\n`);
    return;
  }
  if (flag === '--capabilities') {
    writeFd(1, `${JSON.stringify(ECS_CAPABILITIES)}\n`);
    return;
  }
  if (flag === '--help' || flag === '-h' || !process.env.CNI_COMMAND) {
    // libcni's skel prints the about string when run by a human without CNI_COMMAND.
    writeFd(2, `${def.about}\nCNI protocol versions supported: ${(def.supportedVersions ?? SUPPORTED_VERSIONS).join(', ')}\n`);
    return;
  }
  let stdin: Buffer;
  try {
    stdin = readStdin();
  } catch (error) {
    const out = errorOutput(error, CURRENT_VERSION);
    writeFd(1, out.stdout);
    process.exitCode = out.exitCode;
    return;
  }
  const out = await runPlugin(def, { env: process.env, stdin });
  writeFd(1, out.stdout);
  process.exitCode = out.exitCode;
};
