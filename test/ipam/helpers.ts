import { spawn } from 'node:child_process';
import {
  existsSync,
  lstatSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runPlugin, type PluginOutput } from '../../src/cni/skel.js';
import { createHandlers } from '../../src/ipam/handlers.js';
import { plugin } from '../../src/ipam/plugin.js';
import { keyDirName, parsePoolDirName } from '../../src/ipam/store/layout.js';
import { MARKER } from '../../src/ipam/store/location.js';
import { decodeRecord, type AllocationRecord } from '../../src/ipam/store/record.js';
import type { StoreOptions } from '../../src/ipam/store/store.js';

export const BIN = fileURLToPath(new URL('../../bin/ecs-ipam', import.meta.url));

// A fresh 0700 directory, removed when the test ends (t.testdir() hands out one per test).
export const tempDir = (t: { teardown(fn: () => void): void }, files: Record<string, string> = {}): string => {
  const dir = mkdtempSync(join(tmpdir(), 'tasknet-ipam-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, name), content);
  return dir;
};

export interface Call {
  containerId?: string;
  ifname?: string;
  env?: Record<string, string>;
  extra?: Record<string, unknown>; // top-level config keys (prevResult, cni.dev/valid-attachments)
  cniVersion?: string;
}

// A network config with an ipam section; `ipam` entries override the defaults, undefined removes.
export const netconf = (dataDir: string, ipam: Record<string, unknown> = {}, call: Call = {}): string => {
  const section: Record<string, unknown> = { type: 'ecs-ipam', 'ipv4-subnet': '169.254.172.0/22', dataDir, ...ipam };
  for (const [k, v] of Object.entries(section)) if (v === undefined) delete section[k];
  return JSON.stringify({ cniVersion: call.cniVersion ?? '1.1.0', name: 'ecs', ipam: section, ...call.extra });
};

export const envFor = (verb: string, call: Call = {}): Record<string, string> => ({
  CNI_COMMAND: verb,
  CNI_CONTAINERID: call.containerId ?? 'c1',
  CNI_NETNS: '/var/run/netns/x',
  CNI_IFNAME: call.ifname ?? 'eth0',
  CNI_PATH: '/opt/cni/bin',
  ...call.env,
});

// Runs ecs-ipam in this process exactly as the executable would (runPlugin), optionally with an
// injected store file system.
export const run = async (
  verb: string,
  stdin: string,
  call: Call = {},
  options?: StoreOptions,
): Promise<PluginOutput> => {
  const def = options ? { ...plugin, load: async () => createHandlers(options) } : plugin;
  return runPlugin(def, { env: envFor(verb, call), stdin });
};

export interface Parsed {
  exitCode: number;
  json: Record<string, any> | undefined;
}

export const parsed = (out: PluginOutput): Parsed => ({
  exitCode: out.exitCode,
  json: out.stdout.trim() ? (JSON.parse(out.stdout) as Record<string, any>) : undefined,
});

// ADD in-process; returns the addresses of the result (v4 first).
export const add = async (
  dataDir: string,
  ipam: Record<string, unknown> = {},
  call: Call = {},
  options?: StoreOptions,
): Promise<string[]> => {
  const out = parsed(await run('ADD', netconf(dataDir, ipam, call), call, options));
  if (out.exitCode !== 0) throw new Error(`ADD failed: ${JSON.stringify(out.json)}`);
  return (out.json!.ips as { address: string }[]).map((ip) => ip.address);
};

// Runs bin/ecs-ipam as a runtime would.
export const runBin = (
  verb: string,
  stdin: string,
  call: Call = {},
  watch: { onStderr?: (all: string) => void } = {},
): {
  done: Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>;
  kill(): void;
  pid: number | undefined;
} => {
  const child = spawn(BIN, [], {
    env: { PATH: process.env.PATH ?? '', ...envFor(verb, call) },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
  });
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
    watch.onStderr?.(stderr);
  });
  child.stdin.on('error', () => {});
  child.stdin.end(stdin);
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>(
    (resolve) => {
      child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
    },
  );
  return { done, kill: () => child.kill('SIGKILL'), pid: child.pid };
};

