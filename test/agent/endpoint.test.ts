// The credentials and metadata endpoint without namespaces: a server on 127.0.0.1, tasks whose
// "bridge address" is (or is not) 127.0.0.1, so the id AND source-address rule can be checked
// from here. The lab tests check the same through real task netns.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { fileProvider, labProvider } from '../../src/agent/daemon/endpoint/credentials.js';
import { createEndpointServer } from '../../src/agent/daemon/endpoint/server.js';
import { lineLog } from '../../src/agent/daemon/log.js';
import { makeEniSpec } from '../../src/agent/task/eni.js';
import { parseTaskDefinition } from '../../src/agent/task/definition.js';
import type { TaskRecord } from '../../src/agent/task/record.js';

const record = (id: string, bridgeAddress: string, role = 'arn:aws:iam::111122223333:role/app'): TaskRecord => ({
  version: 1,
  id,
  arn: `arn:aws:ecs:us-east-1:111122223333:task/tasknet/${id}`,
  status: 'RUNNING',
  createdAt: '2026-01-01T00:00:00.000Z',
  startedAt: '2026-01-01T00:00:01.000Z',
  definition: parseTaskDefinition({
    family: 'app',
    cpu: '512',
    memory: '1024',
    taskRoleArn: role,
    containerDefinitions: [{ name: 'web', image: 'nginx', command: ['x'], portMappings: [{ containerPort: 80 }] }],
  }),
  baseDir: '/',
  runtime: 'engine',
  eni: makeEniSpec({
    mac: '0e:00:00:00:00:01',
    addresses: ['10.0.0.10/24'],
    gateways: ['10.0.0.1'],
    privateDnsName: 'ip-10-0-0-10.ec2.internal',
  }),
  chainMode: 'in-process',
  lists: { eni: '', bridge: '' },
  netns: `tasknet-${id}`,
  hostname: 'ip-10-0-0-10',
  attachment: { bridgeAddress, eni: { cniVersion: '1.1.0' }, bridge: { cniVersion: '1.1.0' } },
  credentialsId: `cred-${id}`,
  containers: [
    {
      name: 'web',
      runtimeId: 'r'.repeat(64),
      metadataId: `meta-${id}`,
      status: 'RUNNING',
      startedAt: '2026-01-01T00:00:01.000Z',
    },
  ],
});

