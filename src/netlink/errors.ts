// Failures of `ip`, `nsenter` and `sysctl` as typed data. The kind is read from stderr, whose
// texts were taken from iproute2 6.1 / util-linux 2.38 / procps on kernel 6.18 (see the table
// in test/netlink/errors.test.ts). Commands run with LC_ALL=C so the texts do not vary.

export type IpErrorKind = 'exists' | 'not-found' | 'busy' | 'permission' | 'no-netns' | 'invalid' | 'unknown';

export interface IpErrorDetails {
  argv?: readonly string[];
  stderr?: string;
  exitCode?: number | undefined;
  /** 0-based index of the failing command of a batch, when it could be told. */
  batchIndex?: number | undefined;
  /** The text of the failing batch command. */
  batchCommand?: string | undefined;
  cause?: unknown;
}

// The one error the netlink layer throws, so callers switch on `kind`, never on message text.
export class IpError extends Error {
  override readonly name = 'IpError';
  readonly kind: IpErrorKind;
  /** The full command, including any `nsenter` prefix; empty when input was refused before running. */
  readonly argv: readonly string[];
  readonly stderr: string;
  readonly exitCode: number | undefined;
  readonly batchIndex: number | undefined;
  readonly batchCommand: string | undefined;
  /** A batch with reads: what the reads before the failing command printed (IpBatch.show). */
  batchOutputs: readonly unknown[] = [];

  constructor(kind: IpErrorKind, message: string, details: IpErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.kind = kind;
    this.argv = details.argv ?? [];
    this.stderr = details.stderr ?? '';
    this.exitCode = details.exitCode;
    this.batchIndex = details.batchIndex;
    this.batchCommand = details.batchCommand;
  }
}

// Order matters: the first kind with a matching text wins. "permission" comes first because
// nsenter and `ip -n` wrap EPERM in netns wording; "not-found" comes before "invalid" because ip
// reports a missing master as 'argument "x" is wrong: Device does not exist'.
const RULES: ReadonlyArray<readonly [IpErrorKind, readonly RegExp[]]> = [
  ['unknown', [/^nsenter: failed to execute/m]],
  ['permission', [/Operation not permitted/, /Permission denied/]],
  [
    'no-netns',
    [
      /Cannot open network namespace/,
      /Cannot remove namespace file .*No such file/,
      /^nsenter: cannot open .*No such file or directory/m,
      /^nsenter: reassociate to namespace 'ns\/net' failed: Invalid argument/m,
      /Invalid "netns" value/,
    ],
  ],
  ['exists', [/File exists/, /already assigned/i, /Unable to use '.*' for the new interface name/]],
  [
    'not-found',
    [
      /Cannot find device/,
      /does not exist/,
      /No such process/,
      /No such device/,
      /address not found/i,
      /Cannot assign requested address/,
      /No such file or directory/,
    ],
  ],
  ['busy', [/Device or resource busy/]],
  [
    'invalid',
    [
      /Invalid argument/,
      /is wrong/,
      /invalid/i,
      /not a valid/,
      /is expected/,
      /policy validation/,
      /greater than|less than|out of range/,
    ],
  ],
];

// Maps the stderr of a failed command to a kind; exported so the table can be unit-tested.
export function classifyStderr(stderr: string): IpErrorKind {
  for (const [kind, texts] of RULES) if (texts.some((re) => re.test(stderr))) return kind;
  return 'unknown';
}

// The line worth showing in a message: the first non-empty one.
export function firstLine(text: string): string {
  for (const line of text.split('\n')) {
    const trimmed = line.trim();
    if (trimmed !== '') return trimmed;
  }
  return '';
}

// Builds the error for a command that ran and failed, in the agreed `<argv> failed: <stderr>` form.
export function commandFailed(argv: readonly string[], stderr: string, exitCode: number | undefined): IpError {
  const detail = firstLine(stderr) || `exit code ${exitCode ?? 'unknown'}`;
  return new IpError(classifyStderr(stderr), `${argv.join(' ')} failed: ${detail}`, { argv, stderr, exitCode });
}

// Refuses a value before anything runs; `what` names the field so the message says which input.
export function invalidInput(what: string, value: unknown, why: string): IpError {
  return new IpError('invalid', `invalid ${what} ${JSON.stringify(value)}: ${why}`);
}

// DEL is idempotent: the object, or the whole netns holding it, being gone counts as done.
export function isNotFound(e: unknown): boolean {
  return e instanceof IpError && (e.kind === 'not-found' || e.kind === 'no-netns');
}

// ADD retries tolerate an object that a previous attempt already created.
export function isExists(e: unknown): boolean {
  return e instanceof IpError && e.kind === 'exists';
}

// Callers that must tell "netns gone" from "object gone" (e.g. CHECK) ask this one.
export function isNoNetns(e: unknown): boolean {
  return e instanceof IpError && e.kind === 'no-netns';
}
