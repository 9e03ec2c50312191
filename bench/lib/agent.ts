// A bench agent: started by the driver inside one throwaway "host" netns (nsenter, once), it plays
// the CNI runtime of that host. It execs plugins directly and times them from spawn to close, and
// runs our plugins in-process (skel.runPlugin / cni/runtime.CniRuntime with an invoke hook) with
// this netns as their host, exactly as the agent's in-process mode does. One request per stdin line,
// one JSON answer per stdout line; logs go to stderr.
import { spawn, type SpawnOptions } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Session } from 'node:inspector/promises';
import { createInterface } from 'node:readline';
import type {
  ChainResult,
  Cmd,
  ExecManyResult,
  ExecResult,
  InprocResult,
  IpamCountedResult,
  IpTrace,
  Request,
} from './protocol.js';

// Our code, from the driver's snapshot of src/ (BENCH_SRC) so that in-process and exec'd runs
// measure the same sources even while src/ changes under the bench; src/ itself when run alone.
const SRC = process.env.BENCH_SRC ?? fileURLToPath(new URL('../../src', import.meta.url));
const load = <T>(rel: string): Promise<T> => import(pathToFileURL(join(SRC, rel)).href) as Promise<T>;
const skel = await load<typeof import('../../src/cni/skel.js')>('cni/skel.ts');
const netlink = await load<typeof import('../../src/netlink/index.js')>('netlink/index.ts');
const spawnServer = await load<typeof import('../../src/netlink/spawn-server.js')>('netlink/spawn-server.ts');
const { TaskNetwork } = await load<typeof import('../../src/agent/task/network.js')>('agent/task/network.ts');
const { bridgePlugin } = await load<typeof import('../../src/plugins/bridge/plugin.js')>('plugins/bridge/plugin.ts');
const { eniPlugin } = await load<typeof import('../../src/plugins/eni/plugin.js')>('plugins/eni/plugin.ts');
const { plugin: ipamPlugin } = await load<typeof import('../../src/ipam/plugin.js')>('ipam/plugin.ts');
const { createHandlers: createIpamHandlers } =
  await load<typeof import('../../src/ipam/handlers.js')>('ipam/handlers.ts');
const { nodeStoreFs } = await load<typeof import('../../src/ipam/store/fs.js')>('ipam/store/fs.ts');
type PluginDefinition = import('../../src/cni/skel.js').PluginDefinition;

// As the agent does (src/agent/daemon/main.ts): its `ip`/`nsenter` children forked by the spawn
// server; BENCH_NODE_SPAWN=1 keeps Node's own spawn(), for section 4's comparison.
if (!process.env.BENCH_NODE_SPAWN) spawnServer.useSpawnServer();

// While an in-process operation is traced, every `ip`/`nsenter` child it starts is recorded (by
// src/netlink's hook, whichever way the child is started) with its stdin (the -batch lines), its
// start-to-result time, and how long starting it blocked this thread.
let tracing: { t0: number; calls: IpTrace[] } | undefined;
netlink.onIpCall((argv, input) => {
  const t = tracing;
  if (!t) return;
  const start = performance.now();
  const rec: IpTrace = {
    argv: [...argv],
    ...(input === undefined ? {} : { input }),
    startMs: start - t.t0,
    ms: 0,
    syncMs: 0,
  };
  t.calls.push(rec);
  return (_result, blockedMs) => {
    rec.ms = performance.now() - start;
    rec.syncMs = blockedMs;
  };
});
type StoreFs = import('../../src/ipam/store/fs.js').StoreFs;

// hostNs undefined: this process's netns, the test host, as in production.
const OWN: Record<string, PluginDefinition> = {
  'ecs-eni': eniPlugin(),
  'ecs-bridge': bridgePlugin(),
  'ecs-ipam': ipamPlugin,
};

