// 6. Scale: chain ADD (and DEL) with 10 and with 1000 tasks already on the bridge (1021 is the
// /22's capacity). Four test hosts live side by side, ours and Go's at each size, so every run
// measures all four in turn (the machine's load drifts; sizes measured one after the other would
// compare two different moments). Each bridge gets N veths shaped like the plugin's own ports,
// whose task ends wait in one "peers" netns (made with `ip -batch`, a few seconds for 1000), and
// its IPAM store N allocations (ours: in-process ecs-ipam ADDs; Go: host-local exec'd); a fake ENI
// sits among the host links. Then exec'd chain and ENI ADD/DEL as in sections 2 and 3, plus
// traced in-process ADDs, counted IPAM ADDs and strace'd IPAM calls to say what grows.
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import {
  addNetns,
  delNetns,
  ipBatchIn,
  ipIn,
  makeFakeEni,
  netnsPath,
  randomMac,
  startAgent,
  startRunner,
  sysctlIn,
  tempDir,
  removeDir,
  type Agent,
} from '../lib/lab.js';
import {
  cmd,
  cniEnv,
  failureOf,
  GO_CNI,
  goBridgeConf,
  goEniConf,
  goIpamConf,
  ourBridgeConf,
  ourEniConf,
  ourIpamConf,
} from '../lib/cni.js';
import { exec, progress, type Ctx } from '../lib/context.js';
import { pairOrder, Recorder } from '../lib/recorder.js';
import type { Cmd, InprocResult, IpamCountedResult } from '../lib/protocol.js';
import { median, percentile } from '../lib/stats.js';
import { ipTime } from './task.js';

interface Host {
  name: 'ours' | 'Go';
  size: number;
  host: string;
  peers: string;
  vpc: string; // holds the peer of the fake ENI
  mac: string; // the fake ENI, among the N host veths
  agent?: Agent; // ours only: in-process ecs-ipam fills and traced ADDs
  runner: Agent; // the timed execs
  data: string;
  bridge: string;
  isolated: boolean; // whether the plugin makes its host veths isolated bridge ports (filled ones copy it)
}

const label = (h: Host): string => `${h.name} @${h.size}`;

const fillVeths = async (h: Host, count: number): Promise<void> => {
  for (let start = 0; start < count; start += 250) {
    const end = Math.min(count, start + 250);
    const host: string[] = [];
    const peer: string[] = [];
    for (let i = start; i < end; i++) {
      host.push(`link add fv${i} type veth peer name fp${i} netns ${h.peers}`, `link set fv${i} master ${h.bridge} up`);
      if (h.isolated) host.push(`link set fv${i} type bridge_slave isolated on`);
      peer.push(`link set fp${i} up`);
    }
    await ipBatchIn(h.host, host);
    await ipBatchIn(h.peers, peer);
  }
};

const fillIpam = async (ctx: Ctx, h: Host, count: number): Promise<void> => {
  const ids = Array.from({ length: count }, (_, k) => `fill-${k}`);
  const env = (id: string) =>
    cniEnv({
      command: 'ADD',
      containerId: id,
      netns: netnsPath(h.host),
      ifname: 'ecs-eth0',
      cniPath: h.name === 'ours' ? ctx.ourBin : GO_CNI,
    });
  const r = h.agent
    ? await h.agent.request<{ failures: number; firstFailure?: string }>({
        op: 'ipamFill',
        env: env('x'),
        stdin: JSON.stringify(ourIpamConf(h.data)),
        ids,
      })
    : await h.runner.request<{ failures: number; firstFailure?: string }>({
        op: 'execPool',
        concurrency: 4,
        cmds: ids.map((id) => cmd(join(GO_CNI, 'host-local'), env(id), goIpamConf(h.data))),
      });
  if (r.failures > 0)
    throw new Error(`${label(h)}: ${r.failures} IPAM allocations failed while filling: ${r.firstFailure}`);
};

// Machine-wide CPU time from /proc/stat (USER_HZ ticks -> ms).
const cpuMs = (): Record<string, number> => {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const names = ['user', 'nice', 'system', 'idle', 'iowait', 'irq', 'softirq'];
  return Object.fromEntries(names.map((n, i) => [n, (f[i] ?? 0) * 10]));
};

// Machine-wide softirq ms per second over `seconds`.
const softirqRate = async (seconds: number): Promise<number> => {
  const a = cpuMs().softirq!;
  await new Promise((r) => setTimeout(r, seconds * 1000));
  return (cpuMs().softirq! - a) / seconds;
};

