// Filled in by scripts/build.mjs (esbuild `define`); a run from source reports a dev build.
declare const __TASKNET_BUILD__: { version: string; dirty: boolean; gitShortHash: string } | undefined;

// The upstream ECS plugins' `--version` answer, which the ECS agent parses at start-up.
export const buildInfo = (): { version: string; dirty: boolean; gitShortHash: string } =>
  typeof __TASKNET_BUILD__ === 'undefined'
    ? { version: '0.0.0-dev', dirty: true, gitShortHash: 'unknown' }
    : __TASKNET_BUILD__;
