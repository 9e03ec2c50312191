// ECS task definitions (RegisterTaskDefinition's shape), validated the way the ECS API would
// validate an awsvpc task before tasknet runs anything. Messages name the field as a dotted path
// and its value, like the CNI config errors (src/cni/schema.ts), e.g.
//   invalid containerDefinitions.1.portMappings.0.hostPort 8080: must be absent or equal containerPort 80 in awsvpc mode
import * as z from 'zod/mini';
import { CniError, showValue } from '../cni/errors.js';
import { parseConfig } from '../cni/schema.js';

export class TaskDefinitionError extends Error {
  override readonly name = 'TaskDefinitionError';
}

const invalid = (field: string, value: unknown, why: string): TaskDefinitionError =>
  new TaskDefinitionError(`invalid ${field}${value === undefined ? '' : ` ${showValue(value)}`}: ${why}`);

// ECS: "Up to 255 letters (uppercase and lowercase), numbers, underscores, and hyphens".
const NAME = /^[a-zA-Z0-9_-]{1,255}$/;
// Refinements rather than z.regex/z.maxLength: parseConfig words those kinds itself, and a
// refinement's own message says what the ECS API would.
const matching = (re: RegExp, message: string) => z.string().check(z.refine((s) => re.test(s), message));
const nameString = matching(NAME, 'must be 1-255 letters, digits, "_" or "-"');
const port = z.number().check(z.int(), z.refine((n) => n >= 1 && n <= 65535, 'must be a port number (1-65535)'));
const nonNegativeInt = z.number().check(z.int(), z.nonnegative());
const argv = z.array(z.string().check(z.refine((s) => !s.includes('\0'), 'must not contain NUL')));

const keyValue = z.strictObject({
  name: matching(/^[^=\0]+$/, 'must be a non-empty variable name without "="'),
  value: z.string().check(z.refine((s) => !s.includes('\0'), 'must not contain NUL')),
});

const portMapping = z.strictObject({
  containerPort: port,
  hostPort: z.optional(port),
  protocol: z.optional(z.enum(['tcp', 'udp'])),
  name: z.optional(z.string()),
  appProtocol: z.optional(z.enum(['http', 'http2', 'grpc'])),
  containerPortRange: z.optional(z.string()),
});

const dependency = z.strictObject({
  containerName: z.string(),
  condition: z.enum(['START', 'COMPLETE', 'SUCCESS', 'HEALTHY']),
});

// Fields of ECS's ContainerDefinition that tasknet records but does not act on (no images, no
// volumes, no cgroup limits yet). Anything else is a typo and refused, as the ECS API refuses it.
const RECORDED_CONTAINER_FIELDS = [
  'repositoryCredentials', 'links', 'restartPolicy', 'environmentFiles', 'mountPoints', 'volumesFrom',
  'linuxParameters', 'secrets', 'startTimeout', 'versionConsistency', 'hostname', 'user',
  'disableNetworking', 'privileged', 'readonlyRootFilesystem', 'dnsServers', 'dnsSearchDomains',
  'extraHosts', 'dockerSecurityOptions', 'interactive', 'pseudoTerminal', 'dockerLabels', 'ulimits',
  'logConfiguration', 'healthCheck', 'systemControls', 'resourceRequirements', 'firelensConfiguration',
  'credentialSpecs',
] as const;

const recordedFields = Object.fromEntries(RECORDED_CONTAINER_FIELDS.map((k) => [k, z.optional(z.unknown())])) as
  Record<(typeof RECORDED_CONTAINER_FIELDS)[number], z.ZodMiniOptional<z.ZodMiniUnknown>>;

const containerDefinition = z.strictObject({
  name: nameString,
  image: z.string().check(z.minLength(1)),
  command: z.optional(argv),
  entryPoint: z.optional(argv),
  environment: z.optional(z.array(keyValue)),
  essential: z.optional(z.boolean()),
  portMappings: z.optional(z.array(portMapping)),
  dependsOn: z.optional(z.array(dependency)),
  cpu: z.optional(nonNegativeInt),
  memory: z.optional(z.number().check(z.int(), z.gte(6))),
  memoryReservation: z.optional(z.number().check(z.int(), z.gte(4))),
  workingDirectory: z.optional(z.string()),
  // ECS caps the stop timeout at 120 s.
  stopTimeout: z.optional(z.number().check(z.int(), z.refine((n) => n >= 0 && n <= 120, 'must be 0-120 (seconds)'))),
  ...recordedFields,
});

const sizeField = z.optional(z.union([z.string(), z.number()]));

// Top level: unknown keys pass, because `aws ecs describe-task-definition` output carries
// registry fields (taskDefinitionArn, revision, status, ...) that users paste along.
const taskDefinitionSchema = z.looseObject({
  family: nameString,
  networkMode: z.optional(z.string()),
  cpu: sizeField,
  memory: sizeField,
  taskRoleArn: z.optional(z.string()),
  executionRoleArn: z.optional(z.string()),
  revision: z.optional(nonNegativeInt),
  containerDefinitions: z.array(containerDefinition).check(
    z.minLength(1),
    z.refine((a) => a.length <= 10, 'must have at most 10 containers (the ECS limit)'),
  ),
});

