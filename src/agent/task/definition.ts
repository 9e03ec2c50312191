// ECS task definitions (RegisterTaskDefinition's shape), validated the way the ECS API would
// validate an awsvpc task before tasknet runs anything. Messages name the field as a dotted path
// and its value, like the CNI config errors (src/cni/schema.ts), e.g.
//   invalid containerDefinitions.1.portMappings.0.hostPort 8080: must be absent or equal containerPort 80 in awsvpc mode
import * as z from 'zod/mini';
import { CniError, showValue } from '../../cni/errors.js';
import { parseConfig } from '../../cni/schema.js';

export class TaskDefinitionError extends Error {
  override readonly name = 'TaskDefinitionError';
}

export const invalid = (field: string, value: unknown, why: string): TaskDefinitionError =>
  new TaskDefinitionError(`invalid ${field}${value === undefined ? '' : ` ${showValue(value)}`}: ${why}`);

// ECS: "Up to 255 letters (uppercase and lowercase), numbers, underscores, and hyphens".
const NAME = /^[a-zA-Z0-9_-]{1,255}$/;
// Refinements rather than z.regex/z.maxLength: parseConfig words those kinds itself, and a
// refinement's own message says what the ECS API would.
const matching = (re: RegExp, message: string) => z.string().check(z.refine((s) => re.test(s), message));
const nameString = matching(NAME, 'must be 1-255 letters, digits, "_" or "-"');
const port = z.number().check(
  z.int(),
  z.refine((n) => n >= 1 && n <= 65535, 'must be a port number (1-65535)'),
);
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

// Fields of ECS's ContainerDefinition that tasknet does not honour. They are accepted only when
// empty ([], {}, null: `aws ecs describe-task-definition` prints several so), and refused by name
// otherwise, since a task definition that asks for them would run without what it asked for.
const UNHONOURED_CONTAINER_FIELDS = [
  'repositoryCredentials',
  'restartPolicy',
  'mountPoints',
  'volumesFrom',
  'startTimeout',
  'versionConsistency',
  'disableNetworking',
  'dnsServers',
  'dnsSearchDomains',
  'extraHosts',
  'dockerSecurityOptions',
  'interactive',
  'pseudoTerminal',
  'logConfiguration',
  'systemControls',
  'resourceRequirements',
  'firelensConfiguration',
  'credentialSpecs',
] as const;

const unhonouredFields = Object.fromEntries(
  UNHONOURED_CONTAINER_FIELDS.map((k) => [k, z.optional(z.unknown())]),
) as Record<(typeof UNHONOURED_CONTAINER_FIELDS)[number], z.ZodMiniOptional<z.ZodMiniUnknown>>;

const seconds = (min: number, max: number) =>
  z.number().check(
    z.int(),
    z.refine((n) => n >= min && n <= max, `must be ${min}-${max} (seconds)`),
  );

// ECS HealthCheck: command is ["CMD", argv...] or ["CMD-SHELL", "shell line"]; times in seconds.
const healthCheck = z.strictObject({
  command: z
    .array(z.string())
    .check(
      z.refine(
        (a) => a.length >= 2 && (a[0] === 'CMD' || a[0] === 'CMD-SHELL'),
        'must be ["CMD", ARG...] or ["CMD-SHELL", "COMMAND"]',
      ),
    ),
  interval: z.optional(seconds(5, 300)),
  timeout: z.optional(seconds(2, 60)),
  retries: z.optional(
    z.number().check(
      z.int(),
      z.refine((n) => n >= 1 && n <= 10, 'must be 1-10'),
    ),
  ),
  startPeriod: z.optional(seconds(0, 300)),
});

const ULIMIT_NAMES = [
  'core',
  'cpu',
  'data',
  'fsize',
  'locks',
  'memlock',
  'msgqueue',
  'nice',
  'nofile',
  'nproc',
  'rss',
  'rtprio',
  'rttime',
  'sigpending',
  'stack',
] as const;
const ulimit = z.strictObject({ name: z.enum(ULIMIT_NAMES), softLimit: nonNegativeInt, hardLimit: nonNegativeInt });

