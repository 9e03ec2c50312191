import { statSync } from 'node:fs';
import { CniError, ErrorCode } from '../../cni/errors.js';
import { isNetnsFile, NETNS_RUN_DIR, type NetnsRef } from '../../netlink/index.js';

// CNI_NETNS comes from the runtime, but it is still input: a path that is not a network
// namespace (a regular file, a directory, a mount namespace) must not reach `nsenter` or `ip`.
export const requireNetns = async (netns: string): Promise<string> => {
  if (!netns.startsWith('/')) {
    throw new CniError(
      ErrorCode.InvalidEnvironment,
      `invalid CNI_NETNS ${JSON.stringify(netns)}: must be an absolute path`,
    );
  }
  if (!(await isNetnsFile(netns))) {
    throw new CniError(
      ErrorCode.InvalidEnvironment,
      `invalid CNI_NETNS ${JSON.stringify(netns)}: not a network namespace (failed to open netns)`,
    );
  }
  return netns;
};

// For DEL: a netns that is gone (or never was) is not an error, only a reason to skip its side.
export const netnsIfPresent = async (netns: string): Promise<string | undefined> =>
  netns.startsWith('/') && (await isNetnsFile(netns)) ? netns : undefined;

// libcni refuses CNI_NETNS = the plugin's own netns (code 8), but only after the plugin ran
// (libcni checks it in its exec path). Every change meant for the task would land in the host: ecs-eni would
// only rename the ENI there, ecs-bridge would address a veth end in it and its DEL would delete
// whatever host veth CNI_IFNAME names. So each verb that takes a netns asks this first. `own` is
// the plugin's netns: the process's (undefined), or the "host" of an in-process caller. Same
// device and inode is the same netns, whatever path names it.
export const refuseOwnNetns = async (netns: string, own: NetnsRef): Promise<void> => {
  const ownPath = own === undefined ? '/proc/self/ns/net' : own.startsWith('/') ? own : `${NETNS_RUN_DIR}/${own}`;
  const [a, b] = [statSync(netns), statSync(ownPath)]; // nsfs and procfs: no I/O to wait for
  if (a.ino === b.ino && a.dev === b.dev) {
    throw new CniError(
      ErrorCode.InvalidNetns,
      `invalid CNI_NETNS ${JSON.stringify(netns)}: it is the plugin's own network namespace (plugin's netns and netns from CNI_NETNS should not be the same)`,
    );
  }
};