type RawDefinition = z.infer<typeof taskDefinitionSchema>;
type RawContainer = z.infer<typeof containerDefinition>;

export interface PortMapping {
  containerPort: number;
  hostPort: number;
  protocol: 'tcp' | 'udp';
}

export interface ContainerDefinition {
  name: string;
  image: string;
  argv: string[]; // entryPoint + command, what runs
  environment: { name: string; value: string }[];
  essential: boolean;
  portMappings: PortMapping[];
  dependsOn: { containerName: string; condition: 'START' | 'COMPLETE' | 'SUCCESS' }[];
  cpu?: number;
  memory?: number;
  memoryReservation?: number;
  workingDirectory?: string;
  stopTimeout?: number;
}

export interface TaskDefinition {
  family: string;
  revision: number;
  networkMode: 'awsvpc';
  cpu?: number; // CPU units (1024 = 1 vCPU)
  memory?: number; // MiB
  taskRoleArn?: string;
  executionRoleArn?: string;
  containers: ContainerDefinition[];
}

const ROLE_ARN = /^arn:aws[a-z-]*:iam::\d{12}:role\/[\w+=,.@/-]{1,512}$/;

// ECS task sizes: a plain number ("256", 256) or a larger unit ("0.25 vCPU" = 256 CPU units,
// "1 GB" or "1GB" = 1024 MiB).
const parseSize = (field: 'cpu' | 'memory', value: string | number | undefined): number | undefined => {
  if (value === undefined) return undefined;
  const { unit, minimum, hint } = field === 'cpu'
    ? { unit: /^(\d+(?:\.\d+)?)\s*vcpu$/i, minimum: 128, hint: 'must be CPU units (at least 128) or "N vCPU"' }
    : { unit: /^(\d+(?:\.\d+)?)\s*gb$/i, minimum: 6, hint: 'must be MiB (at least 6) or "N GB"' };
  const text = String(value).trim();
  const scaled = unit.exec(text);
  const size = scaled ? Math.round(Number(scaled[1]) * 1024) : /^\d+$/.test(text) ? Number(text) : NaN;
  if (!Number.isInteger(size) || size < minimum) throw invalid(field, value, hint);
  return size;
};

// Parses and validates a task definition: the schema first (types, names, ranges), then the
// cross-field rules the ECS API applies to awsvpc tasks.
export const parseTaskDefinition = (input: unknown): TaskDefinition => {
  let raw: RawDefinition;
  try {
    raw = parseConfig(taskDefinitionSchema, input);
  } catch (error) {
    if (error instanceof CniError) throw new TaskDefinitionError(error.message);
    throw error;
  }
  if (raw.networkMode !== undefined && raw.networkMode !== 'awsvpc') {
    throw invalid('networkMode', raw.networkMode, 'tasknet runs awsvpc tasks only (omit it or use "awsvpc")');
  }
  for (const field of ['taskRoleArn', 'executionRoleArn'] as const) {
    const arn = raw[field];
    if (arn !== undefined && !ROLE_ARN.test(arn)) throw invalid(field, arn, 'must be an IAM role ARN (arn:aws:iam::123456789012:role/NAME)');
  }
  const cpu = parseSize('cpu', raw.cpu);
  const memory = parseSize('memory', raw.memory);
  const containers = raw.containerDefinitions.map((c, i) => checkContainer(c, `containerDefinitions.${i}`, memory));
  checkTaskRules(containers);
  return {
    family: raw.family,
    revision: raw.revision ?? 1,
    networkMode: 'awsvpc',
    ...(cpu !== undefined ? { cpu } : {}),
    ...(memory !== undefined ? { memory } : {}),
    ...(raw.taskRoleArn ? { taskRoleArn: raw.taskRoleArn } : {}),
    ...(raw.executionRoleArn ? { executionRoleArn: raw.executionRoleArn } : {}),
    containers,
  };
};

