import { CniError, ErrorCode } from './errors.js';

// Failure injection for the "a failure after any step leaves nothing behind" tests, like the
// reference bridge's debugPostIPAMError: TASKNET_FAILPOINT=<plugin>:<step> makes that step throw.
// Read from the request's env, so it works the same exec'd and in-process; one lookup when unset.
export const failpoint = (env: Readonly<Record<string, string | undefined>>, name: string): void => {
  if (env.TASKNET_FAILPOINT === name) throw new CniError(ErrorCode.Plugin, `failpoint ${name} reached`);
};
