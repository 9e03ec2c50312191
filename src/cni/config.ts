import { CniError, ErrorCode, showValue } from './errors.js';
import { MAX_CONFIG_BYTES } from './stdio.js';
import { requireSupportedVersion, requireVerbAllowed } from './version.js';

export { MAX_CONFIG_BYTES } from './stdio.js';

export type NetConfObject = Record<string, unknown> & { cniVersion: string; name: string };

const NETWORK_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

// Decodes the stdin config the way libcni's skel does: JSON object, default version 0.1.0,
// a valid network name, a version this plugin speaks and a verb that version knows.
export const parseNetConf = (
  stdin: Buffer | string,
  command: string,
  supportedVersions?: readonly string[],
): NetConfObject => {
  const size = typeof stdin === 'string' ? Buffer.byteLength(stdin) : stdin.length;
  if (size > MAX_CONFIG_BYTES) {
    throw new CniError(
      ErrorCode.DecodeFailure,
      `network config on stdin is larger than the limit of ${MAX_CONFIG_BYTES} bytes`,
    );
  }
  let value: unknown;
  try {
    value = JSON.parse(typeof stdin === 'string' ? stdin : stdin.toString('utf8'));
  } catch (error) {
    throw new CniError(ErrorCode.DecodeFailure, 'error decoding network config', (error as Error).message);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new CniError(ErrorCode.DecodeFailure, 'network config must be a JSON object');
  }
  const conf = value as Record<string, unknown>;
  // libcni's ConfigDecoder reads an absent, null or empty cniVersion alike, as 0.1.0.
  const version =
    conf.cniVersion === undefined || conf.cniVersion === null || conf.cniVersion === '' ? '0.1.0' : conf.cniVersion;
  if (typeof version !== 'string') {
    throw new CniError(ErrorCode.InvalidNetworkConfig, `invalid cniVersion ${showValue(version)}: must be a string`);
  }
  if (conf.name === undefined || conf.name === '') {
    throw new CniError(ErrorCode.InvalidNetworkConfig, 'missing network name');
  }
  if (typeof conf.name !== 'string' || !NETWORK_NAME.test(conf.name)) {
    throw new CniError(
      ErrorCode.InvalidNetworkConfig,
      `invalid network name ${showValue(conf.name)}`,
      'must start with a letter or digit and contain only letters, digits, "_", "." and "-"',
    );
  }
  requireSupportedVersion(version, supportedVersions);
  requireVerbAllowed(command, version);
  return { ...conf, cniVersion: version, name: conf.name };
};
