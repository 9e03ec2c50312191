import { CniError, ErrorCode } from './errors.js';

export type CniArgs = ReadonlyMap<string, string>;

// Parses CNI_ARGS ("K=V;K2=V2", CONVENTIONS.md) and checks the keys against the ones a plugin
// understands. Unknown keys are an error unless IgnoreUnknown is set, as in libcni's LoadArgs;
// a runtime passing args through (acceptAll) checks nothing.
export const parseCniArgs = (raw: string | undefined, known: readonly string[] = [], acceptAll = false): CniArgs => {
  const args = new Map<string, string>();
  if (!raw) return args;
  for (const pair of raw.split(';')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    if (eq <= 0) {
      throw new CniError(
        ErrorCode.InvalidEnvironment,
        `invalid CNI_ARGS pair ${JSON.stringify(pair)}: expected KEY=VALUE`,
      );
    }
    args.set(pair.slice(0, eq), pair.slice(eq + 1));
  }
  const ignoreUnknown = acceptAll || /^(1|true)$/i.test(args.get('IgnoreUnknown') ?? '');
  if (!ignoreUnknown) {
    const unknown = [...args.keys()].filter((k) => k !== 'IgnoreUnknown' && !known.includes(k));
    if (unknown.length > 0) {
      throw new CniError(
        ErrorCode.InvalidEnvironment,
        `unknown CNI_ARGS key ${JSON.stringify(unknown[0])}`,
        `known keys: ${JSON.stringify(known)}; add IgnoreUnknown=1 to ignore the others`,
      );
    }
  }
  return args;
};

// Renders args back into the env form, for delegation and the conflist runtime.
export const formatCniArgs = (args: CniArgs): string => [...args].map(([k, v]) => `${k}=${v}`).join(';');
