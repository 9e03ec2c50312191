// 7. Memory: peak RSS (GNU time's %M, the kernel's ru_maxrss of the waited process) of each plugin
// process, ours and theirs, per verb. A process that execs a delegate (Go bridge -> host-local,
// host-device -> static) reports the larger of itself and that child: ru_maxrss of wait4 covers
// the waited-for children too; the delegates are also measured on their own.
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import {
  addNetns,
  type Agent,
  delNetns,
  makeEniPair,
  netnsPath,
  startRunner,
  tempDir,
  releaseSection,
} from '../lib/lab.js';
import {
  baseEnv,
  cmd,
  cniEnv,
  GO_CNI,
  goBridgeConf,
  goEniConf,
  goIpamConf,
  ourBridgeConf,
  ourEniConf,
  ourIpamConf,
} from '../lib/cni.js';
import { exec, progress, type Ctx } from '../lib/context.js';
import { Recorder, type Side } from '../lib/recorder.js';
import type { Cmd } from '../lib/protocol.js';
import { OUR_EXECUTABLES } from './startup.js';

const TIME = '/usr/bin/time';

export async function memory(ctx: Ctx): Promise<Recorder> {
  const rec = new Recorder(
    'memory',
    '7. Memory: peak RSS per plugin process',
    'each call wrapped in /usr/bin/time -f %M (peak RSS of the process, or of it and its delegate child, whichever is larger); per run fresh task netns; ADDs then DELs in a test host netns with a fake ENI and the bridge',
    ctx.runs,
  );
  const { ourHost, goHost, ourMac, goMac, namespaces } = await makeEniPair('mm');
  const ours = await startRunner(ourHost);
  const go = await startRunner(goHost);
  const dirs = ['mm-ours', 'mm-go', 'mm-rss'].map(tempDir);
  const [ourData, goData, rssDir] = dirs as [string, string, string];
  const peak: Record<string, number> = {};
  try {
    const timed = async (agent: Agent, name: string, side: Side, c: Cmd, record: boolean): Promise<void> => {
      const out = join(rssDir, 'rss');
      rmSync(out, { force: true });
      const r = await exec(agent, { ...c, file: TIME, args: ['-f', '%M', '-o', out, c.file, ...(c.args ?? [])] });
      if (!record) return;
      if (r.code !== 0) {
        rec.fail(name, side, `exit ${r.code}: ${(r.stdout || r.stderr).slice(0, 200)}`, 'MB');
        return;
      }
      const kb = Number(readFileSync(out, 'utf8').trim().split('\n').pop());
      rec.add(name, side, kb / 1024, 'MB');
      peak[name] = Math.max(peak[name] ?? 0, kb / 1024);
    };
    const version = { ...baseEnv(), CNI_COMMAND: 'VERSION' };
    const vIn = JSON.stringify({ cniVersion: '1.0.0' });
    for (let run = -ctx.warmup; run < ctx.runs; run++) {
      const record = run >= 0;
      const id = `mm-${run + ctx.warmup}`;
      const t = { ours: addNetns('mm-t'), go: addNetns('mm-t') };
      const env = (side: 'ours' | 'go', command: 'ADD' | 'DEL', ifname: string, cid = id) =>
        cniEnv({
          command,
          containerId: cid,
          netns: netnsPath(t[side]),
          ifname,
          cniPath: side === 'ours' ? ctx.ourBin : GO_CNI,
        });
      const O = (p: string) => join(ctx.ourBin, p);
      const G = (p: string) => join(GO_CNI, p);
      for (const p of OUR_EXECUTABLES)
        await timed(ours, `${p} VERSION`, 'ours', { file: O(p), env: version, input: vIn }, record);
      await timed(go, 'bridge VERSION', 'go', { file: G('bridge'), env: version, input: vIn }, record);
      for (const command of ['ADD', 'DEL'] as const) {
        await timed(
          ours,
          `ecs-bridge ${command} (ecs-ipam in-process)`,
          'ours',
          cmd(O('ecs-bridge'), env('ours', command, 'ecs-eth0'), ourBridgeConf(ourData)),
          record,
        );
        await timed(
          go,
          `bridge ${command} (max of bridge, host-local)`,
          'go',
          cmd(G('bridge'), env('go', command, 'ecs-eth0'), goBridgeConf(goData)),
          record,
        );
        await timed(
          ours,
          `ecs-eni ${command}`,
          'ours',
          cmd(O('ecs-eni'), env('ours', command, 'eth0'), ourEniConf(ourMac)),
          record,
        );
        await timed(
          go,
          `host-device ${command} (max of host-device, static)`,
          'go',
          cmd(G('host-device'), env('go', command, 'eth0'), goEniConf(goMac)),
          record,
        );
        await timed(
          ours,
          `ecs-ipam ${command} (exec'd alone)`,
          'ours',
          cmd(O('ecs-ipam'), env('ours', command, 'ecs-eth0', `${id}-ipam`), ourIpamConf(ourData)),
          record,
        );
        await timed(
          go,
          `host-local ${command} (exec'd alone)`,
          'go',
          cmd(G('host-local'), env('go', command, 'ecs-eth0', `${id}-ipam`), goIpamConf(goData)),
          record,
        );
      }
      delNetns(t.ours);
      delNetns(t.go);
      if (record) progress(ctx, 'memory', run, ctx.runs);
    }
    const ourPeak = Math.max(
      ...Object.entries(peak)
        .filter(([n]) => rec.series.get(n)?.side === 'ours')
        .map(([, v]) => v),
    );
    const goPeak = Math.max(
      ...Object.entries(peak)
        .filter(([n]) => rec.series.get(n)?.side === 'go')
        .map(([, v]) => v),
    );
    rec.ratio('largest ours / largest Go (max over runs)', ourPeak / goPeak);
    rec.target(
      'memory:rss',
      'peak RSS per plugin process <= 64 MB',
      `largest of any ours process over all runs: ${ourPeak.toFixed(1)} MB`,
      ourPeak,
      64,
    );
    rec.extra.peakMB = peak;
  } finally {
    await releaseSection([ours, go], namespaces, dirs);
  }
  return rec;
}
