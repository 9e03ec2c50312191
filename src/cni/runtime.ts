import { lstat, mkdir, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as z from 'zod/mini';
import { formatCniArgs } from './args.js';
import { findPlugin, readPluginOutput } from './delegate.js';
import { validateContainerId, validateIfName, type Verb } from './env.js';
import { CniError, ErrorCode } from './errors.js';
import { attachmentKey } from './gc.js';
import { execPlugin } from './exec.js';
import { parseResult } from './result-parse.js';
import { formatResult, type Result } from './result.js';
import { parseConfig } from './schema.js';
import type { PluginOutput } from './skel.js';
import { compareVersions, isSupportedVersion, SUPPORTED_VERSIONS } from './version.js';

export interface NetworkConfigList {
  cniVersion: string;
  name: string;
  disableCheck: boolean;
  disableGC: boolean;
  plugins: Record<string, unknown>[];
  source: string; // the conflist text, kept in the cache like libcni does
}

export interface RuntimeConf {
  containerId: string;
  netns: string;
  ifname: string;
  args?: ReadonlyArray<readonly [string, string]>;
  capabilityArgs?: Readonly<Record<string, unknown>>;
}

export interface Attachment {
  containerId: string;
  ifname: string;
}

// How the runtime reaches a plugin: exec through CNI_PATH by default; the agent substitutes an
// in-process invoker for its own plugins. Both receive exactly what a binary would.
export type PluginInvoker = (
  type: string,
  env: Record<string, string | undefined>,
  stdin: string,
) => Promise<PluginOutput>;

export const conflistSchema = z.looseObject({
  cniVersion: z.optional(z.string()),
  cniVersions: z.optional(z.array(z.string())),
  name: z
    .string()
    .check(
      z.regex(
        /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/,
        'must start with a letter or digit and contain only letters, digits, "_", "." and "-"',
      ),
    ),
  disableCheck: z.optional(z.union([z.boolean(), z.enum(['true', 'false'])])),
  disableGC: z.optional(z.union([z.boolean(), z.enum(['true', 'false'])])),
  plugins: z.array(z.looseObject({ type: z.string().check(z.minLength(1)) })).check(z.minLength(1)),
});

// Parses a .conflist (or a legacy single-plugin .conf, up-converted as libcni does) and picks the
// highest spec version both it and tasknet speak (SPEC.md 1.1.0 `cniVersions`).
export const parseConflist = (text: string): NetworkConfigList => {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new CniError(ErrorCode.DecodeFailure, 'error decoding network configuration list', (error as Error).message);
  }
  const object = raw as Record<string, unknown>;
  if (object && typeof object === 'object' && !Array.isArray(object) && !('plugins' in object) && 'type' in object) {
    const { name, cniVersion, ...plugin } = object;
    raw = { name, cniVersion, plugins: [plugin] };
  }
  const list = parseConfig(conflistSchema, raw);
  const candidates = [...(list.cniVersions ?? []), ...(list.cniVersion ? [list.cniVersion] : [])]
    .filter(isSupportedVersion)
    .sort(compareVersions);
  // No version at all is 0.1.0, as libcni passes it on (plugins read an empty version so).
  const cniVersion = list.cniVersion === undefined && list.cniVersions === undefined ? '0.1.0' : candidates.at(-1);
  if (!cniVersion) {
    throw new CniError(
      ErrorCode.IncompatibleVersion,
      'incompatible CNI versions',
      `list asks for ${JSON.stringify(list.cniVersions ?? list.cniVersion ?? '')}, tasknet supports ${JSON.stringify(SUPPORTED_VERSIONS)}`,
    );
  }
  return {
    cniVersion,
    name: list.name,
    disableCheck: String(list.disableCheck) === 'true',
    disableGC: String(list.disableGC) === 'true',
    plugins: list.plugins,
    source: text,
  };
};

export const loadConflist = async (path: string): Promise<NetworkConfigList> =>
  parseConflist(await readFile(path, 'utf8'));

// The stdin of one plugin in a list: the plugin object with `name` and `cniVersion` injected,
// `capabilities` replaced by the matching runtimeConfig, and the chain's prevResult.
export const pluginConfig = (
  list: NetworkConfigList,
  plugin: Record<string, unknown>,
  rt: Pick<RuntimeConf, 'capabilityArgs'>,
  prevResult?: Result,
): string => {
  const { capabilities, ...rest } = plugin;
  const conf: Record<string, unknown> = { ...rest, name: list.name, cniVersion: list.cniVersion };
  const runtimeConfig: Record<string, unknown> = {};
  if (capabilities && typeof capabilities === 'object') {
    for (const [key, enabled] of Object.entries(capabilities)) {
      if (enabled === true && rt.capabilityArgs?.[key] !== undefined) runtimeConfig[key] = rt.capabilityArgs[key];
    }
  }
  if (Object.keys(runtimeConfig).length > 0) conf.runtimeConfig = runtimeConfig;
  else delete conf.runtimeConfig;
  if (prevResult) conf.prevResult = formatResult(prevResult, list.cniVersion);
  return JSON.stringify(conf);
};

