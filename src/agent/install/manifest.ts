// What `tasknet install` put where: one manifest per CNI bin dir, so `tasknet uninstall` removes
// exactly those files, and only while they are still what was written.
import { join } from 'node:path';
import * as z from 'zod/mini';
import { CliError } from '../cli/errors.js';
import { readJson } from '../state/files.js';
import { writeFileAtomic } from './files.js';

// Hidden, not executable, and in the bin dir (never net.d, where libcni would load a .json).
export const MANIFEST_NAME = '.tasknet-install.json';

const entrySchema = z.object({
  path: z.string(),
  // unit: the agent's systemd unit; env: its environment file, a conffile (kept once changed).
  kind: z.enum(['launcher', 'conflist', 'unit', 'env']),
  sha256: z.string().check(z.regex(/^[0-9a-f]{64}$/)),
});

const manifestSchema = z.object({
  v: z.literal(1),
  installedFrom: z.string(),
  node: z.string(),
  tasknet: z.string(),
  updatedAt: z.string(),
  files: z.array(entrySchema),
  // Directories install created, removed by uninstall once empty.
  createdDirs: z.array(z.string()),
});

export type Manifest = z.infer<typeof manifestSchema>;
export type ManifestEntry = z.infer<typeof entrySchema>;

export const manifestPath = (binDir: string): string => join(binDir, MANIFEST_NAME);

export const readManifest = async (binDir: string): Promise<Manifest | undefined> => {
  const path = manifestPath(binDir);
  let json: unknown;
  try {
    json = await readJson(path);
  } catch {
    throw new CliError(`${path} is not a tasknet install manifest (not JSON); move it away to continue`);
  }
  if (json === undefined) return undefined;
  const parsed = manifestSchema.safeParse(json);
  if (!parsed.success)
    throw new CliError(`${path} is not a tasknet install manifest (unexpected content); move it away to continue`);
  return parsed.data;
};

export const writeManifest = async (binDir: string, manifest: Manifest): Promise<void> =>
  writeFileAtomic(manifestPath(binDir), `${JSON.stringify(manifest, null, 2)}\n`, 0o644);
