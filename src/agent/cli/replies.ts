// The CLI's reading of the agent's replies.
import type { Reply } from '../daemon/client.js';
import { CliError } from './errors.js';

// The reply body on 2xx; the agent's error message as a one-line CliError otherwise.
export const expectOk = <T>(reply: Reply<T>): T => {
  if (reply.status >= 200 && reply.status < 300) return reply.body;
  throw new CliError((reply.body as { error?: string })?.error ?? `the agent answered ${reply.status}`);
};
