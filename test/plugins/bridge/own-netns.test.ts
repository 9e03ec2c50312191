// CNI_NETNS naming the plugin's own netns (issue 15, item 5): every change meant for the task
// would land in the host, and DEL would delete whatever host veth CNI_IFNAME names. The plugin
// runs exec'd inside a throwaway "host" netns, so its own netns is that one, never the machine's.
import { execFileSync } from 'node:child_process';
import t, { type Test } from 'tap';
import { needsRoot, netnsHolder } from '../../helpers/netns.js';
import { addressFree, links, makeBridgeLab, type BridgeLab } from './harness.js';

const ip = (...args: string[]): string => execFileSync('ip', args, { encoding: 'utf8' });

// A veth in `ns` named like a container interface: what a DEL of CNI_IFNAME=victim0 deletes.
const addVictim = (ns: string): void => {
  ip('-n', ns, 'link', 'add', 'victim0', 'type', 'veth', 'peer', 'name', 'victim0-peer');
};

const refused = (t: Test, out: Awaited<ReturnType<BridgeLab['exec']>>, own: string): void => {
  t.equal(out.exitCode, 1, out.stdout);
  t.equal(out.json?.code, 8, 'code 8 (invalid netns)');
  t.match(out.json?.msg, `invalid CNI_NETNS ${JSON.stringify(own)}`, 'names CNI_NETNS and its value');
  t.equal(out.stdout.trim().split('\n').length, 1, 'one JSON line on stdout, no stack');
};

t.test(
  "CNI_NETNS = the plugin's own netns: code 8 on ADD, DEL and CHECK, nothing changed",
  { skip: needsRoot },
  async (t) => {
    const lab = await makeBridgeLab(t);
    const own = `/var/run/netns/${lab.host}`;
    addVictim(lab.host);
    const conf = lab.config();

    // ADD with a fresh CNI_IFNAME would otherwise make the veth pair and address it in the host.
    const before = links(lab.host);
    refused(t, await lab.exec('ADD', conf, { CNI_NETNS: own }), own);
    t.same(links(lab.host), before, 'ADD: no bridge, no veth in the host');
    t.ok(await addressFree(lab, '169.254.172.2'), 'ADD: nothing allocated');

    // A real attachment, so a refused DEL has something it could release.
    const add = await lab.exec('ADD', conf);
    t.equal(add.exitCode, 0, add.stdout);
    const address = add.json!.ips[0].address.split('/')[0];
    const attached = links(lab.host);
    const prevResult = { ...add.json, interfaces: [{ name: 'victim0', sandbox: own }] };
    refused(t, await lab.exec('DEL', conf, { CNI_NETNS: own, CNI_IFNAME: 'victim0' }), own);
    // The same netns by another path (a process inside it, as a runtime would pass it).
    const byPid = await netnsHolder(t, lab.host);
    refused(t, await lab.exec('DEL', conf, { CNI_NETNS: byPid, CNI_IFNAME: 'victim0' }), byPid);
    refused(t, await lab.exec('CHECK', { ...conf, prevResult }, { CNI_NETNS: own, CNI_IFNAME: 'victim0' }), own);
    t.same(links(lab.host), attached, "DEL: victim0 and the attachment's host veth kept");
    t.notOk(await addressFree(lab, address), 'DEL: the address was not released');
    t.same(links(lab.task), ['ecs-eth0', 'lo'], 'the task keeps its interface');

    t.equal((await lab.exec('DEL', conf)).exitCode, 0, 'a DEL with the task netns still works');
    t.same(links(lab.host), before.concat('ecs-br-test').sort(), 'only the bridge stays');
  },
);

// The in-process plugin (the agent's lab) has a named "host" netns: the same refusal.
t.test('in-process with a named host netns: the same refusal', { skip: needsRoot }, async (t) => {
  const lab = await makeBridgeLab(t);
  const own = `/var/run/netns/${lab.host}`;
  addVictim(lab.host);
  refused(t, await lab.call('DEL', lab.config(), { CNI_NETNS: own, CNI_IFNAME: 'victim0' }), own);
  t.ok(links(lab.host).includes('victim0'), 'victim0 kept');
});

// Control: DEL does delete a veth named CNI_IFNAME in CNI_NETNS when no veth of ours is found
// (one made by another plugin version), so only the refusal keeps the host's victim0 above.
t.test(
  "control: the same DEL with CNI_NETNS = a task netns deletes that netns's veth",
  { skip: needsRoot },
  async (t) => {
    const lab = await makeBridgeLab(t);
    addVictim(lab.host);
    addVictim(lab.task);
    const del = await lab.exec('DEL', lab.config(), { CNI_IFNAME: 'victim0' });
    t.equal(del.exitCode, 0, del.stdout);
    t.same(links(lab.task), ['lo'], "the task's victim0 (and its peer) deleted");
    t.ok(links(lab.host).includes('victim0'), "the host's victim0 untouched");
  },
);
