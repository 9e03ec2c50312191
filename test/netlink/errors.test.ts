// stderr -> kind, with the texts seen from iproute2 6.1, util-linux 2.38 and procps on kernel 6.18.
import t from 'tap';
import { batchFailed } from '../../src/netlink/batch.js';
import { classifyStderr, commandFailed, IpError, isExists, isNoNetns, isNotFound } from '../../src/netlink/errors.js';

const TABLE: Array<[string, string, string]> = [
  // [what was done, stderr, kind]
  ['link add of an existing name', 'RTNETLINK answers: File exists', 'exists'],
  ['route add of an existing route', 'RTNETLINK answers: File exists', 'exists'],
  ['addr add of an assigned v4 address', 'Error: ipv4: Address already assigned.', 'exists'],
  ['addr add of an assigned v6 address', 'Error: ipv6: address already assigned.', 'exists'],
  ['netns add of an existing name', 'Cannot create namespace file "/run/netns/x": File exists', 'exists'],
  [
    'link set netns T name Y, both names taken in T',
    "Error: Unable to use 'Y' for the new interface name in the target netns.",
    'exists',
  ],
  ['link del / link set of a missing link', 'Cannot find device "nope"', 'not-found'],
  ['link show / addr show / addr flush of a missing link', 'Device "nope" does not exist.', 'not-found'],
  ['link set master of a missing bridge', 'Error: argument "nope" is wrong: Device does not exist\n', 'not-found'],
  ['route del of a missing route (v4 and v6)', 'RTNETLINK answers: No such process', 'not-found'],
  ['addr del of a missing v4 address', 'Error: ipv4: Address not found.', 'not-found'],
  ['addr del of a missing v6 address', 'Error: ipv6: address not found.', 'not-found'],
  ['addr del of a missing address (older kernels)', 'RTNETLINK answers: Cannot assign requested address', 'not-found'],
  ['sysctl of a missing key', 'sysctl: cannot stat /proc/sys/net/ipv4/nope: No such file or directory', 'not-found'],
  ['macvlan on a bridge port', 'RTNETLINK answers: Device or resource busy', 'busy'],
  ['link add as non-root', 'RTNETLINK answers: Operation not permitted', 'permission'],
  ['ip -n as non-root', 'setting the network namespace "x" failed: Operation not permitted', 'permission'],
  ['nsenter as non-root', "nsenter: reassociate to namespace 'ns/net' failed: Operation not permitted", 'permission'],
  ['netns add as non-root', 'mount --make-shared /run/netns failed: Operation not permitted', 'permission'],
  ['ip -n of a missing netns', 'Cannot open network namespace "nope": No such file or directory', 'no-netns'],
  ['nsenter of a missing path', 'nsenter: cannot open /x: No such file or directory', 'no-netns'],
  ['nsenter of a regular file', "nsenter: reassociate to namespace 'ns/net' failed: Invalid argument", 'no-netns'],
  ['link set netns of a missing netns', 'Error: argument "nope" is wrong: Invalid "netns" value\n', 'no-netns'],
  [
    'netns del of a missing netns',
    'Cannot remove namespace file "/run/netns/x": No such file or directory',
    'no-netns',
  ],
  ['route via an unreachable gateway', 'Error: Nexthop has invalid gateway.', 'invalid'],
  ['addr add of a bad prefix', 'Error: any valid prefix is expected rather than "10.0.0.300/24".', 'invalid'],
  ['mtu above the device maximum', 'Error: mtu greater than device maximum.', 'invalid'],
  ['bad lladdr', '"zz" is invalid lladdr.', 'invalid'],
  ['16-byte name', 'Error: Attribute failed policy validation.', 'invalid'],
  ['bridge as its own master', 'RTNETLINK answers: Invalid argument', 'invalid'],
  ['sysctl write of a bad value', 'sysctl: setting key "net.ipv4.ip_forward": Invalid argument', 'invalid'],
  ['link del lo', 'RTNETLINK answers: Operation not supported', 'unknown'],
  ['nsenter without the program', 'nsenter: failed to execute ip: No such file or directory', 'unknown'],
];

t.test('stderr texts map to kinds', async (t) => {
  for (const [what, stderr, kind] of TABLE) t.equal(classifyStderr(stderr), kind, `${what}: ${stderr.trim()}`);
});

t.test('a failed command names itself and the first stderr line', async (t) => {
  const e = commandFailed(['ip', '-n', 'x', 'link', 'del', 'dev', 'a'], '\nCannot find device "a"\nmore\n', 1);
  t.equal(e.message, 'ip -n x link del dev a failed: Cannot find device "a"');
  t.equal(e.kind, 'not-found');
  t.equal(e.exitCode, 1);
  t.same(e.argv, ['ip', '-n', 'x', 'link', 'del', 'dev', 'a']);
  t.ok(e instanceof Error && e.name === 'IpError');
});

t.test('idempotency helpers', async (t) => {
  const of = (kind: IpError['kind']) => new IpError(kind, 'x');
  t.ok(isNotFound(of('not-found')));
  t.ok(isNotFound(of('no-netns')), 'a DEL treats a gone netns as done');
  t.notOk(isNotFound(of('exists')));
  t.notOk(isNotFound(new Error('Cannot find device')), 'plain errors are not matched by text');
  t.ok(isExists(of('exists')));
  t.notOk(isExists(of('busy')));
  t.ok(isNoNetns(of('no-netns')));
  t.notOk(isNoNetns(of('not-found')));
});

t.test('batch stderr: the "Command failed -:N" marker names the command', async (t) => {
  const lines = ['link add name a type bridge', 'link add name a type bridge', 'link add name b type bridge'];
  const e = batchFailed(['ip', '-batch', '-'], lines, 'RTNETLINK answers: File exists\nCommand failed -:2\n', 1);
  t.equal(e.kind, 'exists');
  t.equal(e.batchIndex, 1);
  t.equal(e.batchCommand, 'link add name a type bridge');
  t.equal(
    e.message,
    'ip -batch - failed at command 2 of 3 (link add name a type bridge): RTNETLINK answers: File exists',
  );
});

t.test('batch stderr: an earlier warning is not taken for the failure', async (t) => {
  const e = batchFailed(['ip'], ['a', 'b'], 'Warning: something\nCannot find device "x"\nCommand failed -:2\n', 1);
  t.equal(e.kind, 'not-found');
  t.equal(e.batchIndex, 1);
});

t.test('batch stderr without a marker: named only when one command holds the quoted token', async (t) => {
  const lines = ['link add name br0 type bridge', 'link set dev v0 master nope', 'link set dev v0 up'];
  const stderr = 'Error: argument "nope" is wrong: Device does not exist\n\n';
  const e = batchFailed(['ip'], lines, stderr, 255);
  t.equal(e.kind, 'not-found');
  t.equal(e.batchIndex, 1);
  const ambiguous = batchFailed(['ip'], [...lines, 'link set dev v1 master nope'], stderr, 255);
  t.equal(ambiguous.batchIndex, undefined);
  t.notMatch(ambiguous.message, /at command/);
});