const execOne = (cmd: Cmd): Promise<ExecResult> =>
  new Promise((resolve) => {
    const options: SpawnOptions = { env: cmd.env, stdio: ['pipe', 'pipe', 'pipe'] };
    const t0 = performance.now();
    const child = spawn(cmd.file, cmd.args ?? [], options);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const timer = setTimeout(() => child.kill('SIGKILL'), cmd.timeoutMs ?? 120_000);
    child.stdout!.on('data', (d: Buffer) => out.push(d));
    child.stderr!.on('data', (d: Buffer) => err.push(d));
    child.on('error', (e) => {
      clearTimeout(timer);
      const t1 = performance.now();
      resolve({
        ms: t1 - t0,
        startEpoch: performance.timeOrigin + t0,
        endEpoch: performance.timeOrigin + t1,
        code: -1,
        signal: null,
        stdout: '',
        stderr: String(e),
      });
    });
    child.on('close', (code, signal) => {
      const t1 = performance.now();
      clearTimeout(timer);
      resolve({
        ms: t1 - t0,
        startEpoch: performance.timeOrigin + t0,
        endEpoch: performance.timeOrigin + t1,
        code,
        signal,
        stdout: Buffer.concat(out).toString(),
        stderr: Buffer.concat(err).toString().slice(0, 4000),
      });
    });
    child.stdin!.on('error', () => {
      /* a plugin may exit without reading stdin */
    });
    child.stdin!.end(cmd.input ?? '');
  });

// CPU profile of this process around one operation (node:inspector), written as a .cpuprofile.
const session = new Session();
session.connect();
const profiled = async <T>(path: string | undefined, fn: () => Promise<T>): Promise<T> => {
  if (!path) return fn();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 100 });
  await session.post('Profiler.start');
  try {
    return await fn();
  } finally {
    const { profile } = await session.post('Profiler.stop');
    writeFileSync(path, JSON.stringify(profile));
  }
};

const traced = async <T>(
  on: boolean | undefined,
  fn: () => Promise<T>,
): Promise<{ value: T; ms: number; ipCalls: number; trace?: IpTrace[] }> => {
  const calls0 = netlink.ipCalls();
  const t0 = performance.now();
  if (on) tracing = { t0, calls: [] };
  try {
    const value = await fn();
    const ms = performance.now() - t0;
    return { value, ms, ipCalls: netlink.ipCalls() - calls0, ...(on ? { trace: tracing!.calls } : {}) };
  } finally {
    tracing = undefined;
  }
};

// Counts and times the IPAM store's file operations by kind (as test/ipam/cost.test.ts counts them).
const countingFs = (counts: Record<string, number>, ms: Record<string, number>): StoreFs =>
  Object.fromEntries(
    Object.entries(nodeStoreFs).map(([name, fn]) => [
      name,
      (...a: unknown[]) => {
        counts[name] = (counts[name] ?? 0) + 1;
        const t0 = performance.now();
        try {
          return (fn as (...x: unknown[]) => unknown)(...a);
        } finally {
          ms[name] = (ms[name] ?? 0) + performance.now() - t0;
        }
      },
    ]),
  ) as unknown as StoreFs;

const networks = new Map<string, InstanceType<typeof TaskNetwork>>();
const taskNetworkFor = (cniPath: string[], cacheDir: string, env?: Record<string, string>) => {
  const key = JSON.stringify([cniPath, cacheDir, env]);
  let net = networks.get(key);
  if (!net) {
    net = new TaskNetwork({ cniPath, cacheDir, ...(env ? { env } : {}) });
    networks.set(key, net);
  }
  return net;
};

