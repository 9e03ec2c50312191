// CNI error codes (SPEC.md "Error" table; 8 and 999 are libcni's, 100+ are plugin-specific).
export const ErrorCode = {
  IncompatibleVersion: 1,
  UnsupportedField: 2,
  UnknownContainer: 3,
  InvalidEnvironment: 4,
  IoFailure: 5,
  DecodeFailure: 6,
  InvalidNetworkConfig: 7,
  InvalidNetns: 8,
  TryAgainLater: 11,
  NotReady: 50,
  LimitedConnectivity: 51,
  // 100+: tasknet's own. One code per failure class a runtime may want to tell apart.
  Plugin: 100,
  Netlink: 101,
  Store: 102,
  Delegate: 103,
  Internal: 999,
} as const;

export type ErrorCodeValue = (typeof ErrorCode)[keyof typeof ErrorCode] | number;

export interface CniErrorJson {
  cniVersion?: string;
  code: number;
  msg: string;
  details?: string;
}

// The one error type every layer above netlink throws: the skel prints it as the spec's error
// JSON, so a message written here is exactly what the runtime's user reads.
export class CniError extends Error {
  override readonly name = 'CniError';
  readonly code: number;
  readonly details: string | undefined;

  constructor(code: ErrorCodeValue, msg: string, details?: string, options?: { cause?: unknown }) {
    super(msg, options);
    this.code = code;
    this.details = details;
  }

  toJSON(cniVersion?: string): CniErrorJson {
    const out: CniErrorJson =
      cniVersion === undefined
        ? { code: this.code, msg: this.message }
        : { cniVersion, code: this.code, msg: this.message };
    if (this.details) out.details = this.details;
    return out;
  }
}

export const isCniError = (value: unknown): value is CniError => value instanceof CniError;

// Turns anything thrown into a CniError; an error that is not ours is an internal bug, reported
// with its message only (never its stack) so stdout stays a valid CNI error.
export const toCniError = (error: unknown): CniError => {
  if (isCniError(error)) return error;
  const code =
    typeof (error as { cniCode?: unknown })?.cniCode === 'number'
      ? (error as { cniCode: number }).cniCode
      : ErrorCode.Internal;
  const message = error instanceof Error ? error.message : String(error);
  return new CniError(code, message || 'internal error', undefined, { cause: error });
};

// A value from input, as an error message shows it: JSON, cut at 200 characters. JSON.stringify
// of a deeply nested input overflows the stack (RangeError), which would surface as an internal
// error; such a value is shown by its kind instead.
export const showValue = (value: unknown): string => {
  try {
    return JSON.stringify(value)?.slice(0, 200) ?? String(value);
  } catch {
    return Array.isArray(value) ? '[...]' : typeof value === 'object' ? '{...}' : String(value);
  }
};

// Shorthand for the most common failure: a config field with a bad value (code 7).
export const invalidConfig = (field: string, value: unknown, why: string): CniError =>
  new CniError(ErrorCode.InvalidNetworkConfig, `invalid ${field} ${showValue(value)}: ${why}`);
