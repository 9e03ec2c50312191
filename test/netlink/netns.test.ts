import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import {
  createNetns,
  deleteNetns,
  execInNetns,
  isNetnsFile,
  isNotFound,
  listNetns,
  netnsExists,
} from '../../src/netlink/index.js';
import { needsRoot, netnsHolder, netnsName, withNetns } from '../helpers/netns.js';

t.test('isNetnsFile tells nsfs files from everything else', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'tn-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'net');
  await writeFile(file, '');
  t.equal(await isNetnsFile('/proc/self/ns/net'), true, '/proc/self/ns/net');
  t.equal(await isNetnsFile(`/proc/${process.pid}/ns/net`), true, '/proc/PID/ns/net');
  t.equal(await isNetnsFile(file), false, 'a regular file');
  t.equal(await isNetnsFile(dir), false, 'a directory');
  t.equal(await isNetnsFile(join(dir, 'missing')), false, 'a missing path');
  t.equal(await isNetnsFile('/proc/999999999/ns/net'), false, 'a gone process');
});

t.test('create, find, list and delete a named netns', { skip: needsRoot }, async (t) => {
  const name = netnsName();
  t.teardown(() => deleteNetns(name).catch(() => undefined));
  t.equal(await netnsExists(name), false);
  await createNetns(name);
  t.equal(await netnsExists(name), true);
  t.equal(await isNetnsFile(`/var/run/netns/${name}`), true);
  t.ok((await listNetns()).includes(name));
  await t.rejects(createNetns(name), { name: 'IpError', kind: 'exists' });
  await deleteNetns(name);
  t.equal(await netnsExists(name), false);
  t.notOk((await listNetns()).includes(name));
  const gone = await deleteNetns(name).catch((e: unknown) => e);
  t.match(gone, { kind: 'no-netns' });
  t.ok(isNotFound(gone), 'deleting a gone netns is a not-found for DEL');
});

t.test('execInNetns by name and by path', { skip: needsRoot }, async (t) => {
  const ns = await withNetns(t);
  const byName = await execInNetns(ns, 'ip', ['-o', 'link', 'show']);
  t.equal(byName.exitCode, 0);
  t.match(byName.stdout, /^1: lo:/);
  t.equal(byName.stdout.trim().split('\n').length, 1, 'only lo: we are inside the new netns');
  const holder = await netnsHolder(t, ns);
  for (const ref of [holder, `/var/run/netns/${ns}`]) {
    t.equal((await execInNetns(ref, 'ip', ['-o', 'link', 'show'])).stdout, byName.stdout, ref);
  }
  t.equal((await execInNetns(ns, 'cat', [], { input: 'hello' })).stdout, 'hello', 'stdin');
  t.match(await execInNetns(ns, 'sh', ['-c', 'echo oops >&2; exit 3']), { exitCode: 3, stderr: 'oops' });
  t.match(await execInNetns(ns, 'sleep', ['5'], { timeout: 200 }), { timedOut: true });
  await t.rejects(execInNetns(netnsName(), 'true'), { name: 'IpError', kind: 'no-netns' });
  await t.rejects(execInNetns('/nonexistent/net', 'true'), { name: 'IpError', kind: 'no-netns' });
  t.equal((await execInNetns(undefined, 'true')).exitCode, 0, 'undefined runs here, no nsenter');
});