const handle = async (req: Request): Promise<unknown> => {
  switch (req.op) {
    case 'exec':
      return execOne(req.cmd);
    case 'execMany': {
      const t0 = performance.now();
      const results = await Promise.all(req.cmds.map(execOne));
      return { wallMs: performance.now() - t0, results } satisfies ExecManyResult;
    }
    case 'execPool': {
      const results: ExecResult[] = new Array(req.cmds.length);
      let next = 0;
      const worker = async (): Promise<void> => {
        while (next < req.cmds.length) {
          const i = next++;
          results[i] = await execOne(req.cmds[i]!);
        }
      };
      const t0 = performance.now();
      await Promise.all(Array.from({ length: Math.max(1, req.concurrency) }, worker));
      const failures = results.filter((r) => r.code !== 0);
      return {
        wallMs: performance.now() - t0,
        n: results.length,
        failures: failures.length,
        firstFailure: failures[0]?.stdout ?? failures[0]?.stderr,
      };
    }
    case 'inproc': {
      const def = OWN[req.plugin]!;
      const r = await traced(req.trace, () => skel.runPlugin(def, { env: req.env, stdin: req.stdin }));
      return {
        ms: r.ms,
        exitCode: r.value.exitCode,
        stdout: r.value.stdout,
        ipCalls: r.ipCalls,
        ...(r.trace ? { trace: r.trace } : {}),
      } satisfies InprocResult;
    }
    case 'ipamCounted': {
      const fsOps: Record<string, number> = {};
      const fsMs: Record<string, number> = {};
      const def: PluginDefinition = {
        name: 'ecs-ipam',
        about: 'counted',
        load: async () => createIpamHandlers({ io: countingFs(fsOps, fsMs) }),
      };
      const t0 = performance.now();
      const out = await skel.runPlugin(def, { env: req.env, stdin: req.stdin });
      return {
        ms: performance.now() - t0,
        exitCode: out.exitCode,
        stdout: out.stdout,
        fsOps,
        fsMs,
      } satisfies IpamCountedResult;
    }
    case 'ipamFill': {
      let failures = 0;
      let first: string | undefined;
      const t0 = performance.now();
      for (const id of req.ids) {
        const out = await skel.runPlugin(ipamPlugin, { env: { ...req.env, CNI_CONTAINERID: id }, stdin: req.stdin });
        if (out.exitCode !== 0) {
          failures++;
          first ??= out.stdout;
        }
      }
      return { wallMs: performance.now() - t0, n: req.ids.length, failures, firstFailure: first };
    }
    case 'chain': {
      // Exactly the agent's TaskNetwork (src/agent/task/network.ts: both lists at once, result cache
      // and all), for our chain and for the Go chain alike.
      const net = taskNetworkFor(req.cniPath, req.cacheDir, req.env);
      const lists = { eni: req.eniList, bridge: req.bridgeList };
      let bridgeAddress: string | undefined;
      const r = await traced(req.trace, () =>
        profiled(req.cpuProfile, async (): Promise<string | undefined> => {
          try {
            if (req.action === 'add')
              bridgeAddress = (await net.add(req.containerId, req.netns, lists, req.mode)).bridgeAddress;
            else await net.del(req.containerId, req.netns, lists, req.mode);
            return undefined;
          } catch (error) {
            return (error as Error).message;
          }
        }),
      );
      return {
        ms: r.ms,
        ok: r.value === undefined,
        ...(r.value ? { error: r.value } : {}),
        ipCalls: r.ipCalls,
        ...(r.trace ? { trace: r.trace } : {}),
        ...(bridgeAddress ? { bridgeAddress } : {}),
      } satisfies ChainResult;
    }
    case 'exit':
      setImmediate(() => process.exit(0));
      return 'bye';
  }
};

// Requests run one at a time, in order: the driver interleaves ours and theirs itself.
const lines = createInterface({ input: process.stdin });
let queue = Promise.resolve();
lines.on('line', (line) => {
  queue = queue.then(async () => {
    const { id, req } = JSON.parse(line) as { id: number; req: Request };
    let reply: string;
    try {
      reply = JSON.stringify({ id, ok: true, result: await handle(req) });
    } catch (error) {
      reply = JSON.stringify({ id, ok: false, error: (error as Error)?.stack ?? String(error) });
    }
    process.stdout.write(`${reply}\n`);
  });
});
lines.on('close', () => process.exit(0));
process.stdout.write(`${JSON.stringify({ id: 0, ok: true, result: { ready: true, pid: process.pid } })}\n`);