interface CacheEntry {
  kind: 'cniCacheV1';
  containerId: string;
  config: string;
  ifName: string;
  networkName: string;
  netns: string;
  cniArgs: ReadonlyArray<readonly [string, string]>;
  capabilityArgs: Readonly<Record<string, unknown>>;
  result: Record<string, unknown>;
}

export interface CniRuntimeOptions {
  cniPath: string[];
  // Where results are cached (libcni: /var/lib/cni); entries live in <cacheDir>/results.
  cacheDir: string;
  invoke?: PluginInvoker;
  // Extra env for every plugin (e.g. IPAM_DB_PATH); the runtime's own CNI_* always win.
  env?: Readonly<Record<string, string | undefined>>;
  timeoutMs?: number;
  // On a failed ADD, run DEL for the plugins of the list before returning the error. libcni leaves
  // that to its caller; tasknet's agent wants "all or nothing".
  rollbackOnFailure?: boolean;
}

// The libcni role: runs a conflist against one attachment, keeps its result cache, and applies
// the spec's order rules (ADD/CHECK in order, DEL in reverse, GC and STATUS on every plugin).
export class CniRuntime {
  private readonly options: CniRuntimeOptions;

  constructor(options: CniRuntimeOptions) {
    this.options = options;
  }

  private get resultsDir(): string {
    return join(this.options.cacheDir, 'results');
  }

  private cachePath(network: string, att: Attachment): string {
    return join(this.resultsDir, `${network}-${att.containerId}-${att.ifname}`);
  }

  private async invoke(
    type: string,
    command: Verb,
    list: NetworkConfigList,
    stdin: string,
    rt?: RuntimeConf,
  ): Promise<Result | undefined> {
    const env: Record<string, string | undefined> = {
      ...process.env,
      ...this.options.env,
      CNI_COMMAND: command,
      CNI_CONTAINERID: rt?.containerId ?? '',
      CNI_NETNS: rt?.netns ?? '',
      CNI_IFNAME: rt?.ifname ?? '',
      CNI_ARGS: formatCniArgs(new Map(rt?.args ?? [])),
      CNI_PATH: this.options.cniPath.join(':'),
    };
    const out = this.options.invoke
      ? await this.options.invoke(type, env, stdin)
      : await execPlugin(findPlugin(type, this.options.cniPath), env, stdin, { timeoutMs: this.options.timeoutMs });
    return readPluginOutput(type, out, list.cniVersion);
  }

  private validate(list: NetworkConfigList, rt: RuntimeConf): void {
    validateContainerId(rt.containerId);
    validateIfName(rt.ifname);
    if (!list.name) throw new CniError(ErrorCode.InvalidNetworkConfig, 'missing network name');
  }

  // ADD every plugin in order, each seeing the previous result; cache the final result.
  async add(list: NetworkConfigList, rt: RuntimeConf): Promise<Result> {
    this.validate(list, rt);
    let prev: Result | undefined;
    try {
      for (const plugin of list.plugins) {
        const type = plugin.type as string;
        prev = (await this.invoke(type, 'ADD', list, pluginConfig(list, plugin, rt, prev), rt)) ?? prev;
      }
    } catch (error) {
      if (this.options.rollbackOnFailure) {
        await this.del(list, rt).catch(() => {
          /* the ADD error is the one to report */
        });
      }
      throw error;
    }
    const result = prev ?? { cniVersion: list.cniVersion };
    await this.writeCache(list, rt, result);
    return result;
  }

  // DEL every plugin in reverse with the cached result (spec >= 0.4.0); an unreadable cache entry
  // is dropped and DEL goes on without prevResult, as libcni does (cni#1055).
  async del(list: NetworkConfigList, rt: RuntimeConf): Promise<void> {
    this.validate(list, rt);
    const cached =
      compareVersions(list.cniVersion, '0.4.0') >= 0
        ? await this.cachedResult(list.name, rt).catch(async () => {
            await rm(this.cachePath(list.name, rt), { force: true }); // valid JSON, but not a result
            return undefined;
          })
        : undefined;
    for (const plugin of [...list.plugins].reverse()) {
      await this.invoke(plugin.type as string, 'DEL', list, pluginConfig(list, plugin, rt, cached), rt);
    }
    await rm(this.cachePath(list.name, rt), { force: true });
  }

  async check(list: NetworkConfigList, rt: RuntimeConf): Promise<void> {
    this.validate(list, rt);
    if (compareVersions(list.cniVersion, '0.4.0') < 0) {
      throw new CniError(
        ErrorCode.IncompatibleVersion,
        `configuration version "${list.cniVersion}" does not support the CHECK command`,
      );
    }
    if (list.disableCheck) return;
    const cached = await this.cachedResult(list.name, rt);
    if (!cached)
      throw new CniError(
        ErrorCode.UnknownContainer,
        `no cached result for ${rt.containerId}/${rt.ifname} on network ${list.name}`,
      );
    for (const plugin of list.plugins) {
      await this.invoke(plugin.type as string, 'CHECK', list, pluginConfig(list, plugin, rt, cached), rt);
    }
  }

