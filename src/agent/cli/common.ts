// Option handling shared by the task and lab commands.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { resolveStateDir } from '../state/layout.js';
import { CliError } from './errors.js';

const STATE_DIR_OPTION = { 'state-dir': { type: 'string' }, help: { type: 'boolean', short: 'h' } } as const;

// parseArgs whose complaints (an unknown option, a missing value) are usage errors (exit 2), in one
// line: Node's first sentence, without its advice about positionals that start with '-'.
export const parseOptions = <C extends ParseArgsConfig>(config: C): ReturnType<typeof parseArgs<C>> => {
  if (describing) throw new OptionTable(config.options ?? {});
  try {
    return parseArgs(config);
  } catch (error) {
    const first = (error as Error).message.split(/\.\s/)[0]!.replace(/\.$/, '');
    throw new CliError(`${first} (--help lists the options)`, true);
  }
};

export type Options = NonNullable<ParseArgsConfig['options']>;

// `tasknet completion` learns a command's options from the very table the command parses with:
// while describing, parseOptions hands its table over (thrown, so the command stops there) instead
// of parsing. Every command parses before it does anything else, so this runs none of its work.
class OptionTable {
  constructor(readonly options: Options) {}
}
let describing = false;

export const describeOptions = async (command: (argv: string[]) => Promise<number>): Promise<Options> => {
  describing = true;
  try {
    await command([]);
  } catch (error) {
    if (error instanceof OptionTable) return error.options;
    throw error;
  } finally {
    describing = false;
  }
  throw new Error('the command ran without parsing its options');
};

// parseOptions with --state-dir and --help added.
export const parseCommand = <O extends NonNullable<ParseArgsConfig['options']>>(argv: string[], options: O) => {
  const parsed = parseOptions({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: { ...STATE_DIR_OPTION, ...options },
  });
  const values = parsed.values as Record<string, string | boolean | string[] | undefined>;
  return {
    values,
    positionals: parsed.positionals,
    help: values.help === true,
    stateDir: resolveStateDir(values['state-dir'] as string | undefined),
  };
};

export const printJson = (value: unknown): void => {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
};

// Aligned two-column text for human output.
export const printFields = (rows: [string, string | undefined][]): void => {
  const width = Math.max(...rows.map(([k]) => k.length));
  for (const [key, value] of rows) if (value !== undefined) process.stdout.write(`${key.padEnd(width)}  ${value}\n`);
};

export const printTable = (header: string[], rows: string[][]): void => {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  for (const row of [header, ...rows]) {
    process.stdout.write(
      `${row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ')}\n`,
    );
  }
};
