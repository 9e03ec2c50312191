// 128 ecs-bridge processes at once (issue 10's load figure; BRIDGE_CONCURRENCY changes it), as a
// runtime starting 128 containers would: the first ones race
// to create the bridge and its address (upstream's "file exists" failures, ecs-cni-plugins#90),
// all of them race for addresses in one store; then as many DELs: zero failures, zero duplicates,
// zero leftovers.
import { execFileSync, spawn } from 'node:child_process';
import { join } from 'node:path';
import t from 'tap';
import { makeNetns, needsRoot, withNetns } from '../../helpers/netns.js';
import { BIN, makeBridgeLab } from './harness.js';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';

const COUNT = Number(process.env.BRIDGE_CONCURRENCY ?? 128);
const BRIDGE = 'ecs-br-conc';

const execBridge = (host: string, command: string, containerId: string, netns: string, conf: object) =>
  new Promise<{ code: number; stdout: string }>((resolve) => {
    const child = spawn('nsenter', [`--net=/var/run/netns/${host}`, join(BIN, 'ecs-bridge')], {
      env: {
        PATH: process.env.PATH,
        CNI_COMMAND: command,
        CNI_CONTAINERID: containerId,
        CNI_NETNS: netns,
        CNI_IFNAME: 'ecs-eth0',
        CNI_PATH: BIN,
      },
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d;
    });
    child.on('close', (code) => resolve({ code: code ?? 1, stdout }));
    child.stdin.end(JSON.stringify(conf));
  });

t.test(
  `${COUNT} concurrent ADDs on a missing bridge, then ${COUNT} concurrent DELs`,
  { skip: needsRoot, timeout: 480_000 },
  async (t) => {
    const [host] = await makeNetns(t, 1, 'tnc');
    const tasks: string[] = [];
    for (let i = 0; i < COUNT; i++) tasks.push(await withNetns(t, 'tnc'));
    const dataDir = mkdtempSync(join(tmpdir(), 'tasknet-conc-'));
    t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
    const conf = (i: number) => ({
      cniVersion: '1.0.0',
      name: 'conc',
      type: 'ecs-bridge',
      bridge: BRIDGE,
      ipam: {
        type: 'ecs-ipam',
        id: `task-${i}`,
        'ipv4-subnet': '169.254.172.0/22',
        'ipv4-routes': [{ dst: '169.254.170.2/32' }],
        dataDir,
      },
    });

    const adds = await Promise.all(
      tasks.map((ns, i) => execBridge(host, 'ADD', `task-${i}`, `/var/run/netns/${ns}`, conf(i))),
    );
    const failed = adds.filter((a) => a.code !== 0);
    t.same(
      failed.map((f) => f.stdout),
      [],
      'every ADD succeeded',
    );
    const addresses = adds.filter((a) => a.code === 0).map((a) => JSON.parse(a.stdout).ips[0].address);
    t.equal(new Set(addresses).size, COUNT, `${COUNT} distinct addresses`);
    const hostLinks = JSON.parse(execFileSync('ip', ['-j', '-n', host, 'link'], { encoding: 'utf8' })) as {
      ifname: string;
      master?: string;
    }[];
    t.same(
      hostLinks.filter((l) => l.ifname.startsWith('ecs-br')).map((l) => l.ifname),
      [BRIDGE],
      'one bridge',
    );
    t.equal(hostLinks.filter((l) => l.master === BRIDGE).length, COUNT, `${COUNT} ports on it`);

    const dels = await Promise.all(
      tasks.map((ns, i) => execBridge(host, 'DEL', `task-${i}`, `/var/run/netns/${ns}`, conf(i))),
    );
    t.same(
      dels.filter((d) => d.code !== 0).map((d) => d.stdout),
      [],
      'every DEL succeeded',
    );
    const after = JSON.parse(execFileSync('ip', ['-j', '-n', host, 'link'], { encoding: 'utf8' })) as {
      ifname: string;
      master?: string;
    }[];
    t.equal(after.filter((l) => l.master === BRIDGE).length, 0, 'no veth left on the bridge');
    const leases = readdirSync(dataDir, { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile() && /^\d+\.\d+\.\d+\.\d+$/.test(e.name))
      .map((e) => e.name);
    t.same(leases, [], 'no address held in the store');
  },
);

// The race above, made certain: the ADD that makes the bridge runs its lines in one `ip -batch`,
// and another ADD that finds the bridge between its `link add` and its `addr add` adds the gateway
// itself. A stub `ip` first on PATH plays that other ADD: it runs the creator's first line, adds
// the gateway, then lets ip run the rest (the first line replaced by a no-op, so ip's line numbers
// stay those of the batch). Without the fix the creator failed: "Address already assigned".
t.test("the gateway added by another ADD between the creator's lines", { skip: needsRoot }, async (t) => {
  const lab = await makeBridgeLab(t);
  const stubDir = mkdtempSync(join(tmpdir(), 'tasknet-ipstub-'));
  t.teardown(() => rmSync(stubDir, { recursive: true, force: true }));
  const real = execFileSync('sh', ['-c', 'command -v ip'], { encoding: 'utf8' }).trim();
  const bridge = lab.config().bridge as string;
  writeFileSync(
    join(stubDir, 'ip'),
    `#!/bin/sh
[ "$*" = "-batch -" ] || exec ${real} "$@"
input=$(cat)
case "$input" in *"type bridge"*)
  printf '%s\\n' "$input" | head -n 1 | ${real} -batch - || exit 1
  ${real} addr add 169.254.172.1/22 dev ${bridge} || exit 1
  input=$(printf '%s\\n' "$input" | sed '1s/.*/link set dev lo up/')
esac
printf '%s\\n' "$input" | ${real} -batch -
`,
    { mode: 0o755 },
  );
  const add = await lab.exec('ADD', lab.config(), { PATH: `${stubDir}:${process.env.PATH}` });
  t.equal(add.exitCode, 0, `ADD succeeded: ${add.stdout}`);
  const [br] = JSON.parse(
    execFileSync('ip', ['-j', '-n', lab.host, 'addr', 'show', 'dev', bridge], { encoding: 'utf8' }),
  );
  t.same(
    br.addr_info
      .filter((a: { family: string }) => a.family === 'inet')
      .map((a: { local: string; prefixlen: number }) => `${a.local}/${a.prefixlen}`),
    ['169.254.172.1/22'],
    'the bridge holds the gateway once',
  );
  const [port] = JSON.parse(
    execFileSync('ip', ['-j', '-d', '-n', lab.host, 'link', 'show', 'master', bridge], { encoding: 'utf8' }),
  );
  t.match(
    port,
    { operstate: /UP|LOWERLAYERDOWN/, linkinfo: { info_slave_data: { isolated: true } } },
    'the host end is attached, isolated',
  );
  t.ok(br.flags.includes('UP'), 'the bridge is up');
  const del = await lab.exec('DEL', lab.config());
  t.equal(del.exitCode, 0, 'DEL');
});
