import t from 'tap';
import { ipCalls, readSysctl, writeSysctl } from '../../src/netlink/index.js';
import { needsRoot, netnsHolder, withNetns } from '../helpers/netns.js';

t.test('sysctls are per netns', { skip: needsRoot }, async (t) => {
  const ns = await withNetns(t);
  const hostBefore = await readSysctl('net.ipv4.ip_forward');
  t.equal(await readSysctl('net.ipv4.ip_forward', ns), '0', 'a new netns starts with forwarding off');
  await writeSysctl('net.ipv4.ip_forward', 1, ns);
  t.equal(await readSysctl('net.ipv4.ip_forward', ns), '1');
  t.equal(await readSysctl('net.ipv4.ip_forward'), hostBefore, "this process's netns is untouched");

  await writeSysctl('net/ipv4/conf/lo/rp_filter', '2', ns);
  t.equal(await readSysctl('net.ipv4.conf.lo.rp_filter', ns), '2', 'slashed and dotted keys');
  await writeSysctl('net.ipv4.ip_local_port_range', '40000 50000', ns);
  t.match(await readSysctl('net.ipv4.ip_local_port_range', ns), /^40000\s+50000$/, 'a value with a space');
  const holder = await netnsHolder(t, ns);
  t.equal(await readSysctl('net.ipv4.ip_forward', holder), '1', 'by /proc/PID/ns/net');

  await t.rejects(readSysctl('net.ipv4.nope', ns), { name: 'IpError', kind: 'not-found' });
  await t.rejects(readSysctl('net.ipv4.nope'), { name: 'IpError', kind: 'not-found' });
  await t.rejects(writeSysctl('net.ipv4.ip_forward', 'abc', ns), { name: 'IpError', kind: 'invalid' });
});

t.test('bad keys and values are refused before running', async (t) => {
  const before = ipCalls();
  await t.rejects(readSysctl('../../etc/shadow', 'tn-never'), { name: 'IpError', kind: 'invalid' });
  await t.rejects(readSysctl('net.ipv4.ip_forward -w x=1', 'tn-never'), { name: 'IpError', kind: 'invalid' });
  await t.rejects(writeSysctl('net.ipv4.ip_forward', '1\nnet.ipv4.x=1', 'tn-never'), {
    name: 'IpError',
    kind: 'invalid',
  });
  await t.rejects(writeSysctl('net.ipv4.ip_forward=0 x', '1', 'tn-never'), { name: 'IpError', kind: 'invalid' });
  t.equal(ipCalls(), before, 'nothing spawned');
});
