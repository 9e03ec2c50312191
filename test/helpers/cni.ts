import { CniError } from '../../src/cni/errors.js';

type Tap = { fail(message: string): void; equal(a: unknown, b: unknown, message?: string): void; match(a: unknown, b: unknown, message?: string): void };

// Asserts that fn throws a CniError with this code and a message matching `message`.
export const expectCniError = (t: Tap, fn: () => unknown, code: number, message?: RegExp | string): void => {
  try {
    fn();
  } catch (error) {
    if (!(error instanceof CniError)) {
      t.fail(`expected a CniError, got ${String(error)}`);
      return;
    }
    t.equal(error.code, code, `code ${code} for "${error.message}"`);
    if (message) t.match(error.message, message);
    return;
  }
  t.fail(`expected a CniError with code ${code}, nothing was thrown`);
};

// Same for async functions.
export const expectCniRejection = async (t: Tap, promise: Promise<unknown>, code: number, message?: RegExp | string): Promise<CniError | undefined> => {
  try {
    await promise;
  } catch (error) {
    if (!(error instanceof CniError)) {
      t.fail(`expected a CniError, got ${String(error)}`);
      return undefined;
    }
    t.equal(error.code, code, `code ${code} for "${error.message}"`);
    if (message) t.match(error.message, message);
    return error;
  }
  t.fail(`expected a CniError with code ${code}, the promise resolved`);
  return undefined;
};