// Waits (up to 60 s) until the kernel is done with what the fill started (softirq < 50 ms/s).
const settle = async (): Promise<number> => {
  let rate = Number.POSITIVE_INFINITY;
  for (let i = 0; i < 30 && rate > 50; i++) rate = await softirqRate(2);
  return rate;
};

// File-related system calls of one exec'd call, per syscall name (strace -f).
const fileSyscalls = async (runner: Agent, c: Cmd, out: string): Promise<Record<string, number>> => {
  rmSync(out, { force: true });
  await exec(runner, {
    ...c,
    file: 'strace',
    args: ['-f', '-qq', '-o', out, '-e', 'trace=%file,getdents64,read', c.file, ...(c.args ?? [])],
  });
  const counts: Record<string, number> = {};
  for (const line of readFileSync(out, 'utf8').split('\n')) {
    const m = /^(?:\d+\s+)?([a-z0-9_]+)\(/.exec(line);
    if (m) counts[m[1]!] = (counts[m[1]!] ?? 0) + 1;
  }
  return counts;
};

interface Growth {
  ip: Record<string, number[]>;
  js: number[];
  total: number[];
  fs: Record<string, number[]>;
  fsMs: Record<string, number[]>;
  ipamMs: number[];
  eniIp: Record<string, number[]>;
  eniJs: number[];
  eniTotal: number[];
}

export async function scale(ctx: Ctx): Promise<Recorder> {
  const [small, large] = ctx.scaleSizes;
  const traced = Math.min(ctx.runs, 15);
  const rec = new Recorder(
    'scale',
    `6. Scale: chain ADD with ${small} and with ${large} tasks on the bridge`,
    `four test host netns side by side (ours and Go, ${small} and ${large} tasks), each with a bridge holding N veths shaped like the plugin's own (task ends in one peers netns, all up, IPv6 off there), an IPAM store holding N allocations and a fake ENI among the host links; per run a fresh task netns per host and the four hosts in turn (order rotating): exec'd chain ADD then DEL as in section 2, then ENI ADD and DEL as in section 3; then ${traced} traced in-process ADDs (ip processes timed per verb) and counted IPAM ADDs per ours host`,
    ctx.runs,
  );
  const hosts: Host[] = [];
  const mk = async (name: 'ours' | 'Go', size: number): Promise<Host> => {
    const host = addNetns(`sc-${name.toLowerCase()}${size}-`);
    const vpc = addNetns('sc-vpc');
    const mac = randomMac();
    await makeFakeEni(host, vpc, 'eth1', mac);
    const h: Host = {
      name,
      size,
      host,
      vpc,
      mac,
      peers: addNetns('sc-peers'),
      runner: await startRunner(host),
      data: tempDir(`sc-${name}${size}`),
      bridge: name === 'ours' ? 'ecs-br0' : 'go-br0',
      isolated: false,
      ...(name === 'ours' ? { agent: await startAgent(host) } : {}),
    };
    hosts.push(h);
    return h;
  };
  const growth: Record<number, Growth> = {};
  const syscalls: Record<string, Record<string, number>> = {};
  try {
    for (const size of [small, large]) for (const name of ['ours', 'Go'] as const) await mk(name, size);
    const bridgeCall = (h: Host, command: 'ADD' | 'DEL', task: string, id: string) => {
      const env = cniEnv({
        command,
        containerId: id,
        netns: netnsPath(task),
        ifname: 'ecs-eth0',
        cniPath: h.name === 'ours' ? ctx.ourBin : GO_CNI,
      });
      return exec(
        h.runner,
        h.name === 'ours'
          ? cmd(join(ctx.ourBin, 'ecs-bridge'), env, ourBridgeConf(h.data))
          : cmd(join(GO_CNI, 'bridge'), env, goBridgeConf(h.data)),
      );
    };
    const eniCall = (h: Host, command: 'ADD' | 'DEL', task: string, id: string) => {
      const env = cniEnv({
        command,
        containerId: id,
        netns: netnsPath(task),
        ifname: 'eth0',
        cniPath: h.name === 'ours' ? ctx.ourBin : GO_CNI,
      });
      return exec(
        h.runner,
        h.name === 'ours'
          ? cmd(join(ctx.ourBin, 'ecs-eni'), env, ourEniConf(h.mac))
          : cmd(join(GO_CNI, 'host-device'), env, goEniConf(h.mac)),
      );
    };
    // Each bridge made the way its plugin makes it: one ADD + DEL; the port that ADD made says
    // whether the plugin isolates its ports, and the filled veths copy that. The peers netns has
    // IPv6 off: 1000 task ends soliciting routers (RS) and reporting multicast (MLD) through a
    // non-isolated bridge flood every port, and that storm (measured on its own below) would load
    // the whole machine, for every host alike.
    const t0 = Date.now();
    for (const h of hosts) {
      await sysctlIn(h.peers, ['net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1']);
      const t = addNetns('sc-t');
      const a = await bridgeCall(h, 'ADD', t, 'make-bridge');
      if (a.code !== 0) throw new Error(`${label(h)}: first ADD failed: ${a.stdout}${a.stderr}`);
      const ports = JSON.parse(
        (await ipIn(h.host, ['-j', '-d', 'link', 'show', 'master', h.bridge])).stdout || '[]',
      ) as { linkinfo?: { info_slave_data?: { isolated?: boolean } } }[];
      h.isolated = ports.some((p) => p.linkinfo?.info_slave_data?.isolated === true);
      await bridgeCall(h, 'DEL', t, 'make-bridge');
      delNetns(t);
      await fillVeths(h, h.size);
      await fillIpam(ctx, h, h.size);
    }
    const quiet = await settle();
    ctx.log(
      `  scale: ${small} and ${large} tasks on the bridges (filled in ${((Date.now() - t0) / 1000).toFixed(1)} s; softirq ${quiet.toFixed(0)} ms/s before measuring)`,
    );
    rec.note(
      `host veth shape copied from each plugin's own ports: ours ${hosts[0]!.isolated ? 'isolated' : 'not isolated'}, Go ${hosts[1]!.isolated ? 'isolated' : 'not isolated'}`,
    );

    for (const what of ['', 'ENI '] as const) {
      for (const h of hosts) {
        rec.declare(`${h.name} ${what}ADD @${h.size}`, h.name === 'ours' ? 'ours' : 'go');
        rec.declare(`${h.name} ${what}DEL @${h.size}`, h.name === 'ours' ? 'ours' : 'go');
      }
    }
    for (let run = -ctx.warmup; run < ctx.runs; run++) {
      const tasks = new Map(hosts.map((h) => [h, addNetns('sc-t')]));
      const id = `sc-${run + ctx.warmup}`;
      for (const [what, call] of [
        ['', bridgeCall],
        ['ENI ', eniCall],
      ] as const) {
        for (const command of ['ADD', 'DEL'] as const) {
          for (const h of pairOrder(Math.max(0, run), hosts)) {
            const r = await call(h, command, tasks.get(h)!, id);
            if (run >= 0)
              rec.record(
                `${h.name} ${what}${command} @${h.size}`,
                h.name === 'ours' ? 'ours' : 'go',
                r.ms,
                failureOf(r),
              );
          }
        }
      }
      for (const t of tasks.values()) delNetns(t);
      if (run >= 0) progress(ctx, 'scale', run, ctx.runs);
    }

    // Where the time goes at each size: traced in-process ADDs (each `ip` process timed) and the
    // IPAM store's file operations per ADD, on ours; strace'd IPAM calls on both.
    for (const h of hosts) {
      if (!h.agent) continue;
      const g: Growth = { ip: {}, js: [], total: [], fs: {}, fsMs: {}, ipamMs: [], eniIp: {}, eniJs: [], eniTotal: [] };
      growth[h.size] = g;
      for (let run = 0; run < traced; run++) {
        const task = addNetns('sc-t');
        const env = (command: string, ifname = 'ecs-eth0') =>
          cniEnv({
            command: command as 'ADD',
            containerId: `sct-${run}`,
            netns: netnsPath(task),
            ifname,
            cniPath: ctx.ourBin,
          });
        const add = await h.agent.request<InprocResult>({
          op: 'inproc',
          plugin: 'ecs-bridge',
          env: env('ADD'),
          stdin: JSON.stringify(ourBridgeConf(h.data)),
          trace: true,
        });
        await h.agent.request<InprocResult>({
          op: 'inproc',
          plugin: 'ecs-bridge',
          env: env('DEL'),
          stdin: JSON.stringify(ourBridgeConf(h.data)),
        });
        const eadd = await h.agent.request<InprocResult>({
          op: 'inproc',
          plugin: 'ecs-eni',
          env: env('ADD', 'eth0'),
          stdin: JSON.stringify(ourEniConf(h.mac)),
          trace: true,
        });
        await h.agent.request<InprocResult>({
          op: 'inproc',
          plugin: 'ecs-eni',
          env: env('DEL', 'eth0'),
          stdin: JSON.stringify(ourEniConf(h.mac)),
        });
        delNetns(task);
        if (add.exitCode === 0) {
          const t = ipTime(add.trace);
          for (const [verb, v] of Object.entries(t.byVerb)) g.ip[verb] = [...(g.ip[verb] ?? []), v.ms];
          g.js.push(add.ms - t.total);
          g.total.push(add.ms);
        }
        if (eadd.exitCode === 0) {
          const et = ipTime(eadd.trace);
          for (const [verb, v] of Object.entries(et.byVerb)) g.eniIp[verb] = [...(g.eniIp[verb] ?? []), v.ms];
          g.eniJs.push(eadd.ms - et.total);
          g.eniTotal.push(eadd.ms);
        }
        const ipamEnv = cniEnv({
          command: 'ADD',
          containerId: `ipc-${run}`,
          netns: netnsPath(h.host),
          ifname: 'ecs-eth0',
          cniPath: ctx.ourBin,
        });
        const ia = await h.agent.request<IpamCountedResult>({
          op: 'ipamCounted',
          env: ipamEnv,
          stdin: JSON.stringify(ourIpamConf(h.data)),
        });
        await h.agent.request<IpamCountedResult>({
          op: 'ipamCounted',
          env: { ...ipamEnv, CNI_COMMAND: 'DEL' },
          stdin: JSON.stringify(ourIpamConf(h.data)),
        });
        g.ipamMs.push(ia.ms);
        for (const [op, n] of Object.entries(ia.fsOps)) g.fs[op] = [...(g.fs[op] ?? []), n];
        for (const [op, ms] of Object.entries(ia.fsMs)) g.fsMs[op] = [...(g.fsMs[op] ?? []), ms];
      }
    }
    const straceOut = join(hosts[0]!.data, 'strace.txt');
    for (const h of hosts) {
      const t = addNetns('sc-t');
      for (const command of ['ADD', 'DEL'] as const) {
        const env = cniEnv({
          command,
          containerId: 'strace',
          netns: netnsPath(t),
          ifname: 'ecs-eth0',
          cniPath: h.name === 'ours' ? ctx.ourBin : GO_CNI,
        });
        const c =
          h.name === 'ours'
            ? cmd(join(ctx.ourBin, 'ecs-ipam'), env, ourIpamConf(h.data))
            : cmd(join(GO_CNI, 'host-local'), env, goIpamConf(h.data));
        syscalls[`${h.name === 'ours' ? 'ecs-ipam' : 'host-local'} ${command} @${h.size}`] = await fileSyscalls(
          h.runner,
          c,
          straceOut,
        );
      }
      delNetns(t);
    }
    rmSync(straceOut, { force: true });

    for (const side of ['ours', 'Go']) {
      rec.ratioOf(`${side} ADD @${large} / ADD @${small}`, [`${side} ADD @${large}`, `${side} ADD @${small}`]);
      rec.ratioOf(`${side} DEL @${large} / DEL @${small}`, [`${side} DEL @${large}`, `${side} DEL @${small}`]);
      rec.ratioOf(`${side} ENI ADD @${large} / ENI ADD @${small}`, [
        `${side} ENI ADD @${large}`,
        `${side} ENI ADD @${small}`,
      ]);
    }
    rec.ratioOf(`ours ADD / Go ADD @${small}`, [`ours ADD @${small}`, `Go ADD @${small}`]);
    rec.ratioOf(`ours ADD / Go ADD @${large}`, [`ours ADD @${large}`, `Go ADD @${large}`]);
    rec.targetOf(
      'scale:add',
      `ADD @${large} <= 1.3x ADD @${small}`,
      `${rec.median(`ours ADD @${large}`).toFixed(1)} ms / ${rec.median(`ours ADD @${small}`).toFixed(1)} ms`,
      [`ours ADD @${large}`, `ours ADD @${small}`],
      (m) => m[0]! / m[1]!,
      1.3,
    );

    // The growth tables: median per-verb `ip` time, JS time and IPAM store ops at both sizes.
    const a = growth[small]!;
    const b = growth[large]!;
    const row = (name: string, x: number[] | undefined, y: number[] | undefined, digits = 2): (string | number)[] => {
      const mx = x?.length ? median(x) : Number.NaN;
      const my = y?.length ? median(y) : Number.NaN;
      return [name, mx.toFixed(digits), my.toFixed(digits), (my - mx).toFixed(digits), (my / mx).toFixed(2)];
    };
    const verbs = [...new Set([...Object.keys(a.ip), ...Object.keys(b.ip)])];
    rec.tables.push({
      title: `Where an in-process ecs-bridge ADD spends its time at ${small} vs ${large} tasks (medians of ${traced} traced ADDs, ms)`,
      header: ['part', `@${small}`, `@${large}`, 'delta', 'ratio'],
      rows: [
        row('whole in-process ADD', a.total, b.total),
        ...verbs.map((v) => row(`\`${v}\``, a.ip[v], b.ip[v])),
        row('JS (ADD minus ip processes)', a.js, b.js),
        row('in-process ecs-ipam ADD alone', a.ipamMs, b.ipamMs),
      ],
    });
    const everbs = [...new Set([...Object.keys(a.eniIp), ...Object.keys(b.eniIp)])];
    rec.tables.push({
      title: `Where an in-process ecs-eni ADD spends its time with ${small} vs ${large} task veths in the host netns (medians of ${traced} traced ADDs, ms)`,
      header: ['part', `@${small}`, `@${large}`, 'delta', 'ratio'],
      rows: [
        row('whole in-process ADD', a.eniTotal, b.eniTotal),
        ...everbs.map((v) => row(`\`${v}\``, a.eniIp[v], b.eniIp[v])),
        row('JS (ADD minus ip processes: includes parsing the link dump)', a.eniJs, b.eniJs),
      ],
    });
    const ops = [...new Set([...Object.keys(a.fs), ...Object.keys(b.fs)])].sort();
    rec.tables.push({
      title: `IPAM store file operations per in-process ecs-ipam ADD (count: median, and max at ${large}; time: median ms, and p95 ms at ${large}). The lstat count is the number of addresses probed`,
      header: [
        'op',
        `n @${small}`,
        `n @${large}`,
        `max n @${large}`,
        `ms @${small}`,
        `ms @${large}`,
        `p95 ms @${large}`,
      ],
      rows: ops.map((op) => [
        op,
        median(a.fs[op] ?? [0]),
        median(b.fs[op] ?? [0]),
        Math.max(...(b.fs[op] ?? [0])),
        median(a.fsMs[op] ?? [0]).toFixed(3),
        median(b.fsMs[op] ?? [0]).toFixed(3),
        percentile(b.fsMs[op] ?? [0], 95).toFixed(3),
      ]),
    });
    const sc = Object.keys(syscalls);
    const sysNames = [...new Set(sc.flatMap((k) => Object.keys(syscalls[k]!)))].sort();
    rec.tables.push({
      title:
        "File system calls of one exec'd IPAM call (strace -f; ours includes Node's own start-up, the same at both sizes)",
      header: ['call', ...sysNames, 'total'],
      rows: sc.map((k) => [
        k,
        ...sysNames.map((n) => syscalls[k]![n] ?? 0),
        Object.values(syscalls[k]!).reduce((x, y) => x + y, 0),
      ]),
    });

    // The storm: IPv6 on in the task ends of the large hosts, one at a time, softirq over 10 s.
    const storm: (string | number)[][] = [];
    for (const h of hosts.filter((x) => x.size === large)) {
      await sysctlIn(h.peers, ['net.ipv6.conf.default.disable_ipv6=0', 'net.ipv6.conf.all.disable_ipv6=0']);
      const rate = await softirqRate(10);
      await sysctlIn(h.peers, ['net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1']);
      storm.push([`${h.name} (${h.isolated ? 'isolated' : 'non-isolated'} ports)`, rate.toFixed(0)]);
      await settle();
    }
    rec.tables.push({
      title: `IPv6 switched on in the ${large} task ends: machine-wide softirq ms per second over the next 10 s (their router solicitations and MLD reports, flooded by the bridge to every non-isolated port; 2000 = both CPUs busy)`,
      header: ['bridge', 'softirq ms/s'],
      rows: storm,
    });
    rec.extra.storm = storm;
    rec.extra.growth = growth;
    rec.extra.syscalls = syscalls;
  } finally {
    for (const h of hosts) {
      await h.agent?.close();
      await h.runner.close();
      for (const ns of [h.host, h.peers, h.vpc]) delNetns(ns);
      removeDir(h.data);
    }
  }
  return rec;
}
