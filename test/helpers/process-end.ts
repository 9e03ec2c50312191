// What test helpers need to clean up after a test process that never reaches its teardown: tap's
// timeout and a killed run end it with SIGTERM, which runs neither teardown nor (unless a handler
// exits) Node's exit hooks. Every cleanup goes on the exit hook; the signal handler only exits, so
// all of them run whichever helper's handler comes first.
import { constants } from 'node:os';

let handling = false;

/** Runs `cleanUp` (synchronous: exit hooks cannot await) when this process exits or is signalled. */
export const onProcessEnd = (cleanUp: () => void): void => {
  process.on('exit', cleanUp);
  if (handling) return;
  handling = true;
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
    process.once(signal, () => process.exit(128 + constants.signals[signal]));
  }
};

/** Whether a process with this pid exists (one of another user's counts). */
export const pidAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
};
