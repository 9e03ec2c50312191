// Conflists the installer puts into a CNI conf dir: found by example name or path, and checked
// the way our plugins will read them before anything is written.
import { existsSync } from 'node:fs';
import { readFile, readdir } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import type { CniArgs } from '../../cni/args.js';
import { CniError } from '../../cni/errors.js';
import { parseConflist, type NetworkConfigList } from '../../cni/runtime.js';
import { loadIpamConfig } from '../../ipam/config.js';
import { parseBridgeConfig } from '../../plugins/bridge/config.js';
import { parseEniConfig } from '../../plugins/eni/config.js';
import { CliError } from '../cli/errors.js';

export const examplesDir = (root: string): string => join(root, 'examples', 'cni');

// Every plugin of ours in the list, read by its own config parser (zod schema and the checks
// after it), as the plugin would read its stdin. Other types (portmap, firewall, ...) are not
// ours to judge. `args` stands for a runtime's CNI_ARGS: with them, ecs-eni must be able to ADD.
export const checkConflist = (text: string, args?: CniArgs): NetworkConfigList => {
  const list = parseConflist(text);
  list.plugins.forEach((plugin, i) => {
    const conf = { ...plugin, name: list.name, cniVersion: list.cniVersion };
    try {
      switch (plugin.type) {
        case 'ecs-bridge': {
          const bridge = parseBridgeConfig(conf);
          if (bridge.ipamType === 'ecs-ipam') loadIpamConfig(conf, {});
          break;
        }
        case 'ecs-eni':
          parseEniConfig(conf, args ?? new Map(), { requireEni: args !== undefined });
          break;
      }
    } catch (error) {
      if (error instanceof CniError)
        throw new CniError(error.code, `plugins[${i}] (${String(plugin.type)}): ${error.message}`, error.details);
      throw error;
    }
  });
  return list;
};

export interface ConflistSource {
  from: string; // the file read
  name: string; // its file name in the conf dir
  text: string;
}

// NAME is an example of this package (examples/cni/NAME.conflist); anything with a slash or a
// conflist ending is a path.
export const resolveConflist = async (arg: string, root: string): Promise<ConflistSource> => {
  const isPath = arg.includes('/') || /\.(conflist|conf|json)$/.test(arg);
  const from = isPath ? resolve(arg) : join(examplesDir(root), `${arg}.conflist`);
  if (!isPath && !existsSync(from)) {
    const known = await readdir(examplesDir(root)).catch(() => [] as string[]);
    const names = known.filter((f) => f.endsWith('.conflist')).map((f) => f.slice(0, -'.conflist'.length));
    throw new CliError(
      names.length > 0
        ? `no example conflist "${arg}": known are ${names.join(', ')} (or give a file path)`
        : `no example conflist "${arg}": ${examplesDir(root)} is missing (give a file path)`,
      true,
    );
  }
  let text: string;
  try {
    text = await readFile(from, 'utf8');
  } catch (error) {
    throw new CliError(`cannot read conflist ${from}: ${(error as Error).message}`);
  }
  try {
    checkConflist(text);
  } catch (error) {
    if (error instanceof CniError)
      throw new CliError(`conflist ${from} is invalid: ${error.message}${error.details ? ` (${error.details})` : ''}`);
    throw error;
  }
  const name = basename(from);
  return { from, name: /\.(conflist|conf|json)$/.test(name) ? name : `${name}.conflist`, text };
};
