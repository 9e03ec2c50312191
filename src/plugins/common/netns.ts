import { CniError, ErrorCode } from '../../cni/errors.js';
import { isNetnsFile } from '../../netlink/index.js';

// CNI_NETNS comes from the runtime, but it is still input: a path that is not a network
// namespace (a regular file, a directory, a mount namespace) must not reach `nsenter` or `ip`.
export const requireNetns = async (netns: string): Promise<string> => {
  if (!netns.startsWith('/')) {
    throw new CniError(ErrorCode.InvalidEnvironment, `invalid CNI_NETNS ${JSON.stringify(netns)}: must be an absolute path`);
  }
  if (!(await isNetnsFile(netns))) {
    throw new CniError(ErrorCode.InvalidEnvironment, `invalid CNI_NETNS ${JSON.stringify(netns)}: not a network namespace (failed to open netns)`);
  }
  return netns;
};

// For DEL: a netns that is gone (or never was) is not an error, only a reason to skip its side.
export const netnsIfPresent = async (netns: string): Promise<string | undefined> =>
  netns.startsWith('/') && (await isNetnsFile(netns)) ? netns : undefined;
