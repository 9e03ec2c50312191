// Why no `ip` outlives the verb that started it (src/netlink/run.ts, batch.ts). A long-lived
// `ip -batch -` per netns would save a process per change (bench section 9 measures it), but ip
// keeps a per-process cache of link names to ifindexes (iproute2 6.1's lib/ll_map.c: a name found
// once is not looked up again; only its own `ip link` changes drop an entry). When another
// process renames a link and a new link takes its old name, a long-lived ip's `addr add dev NAME`
// (and route, neigh: whatever resolves `dev` through the cache) changes the old link.
// A fresh `ip` per verb, the control, changes the right one.
import { execFileSync, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import t from 'tap';
import { makeNetns, needsRoot } from '../helpers/netns.js';

const ip = (ns: string, ...args: string[]): string => execFileSync('ip', ['-n', ns, ...args], { encoding: 'utf8' });
const addressesOf = (ns: string, dev: string): string[] =>
  (JSON.parse(ip(ns, '-j', 'addr', 'show', 'dev', dev)) as { addr_info: { local: string }[] }[])[0]!.addr_info.map(
    (a) => a.local,
  );
const indexOf = (ns: string, dev: string): number =>
  (JSON.parse(ip(ns, '-j', 'link', 'show', 'dev', dev)) as { ifindex: number }[])[0]!.ifindex;

// One `ip -n NS -j -batch -` fed a line at a time; each change is followed by a read of lo, whose
// JSON line says ip got past the change (a failure would end the process: no -force).
function longLivedIp(t: { teardown(fn: () => void): void }, ns: string): (line: string) => Promise<void> {
  const child = spawn('ip', ['-n', ns, '-j', '-batch', '-'], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout });
  t.teardown(() => {
    child.stdin.end();
    child.kill();
  });
  return (line) =>
    new Promise((resolve, reject) => {
      const onClose = (): void => reject(new Error(`ip exited at: ${line}`));
      child.once('close', onClose);
      lines.once('line', () => {
        child.off('close', onClose);
        resolve();
      });
      child.stdin.write(`${line}\nlink show dev lo\n`);
    });
}

t.test(
  'a long-lived ip changes the link that had the name, not the link that has it',
  { skip: needsRoot },
  async (t) => {
    const [ns] = await makeNetns(t, 1, 'llip');
    ip(ns, 'link', 'add', 'name', 'eth1', 'type', 'veth', 'peer', 'name', 'eth1-peer');
    const send = longLivedIp(t, ns);
    await send('addr add 10.9.0.1/32 dev eth1');
    t.same(addressesOf(ns, 'eth1'), ['10.9.0.1'], 'the long-lived ip reached eth1');

    // Another process renames eth1 and gives its name to a new link (an ENI leaving, another arriving).
    const old = indexOf(ns, 'eth1');
    ip(ns, 'link', 'set', 'dev', 'eth1', 'name', 'eni-old');
    ip(ns, 'link', 'add', 'name', 'eth1', 'type', 'veth', 'peer', 'name', 'eth1-peer2');
    t.not(indexOf(ns, 'eth1'), old, 'eth1 is now another link');

    await send('addr add 10.9.0.2/32 dev eth1');
    t.same(
      addressesOf(ns, 'eni-old'),
      ['10.9.0.1', '10.9.0.2'],
      'the long-lived ip changed the renamed link, by its cached index',
    );
    t.same(addressesOf(ns, 'eth1'), [], 'and left the link now called eth1 alone');

    // Control: the same change through a fresh ip, as every verb of ours runs it.
    ip(ns, 'addr', 'add', '10.9.0.3/32', 'dev', 'eth1');
    t.same(addressesOf(ns, 'eth1'), ['10.9.0.3'], 'a fresh ip changes the link called eth1');
    t.same(addressesOf(ns, 'eni-old'), ['10.9.0.1', '10.9.0.2'], 'and not the renamed one');
  },
);
