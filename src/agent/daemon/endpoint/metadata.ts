// Task metadata endpoint v4 documents (the shape of the ECS docs' "Task metadata v4 JSON
// response"), built from a task record. Fields tasknet cannot know (image digests, pull times,
// stats) are left out rather than made up.
import type { ContainerRecord, TaskRecord } from '../../task/record.js';

export interface ClusterIdentity {
  cluster: string;
  region: string;
  availabilityZone: string;
}

const network = (task: TaskRecord): Record<string, unknown> => {
  const v4 = task.eni.addresses.map((a, i) => ({ a, subnet: task.eni.subnets[i]! })).filter((x) => !x.a.includes(':'));
  const v6 = task.eni.addresses.map((a, i) => ({ a, subnet: task.eni.subnets[i]! })).filter((x) => x.a.includes(':'));
  const gw4 = task.eni.gateways.find((g) => !g.includes(':'));
  const gw6 = task.eni.gateways.find((g) => g.includes(':'));
  const out: Record<string, unknown> = { NetworkMode: 'awsvpc', AttachmentIndex: 0, MACAddress: task.eni.mac };
  if (v4.length > 0) {
    out.IPv4Addresses = v4.map((x) => x.a.split('/')[0]);
    out.IPv4SubnetCIDRBlock = v4[0]!.subnet;
  }
  if (v6.length > 0) {
    out.IPv6Addresses = v6.map((x) => x.a.split('/')[0]);
    out.IPv6SubnetCIDRBlock = v6[0]!.subnet;
  }
  if (task.eni.privateDnsName) out.PrivateDNSName = task.eni.privateDnsName;
  // ECS writes the gateway with the subnet's prefix length: "10.0.2.1/24".
  if (gw4 && v4.length > 0) out.SubnetGatewayIpv4Address = `${gw4}/${v4[0]!.subnet.split('/')[1]}`;
  if (gw6 && v6.length > 0) out.SubnetGatewayIpv6Address = `${gw6}/${v6[0]!.subnet.split('/')[1]}`;
  return out;
};

const knownStatus = (task: TaskRecord, c?: ContainerRecord): string => {
  if (c) return c.status === 'PENDING' ? 'PENDING' : c.status;
  return task.status === 'PROVISIONING' ? 'PENDING' : task.status === 'STOPPING' ? 'RUNNING' : task.status;
};

export const containerMetadata = (
  id: ClusterIdentity,
  task: TaskRecord,
  c: ContainerRecord,
): Record<string, unknown> => {
  const def = task.definition.containers.find((d) => d.name === c.name)!;
  const ip = task.eni.addresses[0]!.split('/')[0];
  return {
    DockerId: c.engineId ?? c.runtimeId,
    Name: c.name,
    // The engine's name for it (engine-runtime.ts); the process runtime names nothing, ECS's form.
    DockerName:
      task.runtime === 'engine'
        ? `tasknet-${task.id}-${c.name}`
        : `ecs-${task.definition.family}-${task.definition.revision}-${c.name}-${task.id.slice(0, 12)}`,
    Image: def.image,
    ImageID: '',
    Labels: {
      'com.amazonaws.ecs.cluster': id.cluster,
      'com.amazonaws.ecs.container-name': c.name,
      'com.amazonaws.ecs.task-arn': task.arn,
      'com.amazonaws.ecs.task-definition-family': task.definition.family,
      'com.amazonaws.ecs.task-definition-version': String(task.definition.revision),
    },
    DesiredStatus: task.status === 'RUNNING' || task.status === 'PROVISIONING' ? 'RUNNING' : 'STOPPED',
    KnownStatus: knownStatus(task, c),
    Limits: { CPU: def.cpu ?? 0, Memory: def.memory ?? def.memoryReservation ?? 0 },
    CreatedAt: task.createdAt,
    ...(c.startedAt ? { StartedAt: c.startedAt } : {}),
    ...(c.finishedAt ? { FinishedAt: c.finishedAt } : {}),
    ...(typeof c.exitCode === 'number' ? { ExitCode: c.exitCode } : {}),
    Type: 'NORMAL',
    ContainerARN: `arn:aws:ecs:${id.region}:${accountOf(task)}:container/${id.cluster}/${task.id}/${c.runtimeId.slice(0, 36)}`,
    LogDriver: task.runtime === 'engine' ? 'json-file' : 'tasknet-file',
    ...(c.health ? { Health: { status: c.health.toUpperCase() } } : {}),
    Networks: [network(task)],
    ...(def.portMappings.length > 0
      ? {
          Ports: def.portMappings.map((p) => ({
            ContainerPort: p.containerPort,
            Protocol: p.protocol,
            HostPort: p.hostPort,
            HostIp: ip,
          })),
        }
      : {}),
  };
};

export const taskMetadata = (id: ClusterIdentity, task: TaskRecord): Record<string, unknown> => ({
  Cluster: id.cluster,
  TaskARN: task.arn,
  Family: task.definition.family,
  Revision: String(task.definition.revision),
  DesiredStatus: task.status === 'RUNNING' || task.status === 'PROVISIONING' ? 'RUNNING' : 'STOPPED',
  KnownStatus: knownStatus(task),
  ...(task.definition.cpu !== undefined || task.definition.memory !== undefined
    ? {
        Limits: {
          ...(task.definition.cpu !== undefined ? { CPU: task.definition.cpu / 1024 } : {}),
          ...(task.definition.memory !== undefined ? { Memory: task.definition.memory } : {}),
        },
      }
    : {}),
  ...(task.startedAt ? { PullStartedAt: task.createdAt, PullStoppedAt: task.createdAt } : {}),
  AvailabilityZone: id.availabilityZone,
  LaunchType: 'EC2',
  Containers: task.containers.map((c) => containerMetadata(id, task, c)),
  ...(task.startedAt ? { TaskStartedAt: task.startedAt } : {}),
});

// The account of the task ARN: the task role's, or a placeholder when the task has no role.
export const accountOf = (task: Pick<TaskRecord, 'definition'>): string =>
  /^arn:aws[a-z-]*:iam::(\d{12}):/.exec(task.definition.taskRoleArn ?? '')?.[1] ?? '000000000000';