// Linux capability names as ECS takes them (no CAP_ prefix), e.g. NET_ADMIN, or ALL.
const capability = matching(
  /^(ALL|(?!CAP_)[A-Z][A-Z_]{1,30})$/,
  'must be a capability name such as "NET_ADMIN" (no "CAP_" prefix) or "ALL"',
);
const linuxParameters = z.strictObject({
  capabilities: z.optional(
    z.strictObject({ add: z.optional(z.array(capability)), drop: z.optional(z.array(capability)) }),
  ),
  initProcessEnabled: z.optional(z.boolean()),
  // Not honoured: refused by name when set (see checkContainer).
  devices: z.optional(z.unknown()),
  sharedMemorySize: z.optional(z.unknown()),
  tmpfs: z.optional(z.unknown()),
  maxSwap: z.optional(z.unknown()),
  swappiness: z.optional(z.unknown()),
});

const secret = z.strictObject({ name: keyValue.shape.name, valueFrom: z.string().check(z.minLength(1)) });
// ECS takes S3 ARNs here; tasknet reads local files, a path relative to the task definition's dir.
const environmentFile = z.strictObject({ value: z.string().check(z.minLength(1)), type: z.literal('s3') });

const containerDefinition = z.strictObject({
  name: nameString,
  image: z.string().check(z.minLength(1)),
  command: z.optional(argv),
  entryPoint: z.optional(argv),
  environment: z.optional(z.array(keyValue)),
  environmentFiles: z.optional(z.array(environmentFile)),
  secrets: z.optional(z.array(secret)),
  essential: z.optional(z.boolean()),
  portMappings: z.optional(z.array(portMapping)),
  dependsOn: z.optional(z.array(dependency)),
  cpu: z.optional(nonNegativeInt),
  memory: z.optional(z.number().check(z.int(), z.gte(6))),
  memoryReservation: z.optional(z.number().check(z.int(), z.gte(4))),
  workingDirectory: z.optional(z.string()),
  user: z.optional(matching(/^[A-Za-z0-9_.-]+(:[A-Za-z0-9_.-]+)?$/, 'must be USER, UID, USER:GROUP or UID:GID')),
  readonlyRootFilesystem: z.optional(z.boolean()),
  privileged: z.optional(z.boolean()),
  ulimits: z.optional(z.array(ulimit)),
  linuxParameters: z.optional(linuxParameters),
  healthCheck: z.optional(healthCheck),
  dockerLabels: z.optional(z.record(z.string(), z.string())),
  // ECS caps the stop timeout at 120 s.
  stopTimeout: z.optional(
    z.number().check(
      z.int(),
      z.refine((n) => n >= 0 && n <= 120, 'must be 0-120 (seconds)'),
    ),
  ),
  hostname: z.optional(z.unknown()),
  links: z.optional(z.unknown()),
  ...unhonouredFields,
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

export type DependencyCondition = 'START' | 'COMPLETE' | 'SUCCESS' | 'HEALTHY';

export interface HealthCheck {
  command: string[]; // ["CMD", ...] or ["CMD-SHELL", "..."]
  interval: number; // seconds, with ECS's defaults filled in
  timeout: number;
  retries: number;
  startPeriod: number;
}

export interface ContainerDefinition {
  name: string;
  image: string;
  entryPoint?: string[]; // absent: the image's
  command?: string[]; // absent: the image's
  argv: string[]; // entryPoint + command as given (what the process runtime runs)
  environment: { name: string; value: string }[];
  environmentFiles: string[]; // local paths, as given (relative to the task definition's dir)
  secrets: { name: string; valueFrom: string }[];
  essential: boolean;
  portMappings: PortMapping[];
  dependsOn: { containerName: string; condition: DependencyCondition }[];
  cpu?: number;
  memory?: number;
  memoryReservation?: number;
  workingDirectory?: string;
  user?: string;
  readonlyRootFilesystem: boolean;
  privileged: boolean;
  ulimits: { name: string; softLimit: number; hardLimit: number }[];
  capabilities: { add: string[]; drop: string[] };
  initProcessEnabled: boolean;
  healthCheck?: HealthCheck;
  dockerLabels: Record<string, string>;
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
  const { unit, minimum, hint } =
    field === 'cpu'
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
    if (arn !== undefined && !ROLE_ARN.test(arn))
      throw invalid(field, arn, 'must be an IAM role ARN (arn:aws:iam::123456789012:role/NAME)');
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

const isEmpty = (value: unknown): boolean =>
  value === null ||
  (Array.isArray(value) && value.length === 0) ||
  (typeof value === 'object' && Object.keys(value as object).length === 0);

const checkContainer = (c: RawContainer, field: string, taskMemory: number | undefined): ContainerDefinition => {
  for (const key of UNHONOURED_CONTAINER_FIELDS) {
    if (c[key] !== undefined && !isEmpty(c[key]))
      throw invalid(`${field}.${key}`, c[key], 'is not honoured by tasknet: remove it');
  }
  for (const key of ['devices', 'sharedMemorySize', 'tmpfs', 'maxSwap', 'swappiness'] as const) {
    const value = c.linuxParameters?.[key];
    if (value !== undefined && !isEmpty(value))
      throw invalid(`${field}.linuxParameters.${key}`, value, 'is not honoured by tasknet: remove it');
  }
  if (c.hostname !== undefined)
    throw invalid(
      `${field}.hostname`,
      c.hostname,
      'is not supported in awsvpc mode (the task hostname comes from its ENI)',
    );
  if (c.links !== undefined && !isEmpty(c.links))
    throw invalid(`${field}.links`, c.links, 'are not supported in awsvpc mode (containers of a task share 127.0.0.1)');
  if (c.memory !== undefined && c.memoryReservation !== undefined && c.memoryReservation > c.memory) {
    throw invalid(`${field}.memoryReservation`, c.memoryReservation, `must not exceed memory ${c.memory}`);
  }
  for (const key of ['memory', 'memoryReservation'] as const) {
    const value = c[key];
    if (value !== undefined && taskMemory !== undefined && value > taskMemory) {
      throw invalid(`${field}.${key}`, value, `must not exceed the task memory ${taskMemory}`);
    }
  }
  (c.ulimits ?? []).forEach((u, j) => {
    if (u.softLimit > u.hardLimit)
      throw invalid(`${field}.ulimits.${j}.softLimit`, u.softLimit, `must not exceed hardLimit ${u.hardLimit}`);
  });
  const seenUlimits = new Set<string>();
  (c.ulimits ?? []).forEach((u, j) => {
    if (seenUlimits.has(u.name)) throw invalid(`${field}.ulimits.${j}.name`, u.name, 'is given twice');
    seenUlimits.add(u.name);
  });
  const portMappings = (c.portMappings ?? []).map((p, j) => {
    if (p.hostPort !== undefined && p.hostPort !== p.containerPort) {
      throw invalid(
        `${field}.portMappings.${j}.hostPort`,
        p.hostPort,
        `must be absent or equal containerPort ${p.containerPort} in awsvpc mode`,
      );
    }
    if (p.containerPortRange !== undefined) {
      throw invalid(
        `${field}.portMappings.${j}.containerPortRange`,
        p.containerPortRange,
        'is not supported in awsvpc mode',
      );
    }
    return { containerPort: p.containerPort, hostPort: p.containerPort, protocol: p.protocol ?? 'tcp' };
  });
  const hc = c.healthCheck;
  return {
    name: c.name,
    image: c.image,
    ...(c.entryPoint !== undefined ? { entryPoint: c.entryPoint } : {}),
    ...(c.command !== undefined ? { command: c.command } : {}),
    argv: [...(c.entryPoint ?? []), ...(c.command ?? [])],
    environment: c.environment ?? [],
    environmentFiles: (c.environmentFiles ?? []).map((f) => f.value),
    secrets: c.secrets ?? [],
    essential: c.essential ?? true,
    portMappings,
    dependsOn: (c.dependsOn ?? []).map((d) => ({ containerName: d.containerName, condition: d.condition })),
    ...(c.cpu !== undefined ? { cpu: c.cpu } : {}),
    ...(c.memory !== undefined ? { memory: c.memory } : {}),
    ...(c.memoryReservation !== undefined ? { memoryReservation: c.memoryReservation } : {}),
    ...(c.workingDirectory !== undefined ? { workingDirectory: c.workingDirectory } : {}),
    ...(c.user !== undefined ? { user: c.user } : {}),
    readonlyRootFilesystem: c.readonlyRootFilesystem ?? false,
    privileged: c.privileged ?? false,
    ulimits: c.ulimits ?? [],
    capabilities: {
      add: c.linuxParameters?.capabilities?.add ?? [],
      drop: c.linuxParameters?.capabilities?.drop ?? [],
    },
    initProcessEnabled: c.linuxParameters?.initProcessEnabled ?? false,
    // ECS's defaults: every 30 s, 5 s timeout, 3 retries, no grace period.
    ...(hc
      ? {
          healthCheck: {
            command: hc.command,
            interval: hc.interval ?? 30,
            timeout: hc.timeout ?? 5,
            retries: hc.retries ?? 3,
            startPeriod: hc.startPeriod ?? 0,
          },
        }
      : {}),
    dockerLabels: c.dockerLabels ?? {},
    ...(c.stopTimeout !== undefined ? { stopTimeout: c.stopTimeout } : {}),
  };
};

const checkTaskRules = (containers: ContainerDefinition[]): void => {
  const names = new Map<string, number>();
  containers.forEach((c, i) => {
    const first = names.get(c.name);
    if (first !== undefined)
      throw invalid(`containerDefinitions.${i}.name`, c.name, `is already the name of containerDefinitions.${first}`);
    names.set(c.name, i);
  });
  if (!containers.some((c) => c.essential)) {
    throw invalid('containerDefinitions', undefined, 'at least one container must be essential');
  }
  // All containers share one network stack (awsvpc): a port can be bound once per protocol.
  const ports = new Map<string, string>();
  containers.forEach((c, i) => {
    c.portMappings.forEach((p, j) => {
      const key = `${p.containerPort}/${p.protocol}`;
      const field = `containerDefinitions.${i}.portMappings.${j}.containerPort`;
      const owner = ports.get(key);
      if (owner !== undefined)
        throw invalid(
          field,
          p.containerPort,
          `${key} is already mapped by ${owner}: containers of an awsvpc task share one network stack`,
        );
      ports.set(key, `containerDefinitions.${i}.portMappings.${j}`);
    });
  });
  containers.forEach((c, i) => {
    c.dependsOn.forEach((d, j) => {
      const field = `containerDefinitions.${i}.dependsOn.${j}`;
      const target = names.get(d.containerName);
      if (target === undefined)
        throw invalid(`${field}.containerName`, d.containerName, 'is not a container of this task');
      if (target === i) throw invalid(`${field}.containerName`, d.containerName, 'a container cannot depend on itself');
      if (d.condition === 'HEALTHY' && !containers[target]!.healthCheck) {
        throw invalid(`${field}.condition`, d.condition, `${d.containerName} has no healthCheck`);
      }
      if ((d.condition === 'COMPLETE' || d.condition === 'SUCCESS') && containers[target]!.essential) {
        throw invalid(
          `${field}.condition`,
          d.condition,
          `${d.containerName} is essential: COMPLETE and SUCCESS need a non-essential container`,
        );
      }
    });
  });
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
      throw invalid(
        'containerDefinitions',
        undefined,
        `dependsOn has a cycle among ${rest.map((c) => c.name).join(', ')}`,
      );
    }
    for (const c of wave) placed.add(c.name);
    waves.push(wave);
    rest = rest.filter((c) => !placed.has(c.name));
  }
  return waves;
};
