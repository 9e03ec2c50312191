// The launchers `tasknet install` writes into a CNI bin dir, and where the bundles they start are.
// Like bin/'s launchers they start dist/<plugin>.cjs, the start-up front (src/cni/front.ts), which
// answers VERSION and the ECS probes itself and requires dist/<plugin>.full.cjs for the rest.
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { LAUNCHER_MARK } from '../../cni/delegate.js';

export const PLUGINS = ['ecs-eni', 'ecs-bridge', 'ecs-ipam'] as const;
export type PluginName = (typeof PLUGINS)[number];

// The line that says a file came from `tasknet install` (and not from bin/ of a checkout, which
// carries only the plugin mark).
export const INSTALLED_MARK = '# installed by `tasknet install`';

// POSIX sh single quoting: the only character to escape is the quote itself.
const shQuote = (s: string): string => `'${s.replaceAll("'", "'\\''")}'`;

// A /bin/sh launcher rather than a `#!/usr/bin/env -S ... node` one: a shebang line is cut at 255
// bytes and split on spaces, an install path is neither bounded nor space-free; exec'ing the .cjs
// directly also keeps node's module-type detection (a package.json above the bin dir) out of it.
// The cost is one dash start (under 1 ms) instead of one env start.
// tasknet's own launcher (`install --agent`, for the systemd unit) carries no plugin mark: it is
// not a plugin, and ecs-bridge must never take it for one.
export const launcherScript = (
  plugin: PluginName | 'tasknet',
  nodePath: string,
  bundle: string,
  from: string,
): string => `#!/bin/sh
${plugin === 'tasknet' ? '' : `# ${LAUNCHER_MARK}${plugin}\n`}${INSTALLED_MARK} from ${from.replaceAll('\n', ' ')}; \`tasknet uninstall\` removes it.
# An absolute node, as a CNI runtime's PATH may not have one. NODE_EXTRA_CA_CERTS is dropped:
# tasknet makes no TLS connections, and node parses that file at every start (~45 ms).
unset NODE_EXTRA_CA_CERTS
exec ${shQuote(nodePath)} ${shQuote(bundle)} "$@"
`;

// The tasknet package this code runs from: the nearest directory above the entry script (bin/tasknet,
// dist/tasknet.cjs, or a test entry) whose package.json is tasknet's. Symlinks (npm's global bin)
// are resolved first, so the launchers point at the real installation.
export const findPackageRoot = (start = process.argv[1] ?? process.cwd()): string | undefined => {
  let dir: string;
  try {
    dir = dirname(realpathSync(start));
  } catch {
    return undefined;
  }
  for (;;) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: unknown };
      if (pkg.name === 'tasknet') return dir;
    } catch {
      /* no package.json here, or not JSON: keep looking */
    }
    const up = dirname(dir);
    if (up === dir) return undefined;
    dir = up;
  }
};

// What a launcher execs: the front. It loads fullBundlePath from its own directory when needed.
export const bundlePath = (root: string, name: PluginName | 'tasknet'): string => join(root, 'dist', `${name}.cjs`);
export const fullBundlePath = (root: string, name: PluginName | 'tasknet'): string =>
  join(root, 'dist', `${name}.full.cjs`);

export const missingBundles = (root: string, withAgent = false): string[] =>
  [...PLUGINS, ...(withAgent ? ['tasknet' as const] : [])]
    .flatMap((p) => [bundlePath(root, p), fullBundlePath(root, p)])
    .filter((file) => !existsSync(file));