  // STATUS stops at the first plugin that is not ready; lists below 1.1.0 have no STATUS.
  async status(list: NetworkConfigList): Promise<void> {
    if (compareVersions(list.cniVersion, '1.1.0') < 0) return;
    for (const plugin of list.plugins) {
      await this.invoke(plugin.type as string, 'STATUS', list, pluginConfig(list, plugin, {}));
    }
  }

  // GC as libcni's GCNetworkList: first DEL every cached attachment of the network that is not in
  // the valid set (no set: all of them), at any version; then, from 1.1.0, every plugin gets the
  // valid set under both key names. Errors are collected, not short-circuited.
  async gc(list: NetworkConfigList, validAttachments?: readonly Attachment[]): Promise<void> {
    if (list.disableGC) return;
    const errors: string[] = [];
    const valid = validAttachments ?? [];
    const keep = new Set(valid.map((a) => attachmentKey(a.containerId, a.ifname)));
    for (const entry of await this.cachedEntries(list.name)) {
      if (keep.has(attachmentKey(entry.containerId, entry.ifName))) continue;
      const rt = {
        containerId: entry.containerId,
        ifname: entry.ifName,
        netns: entry.netns,
        args: entry.cniArgs,
        capabilityArgs: entry.capabilityArgs,
      };
      await this.del(list, rt).catch((error: Error) => errors.push(error.message));
    }
    const attachments = valid.map((a) => ({ containerID: a.containerId, ifname: a.ifname }));
    for (const plugin of compareVersions(list.cniVersion, '1.1.0') >= 0 ? list.plugins : []) {
      const stdin = JSON.parse(pluginConfig(list, plugin, {})) as Record<string, unknown>;
      stdin['cni.dev/valid-attachments'] = attachments;
      stdin['cni.dev/attachments'] = attachments;
      await this.invoke(plugin.type as string, 'GC', list, JSON.stringify(stdin)).catch((error: Error) =>
        errors.push(error.message),
      );
    }
    if (errors.length > 0) throw new CniError(ErrorCode.Plugin, errors.join('; '));
  }

  async cachedResult(network: string, att: Attachment): Promise<Result | undefined> {
    const entry = await this.readCache(this.cachePath(network, att));
    return entry
      ? parseResult(entry.result, (entry.result.cniVersion as string) ?? '1.1.0', 'cached result')
      : undefined;
  }

  async cachedEntries(network: string): Promise<CacheEntry[]> {
    let names: string[];
    try {
      names = await readdir(this.resultsDir);
    } catch {
      return [];
    }
    const entries = await Promise.all(
      names
        .filter((n) => n.startsWith(`${network}-`) && !n.includes('.tmp-'))
        .map((n) => this.readCache(join(this.resultsDir, n))),
    );
    return entries.filter((e): e is CacheEntry => e !== undefined && e.networkName === network);
  }

  private async readCache(path: string): Promise<CacheEntry | undefined> {
    try {
      const entry = JSON.parse(await readFile(path, 'utf8')) as CacheEntry;
      if (entry.kind !== 'cniCacheV1' || typeof entry.result !== 'object' || entry.result === null)
        throw new Error('not a cache entry');
      return entry;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') await rm(path, { force: true });
      return undefined;
    }
  }

  // Written after the whole chain succeeded, atomically (temp file + rename), 0600 in a 0700 dir.
  private async writeCache(list: NetworkConfigList, rt: RuntimeConf, result: Result): Promise<void> {
    await mkdir(this.resultsDir, { recursive: true, mode: 0o700 });
    if (!(await lstat(this.resultsDir)).isDirectory()) {
      throw new CniError(
        ErrorCode.IoFailure,
        `refusing to write the result cache into ${this.resultsDir}: it is not a directory (a symbolic link?)`,
      );
    }
    const entry: CacheEntry = {
      kind: 'cniCacheV1',
      containerId: rt.containerId,
      config: Buffer.from(list.source).toString('base64'),
      ifName: rt.ifname,
      networkName: list.name,
      netns: rt.netns,
      cniArgs: rt.args ?? [],
      capabilityArgs: rt.capabilityArgs ?? {},
      result: formatResult(result, list.cniVersion),
    };
    const path = this.cachePath(list.name, rt);
    const tmp = `${path}.tmp-${process.pid}`;
    // O_EXCL after removing a leftover: a symlink planted at the temp name is never followed.
    await rm(tmp, { force: true });
    await writeFile(tmp, JSON.stringify(entry), { mode: 0o600, flag: 'wx' });
    await rename(tmp, path);
  }
}
