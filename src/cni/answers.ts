import { buildInfo } from './build-info.js';
import { CURRENT_VERSION } from './version.js';

// The answers that need no plugin code, as the exact text printed: VERSION, the ECS agent's
// --version and --capabilities probes, and the about text. The skel and the start-up front
// (front.ts) both print these, so their bytes cannot differ. Small imports only (see front.ts).

const ECS_CAPABILITIES = { capabilities: ['awsvpc-network-mode'] };

export const capabilitiesText = (): string => `${JSON.stringify(ECS_CAPABILITIES)}\n`;

// The upstream ECS plugins' `--version` answer, which the ECS agent parses at start-up.
export const buildInfoText = (): string => `${JSON.stringify(buildInfo())}\n`;

// libcni's skel prints this when run by a human without CNI_COMMAND.
export const aboutText = (about: string, supported: readonly string[]): string =>
  `${about}\nCNI protocol versions supported: ${supported.join(', ')}\n`;

export const versionText = (cniVersion: string, supported: readonly string[]): string =>
  `${JSON.stringify({ cniVersion, supportedVersions: supported })}\n`;

// The spec answers VERSION with the request's cniVersion; garbage or empty stdin is not an error.
export const requestedVersion = (stdin: string | Buffer): string => {
  let cniVersion: string = CURRENT_VERSION;
  try {
    const requested = (JSON.parse(stdin.toString()) as { cniVersion?: unknown }).cniVersion;
    if (typeof requested === 'string' && requested !== '') cniVersion = requested;
  } catch {
    /* VERSION ignores a config it cannot read */
  }
  return cniVersion;
};
