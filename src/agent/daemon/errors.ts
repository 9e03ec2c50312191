// The one error the agent raises on purpose: what went wrong, in a kind the edges translate once
// (the control server to an HTTP status, the CLI to its exit code); the message names the object.
export type AgentErrorKind =
  | 'invalid' // the request is wrong (a bad task definition, an unknown option value)
  | 'not-found' // no such task or container
  | 'failed'; // the request was right and the work failed (a task that could not start)

export class AgentError extends Error {
  override readonly name = 'AgentError';
  constructor(
    readonly kind: AgentErrorKind,
    message: string,
  ) {
    super(message);
  }
}
