import { logger } from '../../cni/log.js';

// Undo steps registered right after each change an ADD makes (the Go plugins' `success` flag and
// deferred cleanups): on failure they run newest first, each one best-effort, so the ADD's own
// error is the one the runtime sees and nothing it created is left behind.
export class Rollback {
  private readonly steps: { what: string; undo: () => Promise<void> }[] = [];

  push(what: string, undo: () => Promise<void>): void {
    this.steps.push({ what, undo });
  }

  // The ADD succeeded: nothing to undo any more.
  commit(): void {
    this.steps.length = 0;
  }

  async run(): Promise<void> {
    for (const { what, undo } of this.steps.splice(0).reverse()) {
      try {
        await undo();
      } catch (error) {
        logger.warn(`rollback: could not ${what}: ${(error as Error).message}`);
      }
    }
  }
}
