import { CniError, ErrorCode } from './errors.js';

// Every spec version tasknet speaks, oldest first (the CNI spec's tagged releases).
export const SUPPORTED_VERSIONS = ['0.1.0', '0.2.0', '0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] as const;
export type SpecVersion = (typeof SUPPORTED_VERSIONS)[number];
export const CURRENT_VERSION: SpecVersion = '1.1.0';

// Compares dotted versions numerically, so "0.10.0" sorts after "0.4.0".
export const compareVersions = (a: string, b: string): number => {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
};

export const isSupportedVersion = (v: string): v is SpecVersion =>
  (SUPPORTED_VERSIONS as readonly string[]).includes(v);

// Code 1 for a version the plugin does not implement, with libcni's wording so runtimes and
// humans recognise it (containernetworking/cni pkg/version/reconcile.go).
export const requireSupportedVersion = (v: string, supported: readonly string[] = SUPPORTED_VERSIONS): void => {
  if (!supported.includes(v)) {
    throw new CniError(
      ErrorCode.IncompatibleVersion,
      'incompatible CNI versions',
      `config is "${v}", plugin supports ${JSON.stringify(supported)}`,
    );
  }
};

// The verbs whose existence depends on the request version: CHECK came in 0.4.0, STATUS and GC
// in 1.1.0. Below that, the verb is refused with code 1 as libcni's skel does.
const VERB_MIN_VERSION: Record<string, string> = { CHECK: '0.4.0', STATUS: '1.1.0', GC: '1.1.0' };

export const requireVerbAllowed = (command: string, v: string): void => {
  const min = VERB_MIN_VERSION[command];
  if (min && compareVersions(v, min) < 0) {
    throw new CniError(
      ErrorCode.IncompatibleVersion,
      `config version does not allow ${command}`,
      `config is "${v}", ${command} needs ${min} or later`,
    );
  }
};
