// Where task role credentials come from. The endpoint asks a provider for a role ARN; the
// provider answers in the ECS JSON shape. Two providers: a file mapping role ARNs to credentials
// (re-read on every request, so rotating the file rotates the credentials) and, for the lab, one
// that mints fake short-lived credentials.
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import * as z from 'zod/mini';
import { parseConfig } from '../../../cni/schema.js';

export interface RoleCredentials {
  RoleArn: string;
  AccessKeyId: string;
  SecretAccessKey: string;
  Token: string;
  Expiration: string; // ISO 8601
}

export interface CredentialsProvider {
  readonly kind: string;
  // `key` scopes a cache: one task's credentials are never handed to another task.
  credentials(roleArn: string, key: string): Promise<RoleCredentials>;
  // The task `key` is gone: drop anything cached for it.
  forget?(key: string): void;
}

export class CredentialsUnavailable extends Error {
  override readonly name = 'CredentialsUnavailable';
}

const fileSchema = z.record(
  z.string(),
  z.looseObject({
    AccessKeyId: z.string().check(z.minLength(1)),
    SecretAccessKey: z.string().check(z.minLength(1)),
    Token: z.optional(z.string()),
    Expiration: z.optional(z.string()),
  }),
);

// { "arn:aws:iam::123456789012:role/x": { "AccessKeyId": ..., "SecretAccessKey": ..., "Token": ..., "Expiration": ... } }
export const fileProvider = (path: string): CredentialsProvider => ({
  kind: `file ${path}`,
  async credentials(roleArn) {
    let json: unknown;
    try {
      json = JSON.parse(await readFile(path, 'utf8'));
    } catch (error) {
      throw new CredentialsUnavailable(`cannot read credentials file ${path}: ${(error as Error).message}`);
    }
    let entries: z.infer<typeof fileSchema>;
    try {
      entries = parseConfig(fileSchema, json);
    } catch (error) {
      throw new CredentialsUnavailable(`credentials file ${path}: ${(error as Error).message}`);
    }
    const entry = entries[roleArn];
    if (!entry) throw new CredentialsUnavailable(`credentials file ${path} has no entry for ${roleArn}`);
    return {
      RoleArn: roleArn,
      AccessKeyId: entry.AccessKeyId,
      SecretAccessKey: entry.SecretAccessKey,
      Token: entry.Token ?? '',
      Expiration: entry.Expiration ?? new Date(Date.now() + 3600_000).toISOString(),
    };
  },
});

const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
const randomKeyId = (): string => `ASIA${[...randomBytes(16)].map((b) => ALNUM[b % 32]).join('')}`;

// Fake STS-like credentials, minted per task and role and renewed 5 minutes before they expire
// (as the ECS agent refreshes role credentials). They authenticate nothing anywhere.
export const labProvider = (lifetimeMs = 15 * 60_000): CredentialsProvider => {
  const cache = new Map<string, RoleCredentials>();
  return {
    kind: 'lab (fake, short-lived)',
    async credentials(roleArn, key) {
      const cacheKey = `${key}\n${roleArn}`;
      const cached = cache.get(cacheKey);
      if (cached && Date.parse(cached.Expiration) - Date.now() > 5 * 60_000) return cached;
      const minted: RoleCredentials = {
        RoleArn: roleArn,
        AccessKeyId: randomKeyId(),
        SecretAccessKey: randomBytes(30).toString('base64'),
        Token: `tasknet-lab/${randomBytes(96).toString('base64')}`,
        Expiration: new Date(Date.now() + lifetimeMs).toISOString().replace(/\.\d{3}Z$/, 'Z'),
      };
      cache.set(cacheKey, minted);
      return minted;
    },
    forget(key) {
      for (const k of cache.keys()) if (k.startsWith(`${key}\n`)) cache.delete(k);
    },
  };
};
