import type { Test } from 'tap';
import { CniError } from '../../src/cni/errors.js';

type Tap = Pick<Test, 'fail' | 'equal' | 'match'>;

// Asserts that fn throws a CniError with this code and a message matching `message`; returns it
// for further checks (details).
export const expectCniError = (
  t: Tap,
  fn: () => unknown,
  code: number,
  message?: RegExp | string,
): CniError | undefined => {
  try {
    fn();
  } catch (error) {
    if (!(error instanceof CniError)) {
      t.fail(`expected a CniError, got ${String(error)}`);
      return undefined;
    }
    t.equal(error.code, code, `code ${code} for "${error.message}"`);
    if (message) t.match(error.message, message);
    return error;
  }
  t.fail(`expected a CniError with code ${code}, nothing was thrown`);
  return undefined;
};

// Same for async functions.
export const expectCniRejection = async (
  t: Tap,
  promise: Promise<unknown>,
  code: number,
  message?: RegExp | string,
): Promise<CniError | undefined> => {
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
