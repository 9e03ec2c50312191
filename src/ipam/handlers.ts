import { writeSync } from 'node:fs';
import * as z from 'zod/mini';
import { CniError, ErrorCode } from '../cni/errors.js';
import { parseResult } from '../cni/result-parse.js';
import type { Result } from '../cni/result.js';
import { parseConfig } from '../cni/schema.js';
import type { PluginHandlers, PluginRequest } from '../cni/skel.js';
import { loadIpamConfig, type IpamConfig } from './config.js';
import { asStoreError } from './errors.js';
import { formatIp, parseCidr } from './ip.js';
import { attachmentId } from './store/record.js';
import { IpamStore, type StoreOptions } from './store/store.js';

// ecs-ipam: one address per configured family for a key (`id`, else container id + ifname),
// kept in the store described in docs/ipam-store.md. Each verb marks the end of its phases for
// the debug timing (docs/plugin-logs.md); the store's first step, holding the key's gate, is
// "store-lock".
export const createHandlers = (options: StoreOptions = {}): PluginHandlers => {
  const open = (req: PluginRequest): { config: IpamConfig; store: IpamStore } => {
    const config = loadIpamConfig(req.config, req.env);
    req.phases.mark('config');
    const hooks = testHooks(req.env);
    const step = (name: string): void => {
      if (name === 'gate') req.phases.mark('store-lock');
      hooks.step?.(name);
    };
    const store = IpamStore.open(config, { ...options, ...hooks, step });
    req.phases.mark('store-open');
    return { config, store };
  };

  return {
    add: (req) =>
      storeCall(async () => {
        const { config, store } = open(req);
        const addresses = await store.allocate(keyOf(config, req), attachmentOf(req));
        req.phases.mark('store-write');
        return resultOf(config, addresses, req.cniVersion);
      }),

    del: (req) =>
      storeCall(async () => {
        const { config, store } = open(req);
        await store.release(keyOf(config, req), attachmentOf(req));
        req.phases.mark('store-write');
      }),

    check: (req) =>
      storeCall(async () => {
        if (req.config.prevResult === undefined) {
          throw new CniError(ErrorCode.InvalidNetworkConfig, 'CHECK needs prevResult: required prevResult missing');
        }
        const prev = parseResult(req.config.prevResult, req.cniVersion);
        const { config, store } = open(req);
        const key = keyOf(config, req);
        const listed = new Set((prev.ips ?? []).map((ip) => canonicalCidr(ip.address)));
        const held = store.lookup(key);
        req.phases.mark('store-read');
        held.forEach((address, i) => {
          const pool = config.pools[i]!;
          const subnet = `${formatIp(pool.family, pool.subnet.network)}/${pool.subnet.prefix}`;
          if (address === undefined) {
            const what = pool.address === undefined ? 'no address' : `not ${formatIp(pool.family, pool.address)}`;
            throw new CniError(
              ErrorCode.Plugin,
              `ecs-ipam CHECK: key ${JSON.stringify(key)} holds ${what} in ${subnet}`,
            );
          }
          const expected = `${formatIp(pool.family, address)}/${pool.subnet.prefix}`;
          if (!listed.has(expected)) {
            throw new CniError(
              ErrorCode.Plugin,
              `ecs-ipam CHECK: key ${JSON.stringify(key)} holds ${expected}, but prevResult lists ${JSON.stringify([...listed])}`,
            );
          }
        });
      }),

    // SPEC 1.1.0 STATUS: code 50 when an ADD could not succeed (pool full, store unusable).
    status: (req) =>
      storeCall(async () => {
        const config = loadIpamConfig(req.config, req.env);
        req.phases.mark('config');
        try {
          IpamStore.open(config, options).status();
        } catch (error) {
          const cause = asStoreError(error);
          if (cause instanceof CniError && cause.code === ErrorCode.NotReady) throw cause;
          throw new CniError(ErrorCode.NotReady, `ecs-ipam store unusable: ${(cause as Error).message}`);
        }
        req.phases.mark('store-status');
      }),

    gc: (req) =>
      storeCall(async () => {
        const { store } = open(req);
        store.gc(validAttachments(req.config));
        req.phases.mark('store-gc');
      }),
  };
};

export const handlers = createHandlers();

const storeCall = async <T>(fn: () => Promise<T>): Promise<T> => {
  try {
    return await fn();
  } catch (error) {
    throw asStoreError(error);
  }
};

const keyOf = (config: IpamConfig, req: PluginRequest): string => config.id ?? `${req.containerId}/${req.ifname}`;

const attachmentOf = (req: PluginRequest) => ({ containerId: req.containerId, ifname: req.ifname });

const resultOf = (config: IpamConfig, addresses: bigint[], cniVersion: string): Result => ({
  cniVersion,
  ips: config.pools.map((pool, i) => ({
    address: `${formatIp(pool.family, addresses[i]!)}/${pool.subnet.prefix}`,
    gateway: formatIp(pool.family, pool.gateway),
  })),
  routes: config.pools.flatMap((pool) => pool.routes),
});

const canonicalCidr = (text: string): string => {
  const cidr = parseCidr(text);
  return cidr ? `${formatIp(cidr.family, cidr.value)}/${cidr.prefix}` : text;
};

const attachmentsSchema = z.array(z.looseObject({ containerID: z.string(), ifname: z.string() }));

// SPEC 1.1.0 GC: `cni.dev/valid-attachments` (libcni also sends the older `cni.dev/attachments`).
// Absent means none is valid: libcni omits the key only after it has DELed every attachment.
const validAttachments = (config: Record<string, unknown>): Set<string> => {
  const field = config['cni.dev/valid-attachments'] !== undefined ? 'cni.dev/valid-attachments' : 'cni.dev/attachments';
  const list = parseConfig(attachmentsSchema, config[field] ?? [], { prefix: field });
  return new Set(list.map((a) => attachmentId({ containerId: a.containerID, ifname: a.ifname })));
};

// TASKNET_TEST_IPAM_DELAY_MS widens the windows between store steps so tests can kill a process
// inside each of them; each step is announced on stderr so a test knows where its kill landed.
// Unset, it adds nothing to the path.
const testHooks = (env: PluginRequest['env']): StoreOptions => {
  const ms = Number(env.TASKNET_TEST_IPAM_DELAY_MS);
  if (!(ms > 0)) return {};
  const cell = new Int32Array(new SharedArrayBuffer(4));
  return {
    step: (name) => {
      writeSync(2, `ecs-ipam step ${name}\n`);
      Atomics.wait(cell, 0, 0, ms);
    },
  };
};
