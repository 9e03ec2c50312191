// The CNI chain run in-process (the agent's default) and by exec'ing bin/ecs-* (what any CNI
// runtime does) give the same result: two identical labs, one agent of each mode, the same task
// on the same ENI; results and the task netns compared after replacing what is unique per task.
import { join } from 'node:path';
import t from 'tap';
import { assertClean, PROCESS_DEMO, ipJson, makeLab, needsRoot } from './harness.js';

// Task ids and what derives from them (host veth names, sandbox paths), and random MACs.
const normalize = (value: unknown, id: string): unknown =>
  JSON.parse(
    JSON.stringify(value)
      .replaceAll(id, 'TASK')
      .replace(/veth[0-9a-f]{11}/g, 'vethHOST'),
  );

// IPv6 link-local addresses and their routes appear when the kernel gets round to them (after
// DAD), not as part of any ADD: left out.
const linkLocal = (text: string): boolean => /fe80:/.test(text);

const netnsState = (id: string) => {
  const ns = `tasknet-${id}`;
  const links = ipJson('-n', ns, 'addr')
    .map((l) => ({
      ifname: l.ifname,
      mtu: l.mtu,
      flags: l.flags,
      address: l.address,
      addrs: (l.addr_info ?? [])
        .map((a: any) => `${a.local}/${a.prefixlen} ${a.scope}`)
        .filter((a: string) => !linkLocal(a)),
    }))
    .sort((x, y) => x.ifname.localeCompare(y.ifname)); // the two lists run at once: ifindex order varies
  const routes = ipJson('-n', ns, 'route', 'show', 'table', 'all').map(
    (r) => `${r.type ?? ''} ${r.dst} ${r.gateway ?? ''} ${r.dev ?? ''} ${(r.flags ?? []).join(',')}`,
  );
  return { links, routes: routes.filter((r) => !linkLocal(r)).sort() };
};

t.test('in-process and exec chains give the same result', { skip: needsRoot }, async (t) => {
  const [inProcess, exec] = await Promise.all([
    makeLab(t, { enis: 1, chain: 'in-process' }),
    makeLab(t, { enis: 1, chain: 'exec' }),
  ]);
  const a = await inProcess.run(join(PROCESS_DEMO, 'task.json'));
  const b = await exec.run(join(PROCESS_DEMO, 'task.json'));
  t.equal(a.chainMode, 'in-process');
  t.equal(b.chainMode, 'exec');
  const ra = inProcess.taskFile(a.id).attachment;
  const rb = exec.taskFile(b.id).attachment;
  const hostVethMac = (r: any) => r.bridge.interfaces.find((i: any) => /^veth/.test(i.name)).mac;
  const strip = (r: any, id: string) => {
    const copy = normalize(r, id) as any;
    copy.bridge.interfaces.find((i: any) => /^veth/.test(i.name)).mac = 'RANDOM';
    return copy;
  };
  t.ok(hostVethMac(ra) && hostVethMac(rb), 'host veth MACs are kernel-random, compared as present only');
  t.same(strip(rb, b.id), strip(ra, a.id), 'CNI results are identical');
  t.equal(ra.bridgeAddress, '169.254.172.2');
  t.same(normalize(netnsState(b.id), b.id), normalize(netnsState(a.id), a.id), 'the task netns looks the same');

  // The mode can also be chosen per task: the same lab runs one of each.
  const c = await inProcess.tn([
    'run',
    join(PROCESS_DEMO, 'other-task.json'),
    '--eni',
    '0e:74:6e:00:00:00,ip=10.0.0.10/24,gw=10.0.0.1',
    '--json',
    '--chain',
    'exec',
  ]);
  t.equal(c.code, 1, 'the ENI is taken');
  t.match(c.stderr, /ENI 0e:74:6e:00:00:00 is already used by another task/);
  t.equal((await inProcess.tn(['stop', a.id])).code, 0);
  const byMac = await inProcess.tn([
    'run',
    join(PROCESS_DEMO, 'other-task.json'),
    '--eni',
    '0e:74:6e:00:00:00',
    '--json',
    '--chain',
    'exec',
  ]);
  t.equal(byMac.code, 0, `a bare lab MAC takes the lab's address: ${byMac.stderr}`);
  const d = byMac.json;
  t.same(d.eni.addresses, ['10.0.0.10/24']);
  t.equal(d.chainMode, 'exec');
  t.equal((await inProcess.tn(['stop', d.id])).code, 0, 'an exec-chain task stops in an in-process agent');
  t.equal((await exec.tn(['stop', b.id])).code, 0);
  assertClean(t, inProcess, [a.id, d.id], 1);
  assertClean(t, exec, [b.id], 1);
});