const checkContainer = (c: RawContainer, field: string, taskMemory: number | undefined): ContainerDefinition => {
  const argv = [...(c.entryPoint ?? []), ...(c.command ?? [])];
  if (argv.length === 0) {
    throw invalid(`${field}.command`, undefined, 'is required (with or without entryPoint): tasknet has no image to take a default command from');
  }
  if (c.hostname !== undefined) throw invalid(`${field}.hostname`, c.hostname, 'is not supported in awsvpc mode (the task hostname comes from its ENI)');
  if (c.links !== undefined) throw invalid(`${field}.links`, c.links, 'are not supported in awsvpc mode (containers of a task share 127.0.0.1)');
  if (c.memory === undefined && c.memoryReservation === undefined && taskMemory === undefined) {
    throw invalid(`${field}.memory`, undefined, 'memory or memoryReservation is required when the task has no memory');
  }
  if (c.memory !== undefined && c.memoryReservation !== undefined && c.memoryReservation > c.memory) {
    throw invalid(`${field}.memoryReservation`, c.memoryReservation, `must not exceed memory ${c.memory}`);
  }
  for (const key of ['memory', 'memoryReservation'] as const) {
    const value = c[key];
    if (value !== undefined && taskMemory !== undefined && value > taskMemory) {
      throw invalid(`${field}.${key}`, value, `must not exceed the task memory ${taskMemory}`);
    }
  }
  const portMappings = (c.portMappings ?? []).map((p, j) => {
    if (p.hostPort !== undefined && p.hostPort !== p.containerPort) {
      throw invalid(`${field}.portMappings.${j}.hostPort`, p.hostPort, `must be absent or equal containerPort ${p.containerPort} in awsvpc mode`);
    }
    if (p.containerPortRange !== undefined) {
      throw invalid(`${field}.portMappings.${j}.containerPortRange`, p.containerPortRange, 'is not supported in awsvpc mode');
    }
    return { containerPort: p.containerPort, hostPort: p.containerPort, protocol: p.protocol ?? 'tcp' };
  });
  const dependsOn = (c.dependsOn ?? []).map((d, j) => {
    if (d.condition === 'HEALTHY') {
      throw invalid(`${field}.dependsOn.${j}.condition`, d.condition, 'HEALTHY needs container health checks, which tasknet does not run');
    }
    return { containerName: d.containerName, condition: d.condition };
  });
  return {
    name: c.name,
    image: c.image,
    argv,
    environment: c.environment ?? [],
    essential: c.essential ?? true,
    portMappings,
    dependsOn,
    ...(c.cpu !== undefined ? { cpu: c.cpu } : {}),
    ...(c.memory !== undefined ? { memory: c.memory } : {}),
    ...(c.memoryReservation !== undefined ? { memoryReservation: c.memoryReservation } : {}),
    ...(c.workingDirectory !== undefined ? { workingDirectory: c.workingDirectory } : {}),
    ...(c.stopTimeout !== undefined ? { stopTimeout: c.stopTimeout } : {}),
  };
};

const checkTaskRules = (containers: ContainerDefinition[]): void => {
  const names = new Map<string, number>();
  containers.forEach((c, i) => {
    const first = names.get(c.name);
    if (first !== undefined) throw invalid(`containerDefinitions.${i}.name`, c.name, `is already the name of containerDefinitions.${first}`);
    names.set(c.name, i);
  });
  if (!containers.some((c) => c.essential)) {
    throw invalid('containerDefinitions', undefined, 'at least one container must be essential');
  }
  // All containers share one network stack (awsvpc): a port can be bound once per protocol.
  const ports = new Map<string, string>();
  containers.forEach((c, i) => c.portMappings.forEach((p, j) => {
    const key = `${p.containerPort}/${p.protocol}`;
    const field = `containerDefinitions.${i}.portMappings.${j}.containerPort`;
    const owner = ports.get(key);
    if (owner !== undefined) throw invalid(field, p.containerPort, `${key} is already mapped by ${owner}: containers of an awsvpc task share one network stack`);
    ports.set(key, `containerDefinitions.${i}.portMappings.${j}`);
  }));
  containers.forEach((c, i) => c.dependsOn.forEach((d, j) => {
    const field = `containerDefinitions.${i}.dependsOn.${j}`;
    const target = names.get(d.containerName);
    if (target === undefined) throw invalid(`${field}.containerName`, d.containerName, 'is not a container of this task');
    if (target === i) throw invalid(`${field}.containerName`, d.containerName, 'a container cannot depend on itself');
    if ((d.condition === 'COMPLETE' || d.condition === 'SUCCESS') && containers[target]!.essential) {
      throw invalid(`${field}.condition`, d.condition, `${d.containerName} is essential: COMPLETE and SUCCESS need a non-essential container`);
    }
  }));
  startOrder(containers); // throws on a cycle
};

// Containers grouped in start waves: each wave depends only on earlier ones. Stop runs the
// waves in reverse, as ECS stops dependents before what they depend on.
export const startOrder = (containers: readonly ContainerDefinition[]): ContainerDefinition[][] => {
  const waves: ContainerDefinition[][] = [];
  const placed = new Set<string>();
  let rest = [...containers];
  while (rest.length > 0) {
    const wave = rest.filter((c) => c.dependsOn.every((d) => placed.has(d.containerName)));
    if (wave.length === 0) {
      throw invalid('containerDefinitions', undefined, `dependsOn has a cycle among ${rest.map((c) => c.name).join(', ')}`);
    }
    wave.forEach((c) => placed.add(c.name));
    waves.push(wave);
    rest = rest.filter((c) => !placed.has(c.name));
  }
  return waves;
};
