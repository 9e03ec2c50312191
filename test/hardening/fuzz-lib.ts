// Shared by the hardening tests: a seeded PRNG, hostile strings, the CNI output property.
import { execFileSync } from 'node:child_process';

// mulberry32: 32 bits of state, fast, and the same sequence on every machine for a seed.
export class Prng {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let x = this.state;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  }

  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }

  weighted<T>(items: readonly (readonly [number, T])[]): T {
    let x = this.next() * items.reduce((s, [w]) => s + w, 0);
    for (const [w, v] of items) {
      x -= w;
      if (x < 0) return v;
    }
    return items[items.length - 1]![1];
  }
}

export const hostileStrings: readonly string[] = [
  '',
  ' ',
  'a b',
  'a\nb',
  '\n',
  'x\r\n',
  '../x',
  '..',
  '.',
  '/',
  '/etc/passwd',
  'a/b',
  './a',
  'a/../../b',
  '\0',
  'a\0b',
  '\ud800',
  'é',
  '🦀',
  '\u202e',
  '$(id)',
  '`id`',
  ';rm -rf /',
  '-h',
  '--help',
  '%s%n',
  'x'.repeat(300),
  '1e999',
  'NaN',
  // Never the name of one of our plugins: as an IPAM type it would be exec'd in this process's netns.
  'null',
  '{}',
  '[]',
  'ADD',
  'eth0',
  'lo',
  '169.254.169.254',
  '255.255.255.255/32',
];

const SPEC_CODES = new Set([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 50, 51]);
const STACK = /\n\s+at .+/;

// The CNI output property: exit 0 with a result (ADD, VERSION) or nothing, or exit 1 with the
// spec's error JSON and a spec or plugin code. Returns what is wrong, or undefined.
export const checkCniOutput = (command: string, exitCode: number, stdout: string): string | undefined => {
  if (STACK.test(stdout)) return `stack trace on stdout: ${stdout.slice(0, 300)}`;
  if (exitCode !== 0 && exitCode !== 1) return `exit status ${exitCode}`;
  let json: any;
  if (stdout.trim() !== '') {
    try {
      json = JSON.parse(stdout);
    } catch {
      return `stdout is not JSON: ${stdout.slice(0, 300)}`;
    }
  }
  if (exitCode === 1) {
    if (typeof json !== 'object' || json === null) return 'exit 1 without an error JSON';
    if (typeof json.code !== 'number' || typeof json.msg !== 'string') return `malformed error ${stdout.slice(0, 300)}`;
    const extra = Object.keys(json).filter((k) => !['cniVersion', 'code', 'msg', 'details'].includes(k));
    if (extra.length) return `error JSON has extra keys ${extra.join(',')}`;
    if (json.cniVersion !== undefined && typeof json.cniVersion !== 'string') return 'error cniVersion is not a string';
    if (json.details !== undefined && typeof json.details !== 'string') return 'error details is not a string';
    if (json.code === 999) return `internal error (a bug): ${json.msg}`;
    if (!SPEC_CODES.has(json.code) && !(Number.isInteger(json.code) && json.code >= 100))
      return `code ${json.code} is neither a spec code nor 100+`;
    if (json.msg.trim() === '') return 'empty error message';
    return undefined;
  }
  if (json !== undefined && (typeof json !== 'object' || json === null || Array.isArray(json)))
    return `result is not an object: ${stdout.slice(0, 200)}`;
  if (json?.code !== undefined && json?.msg !== undefined) return 'exit 0 with an error JSON';
  if (command === 'ADD' && (json === undefined || typeof json.cniVersion !== 'string'))
    return `ADD succeeded without a result: ${stdout.slice(0, 200)}`;
  if (command === 'VERSION' && !Array.isArray(json?.supportedVersions)) return 'VERSION without supportedVersions';
  if (!['ADD', 'VERSION'].includes(command) && json !== undefined) return `${command} printed ${stdout.slice(0, 200)}`;
  return undefined;
};

// The machine's own netns, by link name (never changed by these tests).
export const rootLinks = (): string[] =>
  execFileSync('ip', ['-o', 'link', 'show'])
    .toString()
    .split('\n')
    .filter(Boolean)
    .map((l) => l.split(':')[1]!.trim())
    .sort();