export interface Snapshot {
  allocations: Map<string, AllocationRecord | undefined>; // "<pool>/<address>" -> record
  index: Map<string, string[]>; // key dir -> entry names
  temps: string[];
  gates: string[];
  strays: string[];
}

// Reads a network's store the way a person would, without the store code.
export const snapshot = (networkDir: string): Snapshot => {
  const snap: Snapshot = { allocations: new Map(), index: new Map(), temps: [], gates: [], strays: [] };
  if (!existsSync(networkDir)) return snap;
  for (const pool of readdirSync(networkDir)) {
    if (pool === MARKER) continue;
    const dir = join(networkDir, pool);
    if (pool === 'keys') {
      for (const name of readdirSync(dir)) {
        if (name.startsWith('.tmp-')) snap.temps.push(`keys/${name}`);
        else if (name.endsWith('.lock')) snap.gates.push(name);
        else snap.index.set(name, readdirSync(join(dir, name)).sort());
      }
      continue;
    }
    if (!parsePoolDirName(pool)) {
      snap.strays.push(pool);
      continue;
    }
    for (const name of readdirSync(dir)) {
      if (name === 'cursor') continue;
      if (name.startsWith('.tmp-')) {
        snap.temps.push(`${pool}/${name}`);
        continue;
      }
      const st = lstatSync(join(dir, name));
      snap.allocations.set(
        `${pool}/${name}`,
        st.isFile() ? decodeRecord(readFileSync(join(dir, name), 'utf8')) : undefined,
      );
    }
  }
  return snap;
};

// The store's invariants (docs/ipam-store.md): every allocation is a complete record, indexed
// under its key; at most one address per key and subnet when no same-key race ran.
export const problems = (snap: Snapshot, { onePerKey = true } = {}): string[] => {
  const out: string[] = [];
  const perKeyPool = new Map<string, string>();
  for (const [where, record] of snap.allocations) {
    if (!record) {
      out.push(`${where}: not a complete allocation record`);
      continue;
    }
    const [pool, name] = where.split('/') as [string, string];
    const entries = snap.index.get(keyDirName(record.key)) ?? [];
    if (!entries.includes(name)) out.push(`${where}: held by ${record.key} but not in its index`);
    const slot = `${record.key} in ${pool}`;
    if (onePerKey && perKeyPool.has(slot))
      out.push(`${record.key} holds two addresses in ${pool}: ${perKeyPool.get(slot)} and ${name}`);
    perKeyPool.set(slot, name);
  }
  return out;
};

// Entries that point at nothing (harmless; GC removes them).
export const dangling = (snap: Snapshot): string[] => {
  const held = new Set(
    [...snap.allocations].filter(([, r]) => r).map(([w, r]) => `${keyDirName(r!.key)}:${w.split('/')[1]}`),
  );
  return [...snap.index].flatMap(([dir, names]) =>
    names.filter((n) => !held.has(`${dir}:${n}`)).map((n) => `${dir}/${n}`),
  );
};

export const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

// Everything about a directory tree a change could touch: per entry its path, type, mode, owner
// and content (or link target), the root included. Equal before and after = left as it was.
export const tree = (root: string): string[] => {
  const out: string[] = [];
  const visit = (path: string, rel: string): void => {
    const st = lstatSync(path);
    const kind = st.isSymbolicLink()
      ? `link -> ${readlinkSync(path)}`
      : st.isDirectory()
        ? 'dir'
        : st.isFile()
          ? `file ${JSON.stringify(readFileSync(path, 'utf8'))}`
          : 'other';
    out.push(`${rel} ${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid} ${kind}`);
    if (st.isDirectory()) for (const name of readdirSync(path).sort()) visit(join(path, name), `${rel}/${name}`);
  };
  visit(root, '.');
  return out;
};
