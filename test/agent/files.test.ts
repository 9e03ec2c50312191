// Everything tasknet writes is private to root: dirs 0700, files (records, leases, cached results,
// logs, the control socket) 0600, owned by root (the test runs as root, as tasknet does). Run with umask 000, so a mode that relied on
// the caller's umask would show up as group/world bits here.
import { spawnSync } from 'node:child_process';
import { existsSync, lstatSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import t from 'tap';
import { logger } from '../../src/cni/log.js';
import { ensurePrivateDir } from '../../src/agent/state/files.js';
import { PROCESS_DEMO, makeLab, needsRoot, ROOT } from './harness.js';

process.umask(0o000);

interface Entry {
  path: string;
  kind: 'dir' | 'file' | 'socket' | 'other';
  mode: string;
  uid: number;
  gid: number;
}

const walk = (root: string, skip: (rel: string) => boolean = () => false): Entry[] => {
  const out: Entry[] = [];
  const visit = (path: string): void => {
    const rel = relative(root, path) || '.';
    if (skip(rel)) return;
    const st = lstatSync(path);
    const kind = st.isDirectory() ? 'dir' : st.isFile() ? 'file' : st.isSocket() ? 'socket' : 'other';
    out.push({ path: rel, kind, mode: (st.mode & 0o7777).toString(8), uid: st.uid, gid: st.gid });
    if (kind === 'dir') for (const name of readdirSync(path)) visit(join(path, name));
  };
  visit(root);
  return out;
};

// Every entry that is not private to root, as "path kind mode uid:gid".
const notPrivate = (entries: Entry[]): string[] =>
  entries
    .filter((e) => e.uid !== 0 || e.gid !== 0 || e.kind === 'other' || e.mode !== (e.kind === 'dir' ? '700' : '600'))
    .map((e) => `${e.path} ${e.kind} ${e.mode} ${e.uid}:${e.gid}`);

t.test("the agent's state dir, running a task and after it", { skip: needsRoot }, async (t) => {
  const lab = await makeLab(t, { enis: 1 });
  const task = await lab.run(join(PROCESS_DEMO, 'task.json'));
  // The test's own task definition files live there too (writeTaskdef); they are not tasknet's.
  const entries = walk(lab.stateDir, (rel) => rel.startsWith('taskdef-'));
  const kinds = (dir: string) => entries.filter((e) => e.path.startsWith(dir) && e.kind !== 'dir').length;
  t.ok(
    kinds(`tasks/${task.id}`) > 0 && kinds('ipam/') > 0 && kinds('cni/') > 0 && kinds(`logs/${task.id}`) > 0,
    `the walk saw records, leases, cached results and logs (${entries.length} entries)`,
  );
  t.ok(
    entries.some((e) => e.kind === 'socket'),
    'and the control socket',
  );
  t.same(notPrivate(entries), [], 'every dir 0700, every file and socket 0600, all root:root');
  t.equal((await lab.tn(['stop', task.id])).code, 0);
  t.same(notPrivate(walk(lab.stateDir, (rel) => rel.startsWith('taskdef-'))), [], 'and after the task stopped');
});

t.test("ecs-ipam's store, exec'd with umask 000", { skip: needsRoot }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tasknet-files-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const dataDir = join(dir, 'store', 'deeper');
  const config = JSON.stringify({
    cniVersion: '1.1.0',
    name: 'files',
    type: 'ecs-ipam',
    ipam: { type: 'ecs-ipam', id: 'files-1', 'ipv4-subnet': '169.254.172.0/22', dataDir },
  });
  const env = {
    PATH: process.env.PATH,
    CNI_COMMAND: 'ADD',
    CNI_CONTAINERID: 'files-1',
    CNI_NETNS: '/proc/self/ns/net',
    CNI_IFNAME: 'eth0',
    CNI_PATH: join(ROOT, 'bin'),
  };
  // ecs-ipam never enters CNI_NETNS, but it must be a netns: this process's own is read, never changed.
  const add = spawnSync(join(ROOT, 'bin/ecs-ipam'), { input: config, env, encoding: 'utf8' });
  t.equal(add.status, 0, add.stdout);
  const entries = walk(dir);
  t.ok(
    entries.filter((e) => e.path.startsWith('store/deeper/') && e.kind === 'file').length >= 2,
    'the store holds a lease and its index',
  );
  // The parents of dataDir were made by ecs-ipam too; `dir` itself is mkdtemp's (0700).
  t.same(notPrivate(entries), [], 'every dir 0700, every file 0600, all root:root');
  const del = spawnSync(join(ROOT, 'bin/ecs-ipam'), {
    input: config,
    env: { ...env, CNI_COMMAND: 'DEL' },
    encoding: 'utf8',
  });
  t.equal(del.status, 0, del.stdout);
  t.same(notPrivate(walk(dir)), [], 'and after DEL');
});

t.test("the plugins' log file (ECS_CNI_LOG_FILE)", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tasknet-files-'));
  t.teardown(() => {
    rmSync(dir, { recursive: true, force: true });
    delete process.env.ECS_CNI_LOG_FILE;
  });
  process.env.ECS_CNI_LOG_FILE = join(dir, 'plugin.log');
  logger.warn('files test');
  t.same(
    walk(dir)
      .filter((e) => e.kind === 'file')
      .map((e) => `${e.path} ${e.mode}`),
    ['plugin.log 600'],
  );
});

// Another user's state dir (or a parent others may rename things in) is refused before the agent
// uses it: that user could swap agent.sock and answer root's `tasknet ls`.
t.test("a state dir that is not root's own is refused", { skip: needsRoot }, async (t) => {
  const { chownSync, chmodSync, mkdirSync } = await import('node:fs');
  const { tasknet } = await import('./harness.js');
  const base = mkdtempSync(join(tmpdir(), 'tasknet-owner-'));
  t.teardown(() => rmSync(base, { recursive: true, force: true }));
  const foreign = join(base, 'foreign');
  mkdirSync(foreign, { mode: 0o700 });
  chownSync(foreign, 1000, 1000);
  const r = await tasknet(['agent', '--state-dir', foreign]);
  t.equal(r.code, 1);
  t.equal(
    r.stderr,
    `tasknet agent: refusing to use ${foreign}: it is owned by uid 1000, not by uid 0 (remove it, or give another --state-dir)\n`,
  );
  t.same(readdirSync(foreign), [], 'nothing was written into it');

  const open = join(base, 'open');
  mkdirSync(open);
  chmodSync(open, 0o777);
  const r2 = await tasknet(['agent', '--state-dir', join(open, 'state')]);
  t.equal(r2.code, 1);
  t.equal(
    r2.stderr,
    `tasknet agent: refusing to use ${join(open, 'state')}: others can write to its parent ${open} (mode 777)\n`,
  );
  t.notOk(existsSync(join(open, 'state')), 'nothing was made under it');
  chmodSync(open, 0o1777);
  await t.resolves(
    ensurePrivateDir(join(open, 'state')),
    'control: under a sticky parent (like /tmp) the same dir is used',
  );
  t.equal((lstatSync(join(open, 'state')).mode & 0o7777).toString(8), '700');
});
