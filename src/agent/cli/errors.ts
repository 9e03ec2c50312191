// A CLI failure with a message meant for the user; `usage` marks a mistake in the command line.
export class CliError extends Error {
  override readonly name = 'CliError';
  constructor(
    message: string,
    readonly usage = false,
  ) {
    super(message);
  }
}
