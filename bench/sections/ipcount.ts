// `ip` processes per verb, for every operation of ours: exec'd (a counting `ip`/`nsenter` shim
// first on PATH) and in-process (the agent's traced spawn, cross-checked with src/netlink's
// ipCalls()). The Go plugins get the same shim: they talk netlink themselves and spawn none.
import { join } from 'node:path';
import { addNetns, delNetns, makeEniPair, netnsPath, startAgent, tempDir, releaseSection } from '../lib/lab.js';
import {
  baseEnv,
  cmd,
  cniEnv,
  GO_CNI,
  goBridgeConf,
  goEniConf,
  goTaskLists,
  ourBridgeConf,
  ourEniConf,
  ourIpamConf,
  ourTaskLists,
} from '../lib/cni.js';
import { exec, type Ctx } from '../lib/context.js';
import { classifyTrace, readShimLog, resetShimLog, tally, writeShim, type IpCall } from '../lib/ipcount.js';
import { Recorder } from '../lib/recorder.js';
import type { ChainResult, InprocResult, IpTrace } from '../lib/protocol.js';

const fmt = (calls: IpCall[] | undefined): string => {
  if (!calls) return '—';
  const t = tally(calls);
  return Object.keys(t).length === 0
    ? '0'
    : `${calls.length}: ${Object.entries(t)
        .map(([k, n]) => `${n}× \`${k}\``)
        .join(', ')}`;
};
const fromTrace = (trace: IpTrace[] | undefined): IpCall[] =>
  (trace ?? []).map(classifyTrace).filter((c): c is IpCall => c !== undefined);

export async function ipcount(ctx: Ctx): Promise<Recorder> {
  const rec = new Recorder(
    'ipcount',
    '8. `ip` processes per operation and verb',
    "one call of each operation; exec'd: a logging `ip`/`nsenter` shim first on PATH; in-process: every child of the agent traced (argv and -batch stdin). `nsenter ip` = one process entering the task netns by path; `-n NS` = ip entering a named netns itself",
    1,
  );
  const { ourHost, goHost, ourMac, goMac, namespaces } = await makeEniPair('ic');
  const ours = await startAgent(ourHost);
  const go = await startAgent(goHost);
  const dirs = ['ic-shim', 'ic-ours', 'ic-go', 'ic-cache1', 'ic-cache2', 'ic-cache3'].map(tempDir);
  const [shimDir, ourData, goData, cache1, cache2, cache3] = dirs as [string, string, string, string, string, string];
  const shim = writeShim(shimDir);
  const shimEnv = { PATH: `${shim.pathPrefix}:${baseEnv().PATH}`, BENCH_IP_LOG: shim.log };
  const rows: (string | number)[][] = [];
  const counts: Record<
    string,
    { exec?: number; inproc?: number; execByVerb?: Record<string, number>; inprocByVerb?: Record<string, number> }
  > = {};
  try {
    const execCount = async (agent: typeof ours, c: ReturnType<typeof cmd>): Promise<IpCall[]> => {
      resetShimLog(shim.log);
      const r = await exec(agent, { ...c, env: { ...c.env, ...shimEnv } });
      if (r.code !== 0) throw new Error(`ipcount: ${c.file} failed: ${r.stdout}${r.stderr}`);
      return readShimLog(shim.log);
    };
    const inproc = async (
      plugin: 'ecs-bridge' | 'ecs-eni' | 'ecs-ipam',
      env: Record<string, string>,
      stdin: unknown,
    ): Promise<IpCall[]> => {
      const r = await ours.request<InprocResult>({
        op: 'inproc',
        plugin,
        env,
        stdin: JSON.stringify(stdin),
        trace: true,
      });
      if (r.exitCode !== 0) throw new Error(`ipcount: in-process ${plugin} failed: ${r.stdout}`);
      const calls = fromTrace(r.trace);
      if (calls.length !== r.ipCalls)
        rec.note(
          `in-process ${plugin} ${env.CNI_COMMAND}: traced ${calls.length} ip children, src/netlink ipCalls() says ${r.ipCalls}`,
        );
      return calls;
    };
    const put = (op: string, execd: IpCall[] | undefined, inp: IpCall[] | undefined): void => {
      rows.push([op, fmt(execd), fmt(inp)]);
      counts[op] = {
        ...(execd ? { exec: execd.length, execByVerb: tally(execd) } : {}),
        ...(inp ? { inproc: inp.length, inprocByVerb: tally(inp) } : {}),
      };
    };
    const O = (p: string) => join(ctx.ourBin, p);
    const G = (p: string) => join(GO_CNI, p);
    for (const [label, plugin, ifname, conf] of [
      ['ecs-bridge', 'ecs-bridge', 'ecs-eth0', ourBridgeConf(ourData)],
      ['ecs-eni', 'ecs-eni', 'eth0', ourEniConf(ourMac)],
      ['ecs-ipam', 'ecs-ipam', 'ecs-eth0', ourIpamConf(ourData)],
    ] as const) {
      // The first pair makes the bridge (and its address): a task's usual ADD finds them there.
      for (const pass of ['first', 'usual']) {
        const t1 = addNetns('ic-t');
        const t2 = addNetns('ic-t');
        const env = (command: 'ADD' | 'DEL', t: string, id: string) =>
          cniEnv({ command, containerId: id, netns: netnsPath(t), ifname, cniPath: ctx.ourBin });
        const a = await execCount(ours, cmd(O(plugin), env('ADD', t1, `x-${pass}`), conf));
        const d = await execCount(ours, cmd(O(plugin), env('DEL', t1, `x-${pass}`), conf));
        const ai = await inproc(plugin, env('ADD', t2, `i-${pass}`), conf);
        const di = await inproc(plugin, env('DEL', t2, `i-${pass}`), conf);
        delNetns(t1);
        delNetns(t2);
        if (pass === 'first' && plugin !== 'ecs-bridge') continue;
        const tag =
          plugin === 'ecs-bridge' ? (pass === 'first' ? ' (first: makes the bridge)' : ' (bridge already there)') : '';
        put(`${label} ADD${tag}`, a, ai);
        put(`${label} DEL${tag}`, d, di);
      }
    }
    // Whole task through CniRuntime, exec'd and in-process.
    const t1 = addNetns('ic-t');
    const t2 = addNetns('ic-t');
    const chain = async (
      mode: 'exec' | 'in-process',
      action: 'add' | 'del',
      t: string,
      cacheDir: string,
      traced: boolean,
    ): Promise<ChainResult> => {
      const r = await ours.request<ChainResult>({
        op: 'chain',
        action,
        mode,
        cniPath: [ctx.ourBin],
        cacheDir,
        ...ourTaskLists(ourMac, ourData),
        containerId: 'task-ic',
        netns: netnsPath(t),
        ...(mode === 'exec' ? { env: shimEnv } : {}),
        trace: traced,
      });
      if (!r.ok) throw new Error(`ipcount: whole task ${mode} ${action}: ${r.error}`);
      return r;
    };
    resetShimLog(shim.log);
    await chain('exec', 'add', t1, cache1, false);
    const ea = readShimLog(shim.log);
    resetShimLog(shim.log);
    await chain('exec', 'del', t1, cache1, false);
    const ed = readShimLog(shim.log);
    const ia = fromTrace((await chain('in-process', 'add', t2, cache2, true)).trace);
    const id = fromTrace((await chain('in-process', 'del', t2, cache2, true)).trace);
    put('whole task ADD (ecs-eni + ecs-bridge + ecs-ipam)', ea, ia);
    put('whole task DEL', ed, id);
    delNetns(t1);
    delNetns(t2);
    // Go: the same shim on PATH.
    const t3 = addNetns('ic-t');
    const genv = (command: 'ADD' | 'DEL', ifname: string) =>
      cniEnv({ command, containerId: 'go-ic', netns: netnsPath(t3), ifname, cniPath: GO_CNI });
    const goCalls = [
      ...(await execCount(go, cmd(G('bridge'), genv('ADD', 'ecs-eth0'), goBridgeConf(goData)))),
      ...(await execCount(go, cmd(G('host-device'), genv('ADD', 'eth0'), goEniConf(goMac)))),
      ...(await execCount(go, cmd(G('host-device'), genv('DEL', 'eth0'), goEniConf(goMac)))),
      ...(await execCount(go, cmd(G('bridge'), genv('DEL', 'ecs-eth0'), goBridgeConf(goData)))),
    ];
    resetShimLog(shim.log);
    const goChain = await go.request<ChainResult>({
      op: 'chain',
      action: 'add',
      mode: 'exec',
      cniPath: [GO_CNI],
      cacheDir: cache3,
      ...goTaskLists(goMac, goData),
      containerId: 'go-task',
      netns: netnsPath(t3),
      env: shimEnv,
    });
    await go.request<ChainResult>({
      op: 'chain',
      action: 'del',
      mode: 'exec',
      cniPath: [GO_CNI],
      cacheDir: cache3,
      ...goTaskLists(goMac, goData),
      containerId: 'go-task',
      netns: netnsPath(t3),
      env: shimEnv,
    });
    if (!goChain.ok) rec.note(`Go whole task ADD failed under the shim: ${goChain.error}`);
    put(
      'Go: bridge, host-device ADD + DEL, and the whole Go task chain',
      [...goCalls, ...readShimLog(shim.log)],
      undefined,
    );
    delNetns(t3);
    rec.tables.push({
      title: '`ip` processes per operation (count: per verb)',
      header: ['operation', "exec'd (shim on PATH)", 'in-process (traced)'],
      rows,
    });
    rec.extra.counts = counts;
  } finally {
    await releaseSection([ours, go], namespaces, dirs);
  }
  return rec;
}
