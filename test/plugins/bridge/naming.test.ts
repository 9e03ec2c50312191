// The host veth's name and the bridge's MAC are derived with SHA-256 (@noble/hashes, so an exec'd
// plugin need not load node:crypto). They must stay what they were with node:crypto: DEL and GC find
// the host veth of a task added by an earlier version by this name alone.
import { createHash } from 'node:crypto';
import t from 'tap';
import { attachmentKey } from '../../../src/cni/gc.js';
import { bridgeMac, hostVethName } from '../../../src/plugins/bridge/handlers.js';

const nodeSha = (text: string): Buffer => createHash('sha256').update(text).digest();

t.test('hostVethName and bridgeMac equal their node:crypto derivation', async (t) => {
  const ids = ['task-a', '', 'x'.repeat(200), 'ünïcödé-täsk', '1b3c5f0e9d2a4b6c8e0f1a2b3c4d5e6f', 'a/b:c#d'];
  const ifnames = ['ecs-eth0', 'eth1', 'é'];
  for (const id of ids) {
    for (const ifname of ifnames) {
      const expected = `veth${nodeSha(attachmentKey(id, ifname)).toString('hex').slice(0, 11)}`;
      t.equal(hostVethName(id, ifname), expected, `veth of ${JSON.stringify(id)}/${ifname}`);
    }
  }
  for (const name of ['ecs-br0', 'br', 'tasknet-bridge', 'ß']) {
    const bytes = nodeSha(`tasknet-bridge:${name}`).subarray(0, 6);
    bytes[0] = (bytes[0]! | 0x02) & 0xfe;
    t.equal(bridgeMac(name), [...bytes].map((b) => b.toString(16).padStart(2, '0')).join(':'), `MAC of ${name}`);
  }
  // Fixed vectors, so a change of both sides at once is caught too.
  t.equal(hostVethName('task-a', 'ecs-eth0'), 'vethafa8d7df4d9');
  t.equal(bridgeMac('ecs-br0'), 'e2:91:b9:d8:e7:32');
});
