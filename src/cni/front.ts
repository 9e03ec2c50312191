import { aboutText, buildInfoText, capabilitiesText, versionText } from './answers.js';
import type { LoadOptions } from './code-cache.js';
import { parseCniEnv } from './env.js';
import type { PluginDefinition } from './skel.js';
import { MAX_CONFIG_BYTES, readStdinForHandOver, writeFd } from './stdio.js';
import { CURRENT_VERSION, SUPPORTED_VERSIONS } from './version.js';

// The start-up front: what dist/<executable>.cjs runs before, and usually instead of, the full
// bundle (dist/<executable>.full.cjs; scripts/build.mjs builds both). Node's start-up cost past
// `node -e 0` is mostly V8 parsing the 55-180 KB bundle, which VERSION and the ECS agent's probes
// do not need. The front answers the plain happy cases of those with the very functions the full
// path uses (answers.ts, stdio.ts, env.ts); anything else, odd input included, goes to the full
// bundle, which then behaves exactly as if it had been started directly: same stdin (handed over
// when the front read it), same stdout, stderr and exit status. test/cni/front-<name>.test.ts compare
// the two for every executable.
//
// Only small modules may be imported here (scripts/build.mjs fails the build if a front grows).

// Set (to anything non-empty) to skip the front: the tests' way to compare it with the full path.
export const SKIP_FRONT_ENV = 'TASKNET_SKIP_FRONT';

// scripts/build.mjs runs each executable once with this first argument and a warm-up request, so
// the full bundle's code cache is written when that call exits (src/cni/code-cache.ts). The flag
// is taken off argv before the full path runs, which then answers the request as usual.
export const WRITE_CODE_CACHE_FLAG = '--write-code-cache';

interface Answer {
  fd: 1 | 2;
  text: string;
}

// The cniVersion of a VERSION request when the request is plainly well-formed: a JSON object
// within the size limit with a dotted version string. Anything else is left to the full path.
const plainVersion = (stdin: Buffer): string | undefined => {
  if (stdin.length === 0 || stdin.length > MAX_CONFIG_BYTES) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(stdin.toString());
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const version = (value as { cniVersion?: unknown }).cniVersion;
  return typeof version === 'string' && /^\d{1,9}\.\d{1,9}\.\d{1,9}$/.test(version) ? version : undefined;
};

// skel.ts's pluginMain, up to the VERSION answer.
const pluginAnswer = (def: PluginDefinition): Answer | undefined => {
  const flag = process.argv[2];
  if (flag === '--version') return { fd: 1, text: buildInfoText() };
  if (flag === '--capabilities') return { fd: 1, text: capabilitiesText() };
  const supported = def.supportedVersions ?? SUPPORTED_VERSIONS;
  if (flag === '--help' || flag === '-h' || !process.env.CNI_COMMAND)
    return { fd: 2, text: aboutText(def.about, supported) };
  if (process.env.CNI_COMMAND !== 'VERSION') return undefined;
  // Whatever the env checks say about VERSION (nothing today): a throw leaves it to the full path,
  // which reads stdin itself in that case.
  if (parseCniEnv(process.env, def.knownArgs).command !== 'VERSION') return undefined;
  // From here on the bytes are gone from fd 0: whatever happens next, the full path gets them.
  const stdin = readStdinForHandOver();
  if (stdin === undefined) return undefined;
  const version = plainVersion(stdin);
  return version === undefined ? undefined : { fd: 1, text: versionText(version, supported) };
};

// src/agent/cli/index.ts's runCli, up to its --version answer: VERSION (which ignores stdin),
// --capabilities and --version. Its --help text stays in the agent's code.
const agentAnswer = (): Answer | undefined => {
  if (process.env.CNI_COMMAND === 'VERSION') return { fd: 1, text: versionText(CURRENT_VERSION, SUPPORTED_VERSIONS) };
  const name = process.argv[2];
  if (name === '--capabilities') return { fd: 1, text: capabilitiesText() };
  if (name === '--version') return { fd: 1, text: buildInfoText() };
  return undefined;
};

// Prints the answer; false when not a byte of it got out (a closed or read-only stdout), so the
// full path runs and fails the way it always has. A failure after part of it went out (a short
// write then an error: not seen for one line on a pipe) is thrown, not repeated.
const print = (answer: Answer): boolean => {
  const progress = { written: 0 };
  try {
    writeFd(answer.fd, answer.text, progress);
    return true;
  } catch (error) {
    if (progress.written === 0) return false;
    throw error;
  }
};

type LoadFull = (options: LoadOptions) => void;

const front = (answer: () => Answer | undefined, loadFull: LoadFull): void => {
  if (process.argv[2] === WRITE_CODE_CACHE_FLAG) {
    process.argv.splice(2, 1);
    loadFull({ writeCache: true });
    return;
  }
  let found: Answer | undefined;
  if (!process.env[SKIP_FRONT_ENV]) {
    try {
      found = answer();
    } catch {
      found = undefined; // a front that cannot tell leaves the call to the full path
    }
  }
  if (found !== undefined && print(found)) return;
  loadFull({});
};

export const pluginFront = (def: PluginDefinition, loadFull: LoadFull): void =>
  front(() => pluginAnswer(def), loadFull);

export const agentFront = (loadFull: LoadFull): void => front(agentAnswer, loadFull);
