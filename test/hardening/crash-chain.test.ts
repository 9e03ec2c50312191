// kill -9 of exec'd plugins at random moments of ADD and DEL across the whole chain (ecs-eni, then
// ecs-bridge + ecs-ipam, as the agent runs them through CniRuntime), then DEL and GC as a runtime
// would: the machine ends clean (no veth, no bridge port, the ENI back in the host under its name,
// no lease, no cache entry) and the next ADD works. CRASH_KILLS=<n> for a long run (default 8),
// CRASH_SEED to reproduce. The plugins run exec'd inside a throwaway host netns through wrappers
// (nsenter execs in place, so the pid killed is the plugin's).
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import t from 'tap';
import { CniRuntime, parseConflist, type PluginInvoker } from '../../src/cni/runtime.js';
import { makeNetns, needsRoot, netnsHolder } from '../helpers/netns.js';
import { Prng, rootLinks } from './fuzz-lib.js';

const KILLS = Number(process.env.CRASH_KILLS ?? 8);
const SEED = Number(process.env.CRASH_SEED ?? 0xc4a5);
const BIN = resolve(import.meta.dirname, '../../bin');
const MAC = '0e:74:6e:cc:00:01';

t.test(`crash chain: ${KILLS} kills`, { skip: needsRoot, timeout: Math.max(480_000, KILLS * 10_000) }, async (t) => {
  const rootBefore = rootLinks();
  const [host, task, vpc] = await makeNetns(t, 3, 'tcc');
  const taskPath = await netnsHolder(t, task);
  execFileSync('ip', [
    '-n',
    host,
    'link',
    'add',
    'eni-cc',
    'address',
    MAC,
    'type',
    'veth',
    'peer',
    'name',
    'vpc0',
    'netns',
    vpc,
  ]);
  execFileSync('ip', ['-n', vpc, 'addr', 'add', '10.0.0.1/24', 'dev', 'vpc0']);
  execFileSync('ip', ['-n', vpc, 'link', 'set', 'vpc0', 'up']);
  const dir = mkdtempSync(join(tmpdir(), 'tasknet-crash-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const wrappers = join(dir, 'bin');
  execFileSync('mkdir', ['-p', wrappers]);
  for (const name of ['ecs-eni', 'ecs-bridge', 'ecs-ipam']) {
    writeFileSync(join(wrappers, name), `#!/bin/sh\nexec nsenter --net=/var/run/netns/${host} ${join(BIN, name)}\n`);
    chmodSync(join(wrappers, name), 0o755);
  }
  const dataDir = join(dir, 'ipam');
  const eniList = parseConflist(
    JSON.stringify({
      cniVersion: '1.1.0',
      name: 'tasknet-eni',
      plugins: [
        {
          type: 'ecs-eni',
          mac: MAC,
          'ip-addresses': ['10.0.0.10/24'],
          'gateway-ip-addresses': ['10.0.0.1'],
          'block-instance-metadata': true,
        },
      ],
    }),
  );
  const bridgeList = parseConflist(
    JSON.stringify({
      cniVersion: '1.1.0',
      name: 'tasknet-bridge',
      plugins: [
        {
          type: 'ecs-bridge',
          bridge: 'ecs-br-cc',
          ipam: {
            type: 'ecs-ipam',
            id: MAC,
            'ipv4-subnet': '169.254.172.0/22',
            'ipv4-routes': [{ dst: '169.254.170.2/32' }],
            dataDir,
          },
        },
      ],
    }),
  );

  const r = new Prng(SEED);
  let armed: { delayMs: number } | undefined; // the next plugin call is killed after delayMs
  let kills = 0;
  const invoke: PluginInvoker = (type, env, stdin) =>
    new Promise((done, fail) => {
      const child = spawn(join(wrappers, type), [], {
        env: env as NodeJS.ProcessEnv,
        stdio: ['pipe', 'pipe', 'ignore'],
      });
      let stdout = '';
      child.stdout.on('data', (d: Buffer) => {
        stdout += d;
      });
      child.stdin.on('error', () => {
        /* killed before reading */
      });
      const shot = armed;
      armed = undefined;
      const timer = shot
        ? setTimeout(() => {
            if (child.kill('SIGKILL')) kills++;
          }, shot.delayMs)
        : undefined;
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        if (signal) fail(new Error(`${type} killed by ${signal}`));
        else done({ exitCode: code ?? 1, stdout });
      });
      child.stdin.end(stdin);
    });
  const runtime = new CniRuntime({ cniPath: [wrappers], cacheDir: join(dir, 'cni'), invoke });
  const eniRt = (i: number) => ({ containerId: `cc${i}`, netns: taskPath, ifname: 'eth0' });
  const bridgeRt = (i: number) => ({ containerId: `cc${i}`, netns: taskPath, ifname: 'ecs-eth0' });

  const links = (ns: string) => JSON.parse(execFileSync('ip', ['-j', '-n', ns, 'link'], { encoding: 'utf8' })) as any[];
  const leftovers = (): string[] => {
    const found: string[] = [];
    const hostLinks = links(host);
    const extra = hostLinks.filter((l) => !['lo', 'eni-cc', 'ecs-br-cc'].includes(l.ifname));
    if (extra.length) found.push(`host links ${extra.map((l) => l.ifname).join(',')}`);
    if (!hostLinks.some((l) => l.ifname === 'eni-cc' && l.address === MAC))
      found.push('the ENI is not back in the host as eni-cc');
    if (hostLinks.some((l) => l.master === 'ecs-br-cc')) found.push('a port on the bridge');
    const taskLinks = links(task).filter((l) => l.ifname !== 'lo');
    if (taskLinks.length) found.push(`task links ${taskLinks.map((l) => l.ifname).join(',')}`);
    const leases = existsSync(dataDir)
      ? readdirSync(dataDir, { recursive: true, withFileTypes: true })
          .filter((e) => !e.isDirectory() && e.name !== 'cursor' && e.name !== '.tasknet-ipam')
          .map((e) => e.name)
      : [];
    if (leases.length) found.push(`ipam store holds ${leases.join(',')}`);
    const cache = existsSync(join(dir, 'cni', 'results')) ? readdirSync(join(dir, 'cni', 'results')) : [];
    if (cache.length) found.push(`cache holds ${cache.join(',')}`);
    const routes = execFileSync('ip', ['-n', task, 'route', 'show', 'table', 'all'], { encoding: 'utf8' })
      .split('\n')
      .filter((l) => l.trim() && !/ dev lo /.test(l) && !l.startsWith('local') && !/dev lo$/.test(l));
    if (routes.length) found.push(`task routes ${routes.join(' | ')}`);
    return found;
  };

  const problems: string[] = [];
  let survived = 0;
  const taskIno = statSync(taskPath).ino;
  for (let i = 0; i < KILLS; i++) {
    // The plugins get the task netns as /proc/PID/ns/net of a holder: should the holder be gone,
    // that path could name a recycled pid's netns (the machine's own): stop rather than use it.
    if (statSync(taskPath, { throwIfNoEntry: false })?.ino !== taskIno) {
      problems.push(`${i}: the task netns holder is gone: ${taskPath} no longer names the task netns`);
      break;
    }
    const phase = r.pick(['eni-add', 'bridge-add', 'bridge-del', 'eni-del'] as const);
    const delayMs = r.int(phase.endsWith('del') ? 250 : 450);
    try {
      if (phase === 'eni-add') armed = { delayMs };
      await runtime.add(eniList, eniRt(i)).catch(() => {});
      if (phase === 'bridge-add') armed = { delayMs };
      await runtime.add(bridgeList, bridgeRt(i)).catch(() => {});
      if (phase === 'bridge-del') armed = { delayMs };
      await runtime.del(bridgeList, bridgeRt(i)).catch(() => {});
      if (phase === 'eni-del') armed = { delayMs };
      await runtime.del(eniList, eniRt(i)).catch(() => {});
    } finally {
      armed = undefined;
    }
    // As a runtime does after a failure: DEL (idempotent), then GC with nothing valid.
    await runtime.del(bridgeList, bridgeRt(i)).catch((e: Error) => problems.push(`${i}: DEL bridge: ${e.message}`));
    await runtime.del(eniList, eniRt(i)).catch((e: Error) => problems.push(`${i}: DEL eni: ${e.message}`));
    await runtime.gc(bridgeList, []).catch((e: Error) => problems.push(`${i}: GC bridge: ${e.message}`));
    await runtime.gc(eniList, []).catch((e: Error) => problems.push(`${i}: GC eni: ${e.message}`));
    const left = leftovers();
    if (left.length) {
      problems.push(`${i} (${phase} killed after ${delayMs} ms): ${left.join('; ')}`);
      break;
    }
    survived++;
    if (i % 4 === 3 || i === KILLS - 1) {
      const eni = await runtime.add(eniList, eniRt(1_000_000 + i)).then(
        () => 'ok',
        (e: Error) => e.message,
      );
      const bridge = await runtime.add(bridgeList, bridgeRt(1_000_000 + i)).then(
        () => 'ok',
        (e: Error) => e.message,
      );
      if (eni !== 'ok' || bridge !== 'ok') problems.push(`${i}: the next ADD failed: ${eni}; ${bridge}`);
      await runtime
        .del(bridgeList, bridgeRt(1_000_000 + i))
        .catch((e: Error) => problems.push(`${i}: DEL: ${e.message}`));
      await runtime.del(eniList, eniRt(1_000_000 + i)).catch((e: Error) => problems.push(`${i}: DEL: ${e.message}`));
      const after = leftovers();
      if (after.length) problems.push(`${i}: after the next ADD and DEL: ${after.join('; ')}`);
    }
  }
  t.same(problems, [], 'every kill cleaned up by DEL + GC, and the next ADD works');
  t.same(rootLinks(), rootBefore, "the machine's own netns links are unchanged");
  t.comment(`${survived} iterations survived, ${kills} plugin processes killed with SIGKILL mid-call`);
});