const serve = async (t: Test, tasks: TaskRecord[], provider = labProvider()) => {
  const logs: string[] = [];
  const server = createEndpointServer({
    lookup: {
      byCredentialsId: (id) => tasks.find((x) => x.credentialsId === id),
      byMetadataId: (id) => {
        const task = tasks.find((x) => x.containers.some((c) => c.metadataId === id));
        return task && { task, container: task.containers.find((c) => c.metadataId === id)! };
      },
    },
    provider,
    identity: { cluster: 'tasknet', region: 'us-east-1', availabilityZone: 'us-east-1a' },
    log: lineLog((line) => logs.push(line)),
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => {
    server.close();
  });
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const get = async (path: string, method = 'GET') => {
    const res = await fetch(`${base}${path}`, { method });
    return { status: res.status, body: await res.text() };
  };
  return { get, logs };
};

t.test('credentials: id AND source address, the same refusal otherwise', async (t) => {
  const mine = record('a'.repeat(32), '127.0.0.1');
  const other = record('b'.repeat(32), '169.254.172.9', 'arn:aws:iam::111122223333:role/other');
  const { get, logs } = await serve(t, [mine, other]);
  const ok = await get(`/v2/credentials/${mine.credentialsId}`);
  t.equal(ok.status, 200);
  const creds = JSON.parse(ok.body);
  t.same(Object.keys(creds), ['RoleArn', 'AccessKeyId', 'SecretAccessKey', 'Token', 'Expiration']);
  t.equal(creds.RoleArn, 'arn:aws:iam::111122223333:role/app');
  t.match(creds.AccessKeyId, /^ASIA[A-Z2-7]{16}$/);
  t.match(creds.Expiration, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  t.same(JSON.parse((await get(`/v2/credentials/${mine.credentialsId}`)).body), creds, 'cached while fresh');
  const stolen = await get(`/v2/credentials/${other.credentialsId}`);
  const unknown = await get('/v2/credentials/nope');
  t.equal(stolen.status, 400);
  t.same(
    [stolen.status, stolen.body],
    [unknown.status, unknown.body],
    'a valid id from the wrong address looks like an unknown id',
  );
  t.same(JSON.parse(unknown.body), {
    code: 'InvalidIdInRequest',
    message: 'CredentialsV2Request: Credentials not found',
  });
  t.notMatch(stolen.body, /other|169\.254|b{8}/, 'nothing about the other task leaks');
  t.equal((await get(`/v2/credentials/${mine.credentialsId}/x`)).status, 404);
  t.equal((await get('/v2/credentials/../../etc/passwd')).status, 404);
  t.equal((await get(`/v2/credentials/${mine.credentialsId}`, 'POST')).status, 405);
  t.ok(
    logs.some((l) => /refused credentials request from 127\.0\.0\.1/.test(l)),
    'refusals are logged for the operator',
  );
  // A loop of refused requests is one line a minute per source, not one line each.
  const before = logs.filter((l) => /refused credentials request/.test(l)).length;
  for (let i = 0; i < 50; i++) t.equal((await get('/v2/credentials/nosuchid')).status, 400);
  t.equal(
    logs.filter((l) => /refused credentials request/.test(l)).length,
    before,
    'not logged again within the minute',
  );
});

t.test('metadata v4: container and task documents, same source rule', async (t) => {
  const mine = record('c'.repeat(32), '127.0.0.1');
  const other = record('d'.repeat(32), '169.254.172.9');
  const { get } = await serve(t, [mine, other]);
  const container = JSON.parse((await get(`/v4/meta-${mine.id}`)).body);
  t.match(container, {
    DockerId: 'r'.repeat(64),
    Name: 'web',
    Image: 'nginx',
    KnownStatus: 'RUNNING',
    DesiredStatus: 'RUNNING',
    Type: 'NORMAL',
    Labels: {
      'com.amazonaws.ecs.cluster': 'tasknet',
      'com.amazonaws.ecs.container-name': 'web',
      'com.amazonaws.ecs.task-arn': mine.arn,
    },
    Networks: [
      {
        NetworkMode: 'awsvpc',
        IPv4Addresses: ['10.0.0.10'],
        MACAddress: '0e:00:00:00:00:01',
        IPv4SubnetCIDRBlock: '10.0.0.0/24',
        PrivateDNSName: 'ip-10-0-0-10.ec2.internal',
        SubnetGatewayIpv4Address: '10.0.0.1/24',
      },
    ],
    Ports: [{ ContainerPort: 80, Protocol: 'tcp', HostPort: 80, HostIp: '10.0.0.10' }],
  });
  const task = JSON.parse((await get(`/v4/meta-${mine.id}/task`)).body);
  t.match(task, {
    Cluster: 'tasknet',
    TaskARN: mine.arn,
    Family: 'app',
    Revision: '1',
    KnownStatus: 'RUNNING',
    Limits: { CPU: 0.5, Memory: 1024 },
    AvailabilityZone: 'us-east-1a',
  });
  t.equal(task.Containers.length, 1);
  t.equal((await get(`/v4/meta-${other.id}`)).status, 404, "another task's metadata id: 404");
  t.equal((await get(`/v4/meta-${other.id}/task`)).status, 404);
  t.equal((await get('/v4/nope/stats')).status, 404);
  t.equal((await get('/')).status, 404);
});

t.test('the credentials file provider', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tasknet-creds-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'credentials.json');
  const role = 'arn:aws:iam::111122223333:role/app';
  writeFileSync(
    file,
    JSON.stringify({
      [role]: {
        AccessKeyId: 'AKIAEXAMPLE',
        SecretAccessKey: 'secret',
        Token: 'tok',
        Expiration: '2030-01-01T00:00:00Z',
      },
    }),
  );
  const provider = fileProvider(file);
  t.same(await provider.credentials(role, 'task'), {
    RoleArn: role,
    AccessKeyId: 'AKIAEXAMPLE',
    SecretAccessKey: 'secret',
    Token: 'tok',
    Expiration: '2030-01-01T00:00:00Z',
  });
  await t.rejects(
    provider.credentials('arn:aws:iam::111122223333:role/none', 'task'),
    /has no entry for arn:aws:iam::111122223333:role\/none/,
  );
  const mine = record('e'.repeat(32), '127.0.0.1', 'arn:aws:iam::111122223333:role/none');
  const { get, logs } = await serve(t, [mine], provider);
  const r = await get(`/v2/credentials/${mine.credentialsId}`);
  t.equal(r.status, 500);
  t.same(
    JSON.parse(r.body),
    { code: 'InternalServerException', message: 'CredentialsV2Request: Credentials could not be retrieved' },
    'no file path or role in the answer',
  );
  t.ok(
    logs.some((l) => l.includes('has no entry')),
    'the reason goes to the agent log',
  );
  writeFileSync(file, '{not json');
  await t.rejects(provider.credentials(role, 'task'), /cannot read credentials file/);
});

t.test('lab credentials: per task, renewed near expiry, forgotten with the task', async (t) => {
  const provider = labProvider(6 * 60_000);
  const a1 = await provider.credentials('arn:aws:iam::111122223333:role/x', 'task-a');
  const b = await provider.credentials('arn:aws:iam::111122223333:role/x', 'task-b');
  t.not(a1.AccessKeyId, b.AccessKeyId, 'two tasks with one role get different credentials');
  t.same(await provider.credentials('arn:aws:iam::111122223333:role/x', 'task-a'), a1);
  provider.forget!('task-a');
  t.not((await provider.credentials('arn:aws:iam::111122223333:role/x', 'task-a')).AccessKeyId, a1.AccessKeyId);
  const short = labProvider(4 * 60_000);
  const s1 = await short.credentials('r', 'k');
  t.not((await short.credentials('r', 'k')).AccessKeyId, s1.AccessKeyId, 'renewed when less than 5 minutes remain');
});

// TMDS v4 stats: the runtime's (the engine's Docker stats), keyed by Docker id for the task; a
// runtime without stats answers null, as ECS does for a container it has none for. Same id AND
// source rule as the rest of the metadata.
t.test('metadata v4 stats: per container and per task, same source rule', async (t) => {
  const mine = record('c'.repeat(32), '127.0.0.1');
  const other = record('d'.repeat(32), '169.254.172.9');
  const { get } = await serve(t, [mine, other]);
  const stats = await get(`/v4/${mine.containers[0]!.metadataId}/stats`);
  t.same([stats.status, stats.body], [200, 'null'], 'no stats provider: null');
  const task = await get(`/v4/${mine.containers[0]!.metadataId}/task/stats`);
  t.same([task.status, JSON.parse(task.body)], [200, { ['r'.repeat(64)]: null }], 'keyed by the Docker id');
  t.equal((await get(`/v4/${other.containers[0]!.metadataId}/stats`)).status, 404, "another task's stats: 404");
  t.equal((await get(`/v4/${other.containers[0]!.metadataId}/task/stats`)).status, 404);
});
