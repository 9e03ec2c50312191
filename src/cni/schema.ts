import type * as z from 'zod/mini';
import { CniError, ErrorCode, showValue } from './errors.js';
import { nearest } from './nearest.js';

type Issue = z.core.$ZodIssue;

const valueAt = (root: unknown, path: readonly PropertyKey[]): unknown => {
  let value = root;
  for (const key of path) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<PropertyKey, unknown>)[key];
  }
  return value;
};

// zod/mini ships no English messages (that is what keeps it small), so we word the common
// issue kinds ourselves; refinements carry their own message.
const describe = (issue: Issue): string => {
  switch (issue.code) {
    case 'invalid_type': {
      const article: Record<string, string> = { array: 'an array', int: 'an integer', object: 'an object' };
      return issue.input === undefined ? 'is required' : `must be ${article[issue.expected] ?? `a ${issue.expected}`}`;
    }
    case 'too_small':
      return `must have at least ${String(issue.minimum)} ${issue.origin === 'array' ? 'entries' : ''}`.trim();
    case 'too_big':
      return `must be at most ${String(issue.maximum)}`;
    case 'invalid_format':
      // A pattern check says what it wants in its own message; zod's default names only the format.
      if (issue.format === 'regex')
        return issue.message && !/^Invalid/.test(issue.message) ? issue.message : 'has characters that are not allowed';
      return `is not a valid ${issue.format}`;
    case 'invalid_value':
      return `must be one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
    default:
      return issue.message && issue.message !== 'Invalid input' ? issue.message : 'is invalid';
  }
};

// The keys an object schema knows at `path` (through optional, default, nullable and array
// wrappers), for "did you mean"; undefined where the path leads elsewhere.
const knownKeys = (schema: z.ZodMiniType, path: readonly PropertyKey[]): string[] | undefined => {
  // biome-ignore lint/suspicious/noExplicitAny: zod's internal definitions, walked by their runtime shape
  let def = (schema as unknown as { _zod: { def: Record<string, any> } })._zod.def;
  const unwrap = (): void => {
    while (def.innerType) def = def.innerType._zod.def;
  };
  unwrap();
  for (const key of path) {
    if (def.type === 'array' && typeof key === 'number') def = def.element._zod.def;
    else if (def.type === 'object' && typeof key === 'string' && def.shape[key]) def = def.shape[key]._zod.def;
    else return undefined;
    unwrap();
  }
  return def.type === 'object' ? Object.keys(def.shape) : undefined;
};

// Validates a config section and, on failure, throws one CNI error naming the field (as a dotted
// path from the config root) and the offending value, so the user can find it in the conflist.
export const parseConfig = <S extends z.ZodMiniType>(
  schema: S,
  input: unknown,
  { prefix = '', code = ErrorCode.InvalidNetworkConfig }: { prefix?: string; code?: number } = {},
): z.infer<S> => {
  // reportInput: without it zod leaves issue.input unset, and a value of the wrong type would be
  // reported as missing ("is required") with no value shown.
  const parsed = schema.safeParse(input, { reportInput: true });
  if (parsed.success) return parsed.data as z.infer<S>;
  const issue = parsed.error.issues[0]!;
  const field = [prefix, ...issue.path.map(String)].filter(Boolean).join('.') || 'config';
  if (issue.code === 'unrecognized_keys') {
    // The key is what is wrong, not the object around it: name it, and what it may be a typo of.
    const known = knownKeys(schema, issue.path) ?? [];
    const [first, ...rest] = issue.keys.map((key) => {
      const near = nearest(key, known);
      return `${[field === 'config' ? '' : field, key].filter(Boolean).join('.')}${near ? ` (did you mean ${near}?)` : ''}`;
    });
    throw new CniError(code, `unknown key ${first}${rest.length > 0 ? `, and ${rest.join(', ')}` : ''}`);
  }
  const value = issue.code === 'invalid_type' && issue.input === undefined ? undefined : valueAt(input, issue.path);
  const shown = value === undefined ? '' : ` ${showValue(value)}`;
  throw new CniError(code, `invalid ${field}${shown}: ${describe(issue)}`);
};
