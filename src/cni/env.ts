import { parseCniArgs, type CniArgs } from './args.js';
import { CniError, ErrorCode } from './errors.js';

export const VERBS = ['ADD', 'DEL', 'CHECK', 'STATUS', 'GC', 'VERSION'] as const;
export type Verb = (typeof VERBS)[number];

export interface CniEnv {
  command: Verb;
  containerId: string;
  netns: string;
  ifname: string;
  args: CniArgs;
  path: string[];
}

// Which variables each verb cannot do without (SPEC.md section 2 and libcni skel). CNI_PATH is
// optional everywhere: it is only needed to find a delegate, and that failure names the delegate.
const REQUIRED: Record<Verb, readonly string[]> = {
  ADD: ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME'],
  CHECK: ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME'],
  DEL: ['CNI_CONTAINERID', 'CNI_IFNAME'],
  STATUS: [],
  GC: [],
  VERSION: [],
};

const CONTAINER_ID = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

// libcni's ValidateContainerID: the id ends up in file names and iptables comments.
export const validateContainerId = (id: string): void => {
  if (!CONTAINER_ID.test(id)) {
    throw new CniError(
      ErrorCode.InvalidEnvironment,
      `invalid CNI_CONTAINERID ${JSON.stringify(id)}`,
      'must start with a letter or digit and contain only letters, digits, "_", "." and "-"',
    );
  }
};

// The kernel's rule for interface names (dev_valid_name), which libcni's ValidateInterfaceName
// mirrors: 1-15 bytes, not "." or "..", no "/", ":" or whitespace.
export const interfaceNameProblem = (name: string): string | undefined => {
  if (name.length === 0) return 'is empty';
  if (Buffer.byteLength(name) > 15) return 'is longer than 15 bytes';
  if (name === '.' || name === '..') return 'is "." or ".."';
  if (/[/:\s]/.test(name)) return 'contains "/", ":" or whitespace';
  // The kernel would take these, but `ip` reads a leading "-" as an option, "%" makes the kernel
  // treat the name as a pattern (EINVAL), and control characters cannot go into an `ip -batch`.
  if (name.startsWith('-')) return 'starts with "-"';
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what this refuses
  if (/[%\x00-\x1f\x7f]/.test(name)) return 'contains "%" or a control character';
  // A lone UTF-16 surrogate (only an in-process caller can pass one) reaches the kernel as U+FFFD,
  // a name DEL would then never find.
  if (/\p{Surrogate}/u.test(name)) return 'is not valid Unicode';
  return undefined;
};

// A runtime's interface name also goes into `ip -batch` lines, where quotes, '#' (a comment) and
// '\' (a continuation) are syntax: refused up front as the invalid variable they are (code 4),
// not as an `ip` failure half way through the plugin's work.
const BATCH_SYNTAX = /["'#\\]/;

export const validateIfName = (name: string, what = 'CNI_IFNAME'): void => {
  const problem = interfaceNameProblem(name) ?? (BATCH_SYNTAX.test(name) ? 'contains a quote, "#" or "\\"' : undefined);
  if (problem) {
    throw new CniError(ErrorCode.InvalidEnvironment, `invalid ${what} ${JSON.stringify(name)}: ${problem}`);
  }
};

export const isVerb = (value: string): value is Verb => (VERBS as readonly string[]).includes(value);

// Reads and validates the CNI_* variables for one call. Every missing variable is named at once,
// so a runtime author fixes them in one go.
export const parseCniEnv = (env: NodeJS.ProcessEnv, knownArgs: readonly string[] = []): CniEnv => {
  const command = env.CNI_COMMAND ?? '';
  if (!isVerb(command)) {
    throw new CniError(ErrorCode.InvalidEnvironment, `unknown CNI_COMMAND: ${command}`);
  }
  const missing = REQUIRED[command].filter((name) => !env[name]);
  if (missing.length > 0) {
    throw new CniError(ErrorCode.InvalidEnvironment, `required env variables [${missing.join(',')}] missing`);
  }
  const containerId = env.CNI_CONTAINERID ?? '';
  const ifname = env.CNI_IFNAME ?? '';
  if (containerId !== '' && command !== 'VERSION') validateContainerId(containerId);
  if (ifname !== '' && command !== 'VERSION') validateIfName(ifname);
  return {
    command,
    containerId,
    netns: env.CNI_NETNS ?? '',
    ifname,
    args: command === 'VERSION' ? new Map() : parseCniArgs(env.CNI_ARGS, knownArgs),
    path: (env.CNI_PATH ?? '').split(':').filter((p) => p !== ''),
  };
};
