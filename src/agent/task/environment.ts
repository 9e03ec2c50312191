// A container's environment, as ECS builds it: the ECS variables (metadata and credentials URIs,
// region), then environmentFiles, then secrets, then environment (ECS: "environment" wins over
// the files). Files and secrets are read when the task starts, so a missing one fails the run
// before anything exists; values are never written to the task record.
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { invalid, type TaskDefinition } from './definition.js';
import type { RuntimeKind } from '../runtime/runtime.js';

// Where containerDefinitions.*.secrets[].valueFrom is looked up: a JSON file mapping each
// valueFrom (a Secrets Manager or SSM parameter ARN, or any name) to its value, re-read on every
// task start so rotating the file rotates the secrets (like the credentials file).
export interface SecretsProvider {
  readonly kind: string;
  value(valueFrom: string): Promise<string | undefined>;
}

export const secretsFileProvider = (path: string): SecretsProvider => ({
  kind: `file ${path}`,
  async value(valueFrom) {
    let json: unknown;
    try {
      json = JSON.parse(await readFile(path, 'utf8'));
    } catch (error) {
      throw new Error(`cannot read secrets file ${path}: ${(error as Error).message}`);
    }
    if (typeof json !== 'object' || json === null || Array.isArray(json))
      throw new Error(`secrets file ${path}: must be an object of "valueFrom": "value"`);
    const value = (json as Record<string, unknown>)[valueFrom];
    return typeof value === 'string' ? value : undefined;
  },
});

// ECS's env file format: VARIABLE=VALUE per line, '#' starts a comment line, no quoting.
export const parseEnvFile = (text: string, file: string): Record<string, string> => {
  const out: Record<string, string> = {};
  text.split('\n').forEach((raw, i) => {
    const line = raw.replace(/\r$/, '');
    if (line.trim() === '' || line.trimStart().startsWith('#')) return;
    const eq = line.indexOf('=');
    if (eq <= 0 || line.includes('\0')) throw new Error(`${file}:${i + 1}: expected VARIABLE=VALUE`);
    out[line.slice(0, eq)] = line.slice(eq + 1);
  });
  return out;
};

// Per container: what its environmentFiles and secrets add (environment itself comes later).
export const resolveEnvironment = async (
  definition: TaskDefinition,
  baseDir: string,
  secrets: SecretsProvider | undefined,
): Promise<Map<string, Record<string, string>>> => {
  const out = new Map<string, Record<string, string>>();
  for (const [i, c] of definition.containers.entries()) {
    const env: Record<string, string> = {};
    for (const [j, file] of c.environmentFiles.entries()) {
      const field = `containerDefinitions.${i}.environmentFiles.${j}.value`;
      if (/^arn:/.test(file))
        throw invalid(field, file, 'tasknet reads local files only (a path relative to the task definition)');
      const path = resolve(baseDir, file);
      let text: string;
      try {
        text = await readFile(path, 'utf8');
      } catch (error) {
        throw invalid(
          field,
          file,
          `cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
        );
      }
      try {
        Object.assign(env, parseEnvFile(text, path));
      } catch (error) {
        throw invalid(field, file, (error as Error).message);
      }
    }
    for (const [j, secret] of c.secrets.entries()) {
      const field = `containerDefinitions.${i}.secrets.${j}.valueFrom`;
      if (!secrets)
        throw invalid(
          field,
          secret.valueFrom,
          'this agent has no secrets provider (start it with --secrets-file FILE)',
        );
      const value = await secrets.value(secret.valueFrom);
      if (value === undefined)
        throw invalid(field, secret.valueFrom, `the secrets provider (${secrets.kind}) has no such secret`);
      env[secret.name] = value;
    }
    out.set(c.name, env);
  }
  return out;
};

export interface EnvInputs {
  runtime: RuntimeKind;
  hostname: string;
  metadataId: string;
  credentialsId?: string;
  region: string;
  environment: Record<string, string>; // files, secrets and environment, already merged
}

// The process runtime runs host commands, which need a PATH and HOME; an image brings its own.
export const containerEnv = (input: EnvInputs): Record<string, string> => ({
  ...(input.runtime === 'process'
    ? {
        PATH: `${resolve(process.execPath, '..')}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`,
        HOME: '/root',
        HOSTNAME: input.hostname,
      }
    : {}),
  ECS_CONTAINER_METADATA_URI_V4: `http://169.254.170.2/v4/${input.metadataId}`,
  ...(input.credentialsId ? { AWS_CONTAINER_CREDENTIALS_RELATIVE_URI: `/v2/credentials/${input.credentialsId}` } : {}),
  AWS_DEFAULT_REGION: input.region,
  AWS_REGION: input.region,
  ...input.environment,
});
