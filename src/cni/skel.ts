import { aboutText, buildInfoText, capabilitiesText, requestedVersion, versionText } from './answers.js';
import type { CniArgs } from './args.js';
import { parseNetConf, type NetConfObject } from './config.js';
import { parseCniEnv, type Verb } from './env.js';
import { CniError, ErrorCode, toCniError } from './errors.js';
import { logger } from './log.js';
import { phaseClock, startPhases, NO_PHASES, type Phases } from './phases.js';
import { formatResult, type Result } from './result.js';
import { readStdin, takeHandedOverStdin, writeFd } from './stdio.js';
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
  /** Debug-level timing: handlers mark the end of each of their phases (phases.ts). */
  phases: Phases;
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

const errorOutput = (error: unknown, cniVersion: string): PluginOutput => {
  const cniError = toCniError(error);
  if (cniError.code === ErrorCode.Internal) logger.error(`internal error: ${(error as Error)?.stack ?? String(error)}`);
  return { exitCode: 1, stdout: `${JSON.stringify(cniError.toJSON(cniVersion))}\n` };
};

const versionOutput = (stdin: string | Buffer, supported: readonly string[]): PluginOutput => ({
  exitCode: 0,
  stdout: versionText(requestedVersion(stdin), supported),
});

// One CNI call from env + stdin to exit code + stdout. The executable and the in-process callers
// (the agent, ecs-bridge's IPAM delegation) share this, so their answers cannot differ.
export const runPlugin = async (def: PluginDefinition, call: PluginCall): Promise<PluginOutput> => {
  const supported = def.supportedVersions ?? SUPPORTED_VERSIONS;
  const start = phaseClock();
  let phases = NO_PHASES;
  let cniVersion: string = CURRENT_VERSION;
  try {
    const env = parseCniEnv(call.env, def.knownArgs);
    if (env.command === 'VERSION') return versionOutput(call.stdin, supported);
    phases = startPhases(def.name, env.command, start);
    phases.mark('env');
    const config = parseNetConf(call.stdin, env.command, supported);
    cniVersion = config.cniVersion;
    phases.mark('config-decode');
    const request: PluginRequest = {
      ...env,
      command: env.command,
      cniVersion,
      config,
      stdin: call.stdin.toString(),
      env: call.env,
      phases,
    };
    const handlers = await def.load();
    phases.mark('load');
    switch (request.command) {
      case 'ADD': {
        const result = await handlers.add(request);
        const stdout = `${JSON.stringify(formatResult(result, cniVersion))}\n`;
        phases.mark('result');
        phases.done();
        return { exitCode: 0, stdout };
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
    phases.done();
    return { exitCode: 0, stdout: '' };
  } catch (error) {
    const out = errorOutput(error, cniVersion);
    phases.done(toCniError(error).code);
    return out;
  }
};

const notImplemented = (verb: string, plugin: string) => async (): Promise<void> => {
  throw new CniError(ErrorCode.Plugin, `${verb} is not implemented by ${plugin}`);
};

// The executable's entry: the ECS flags the agent probes, then one CNI call on process I/O. The
// start-up front (front.ts) answers the common VERSION and probe calls before this bundle loads;
// when it hands a call on, it may already have read stdin, which is then taken from it.
export const pluginMain = async (def: PluginDefinition): Promise<void> => {
  const flag = process.argv[2];
  if (flag === '--version') {
    writeFd(1, buildInfoText());
    return;
  }
  if (flag === '--capabilities') {
    writeFd(1, capabilitiesText());
    return;
  }
  if (flag === '--help' || flag === '-h' || !process.env.CNI_COMMAND) {
    // libcni's skel prints the about string when run by a human without CNI_COMMAND.
    writeFd(2, aboutText(def.about, def.supportedVersions ?? SUPPORTED_VERSIONS));
    return;
  }
  let stdin: Buffer;
  try {
    stdin = takeHandedOverStdin() ?? readStdin();
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
