import { CniError, ErrorCode } from '../../cni/errors.js';
import { IpError } from '../../netlink/index.js';

// A failed `ip` call is the plugin's (code 101), named with what was being done; the IpError's own
// text adds the command (for a batch, the failing line), so the link, address or route is named.
// Anything else passes through: a CniError already has its code, and the rest are bugs (999).
export const netlinkError = (what: string, error: unknown): unknown =>
  error instanceof IpError
    ? new CniError(ErrorCode.Netlink, `${what}: ${error.message}`, undefined, { cause: error })
    : error;

// The same around a whole step, including a batch's input checks, which throw while it is built.
export const netlinkStep = async <T>(what: string, step: () => Promise<T>): Promise<T> => {
  try {
    return await step();
  } catch (error) {
    throw netlinkError(what, error);
  }
};
