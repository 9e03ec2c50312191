// What the start-up front tests share: the matrix of odd inputs a CNI executable may be started
// with, and a runner that starts one on a case. The matrix runs once per executable, one test file
// each (front-<name>.test.ts), so that each file stays well inside tap's per-file timeout on a
// loaded machine: each case is two Node start-ups.
import { spawn, type StdioOptions } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { SKIP_FRONT_ENV } from '../../src/cni/front.js';
import { MAX_CONFIG_BYTES } from '../../src/cni/stdio.js';
import { SUPPORTED_VERSIONS } from '../../src/cni/version.js';
import { BIN, childEnv } from './process.js';

export const EXECUTABLES = ['ecs-eni', 'ecs-bridge', 'ecs-ipam', 'tasknet'] as const;

export const tmp = mkdtempSync(join(tmpdir(), 'tasknet-front-'));
t.teardown(() => rmSync(tmp, { recursive: true, force: true }));

export interface Case {
  name: string;
  args?: string[];
  // Merged over CNI_COMMAND=VERSION; undefined removes a variable.
  env?: Record<string, string | undefined>;
  stdin?: string | Buffer | 'dev-null' | 'directory';
  stdout?: 'read-only';
}

interface Outcome {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

// A JSON object of exactly `total` bytes asking for `cniVersion`.
export const padded = (cniVersion: string, total: number): string => {
  const head = `{"cniVersion":"${cniVersion}","pad":"`;
  return `${head}${' '.repeat(total - head.length - 2)}"}`;
};

const HAPPY_CONFIG = '{"cniVersion":"1.0.0"}';

const STDIN_CASES: Case[] = [
  ...SUPPORTED_VERSIONS.map((v) => ({ name: `cniVersion ${v}`, stdin: JSON.stringify({ cniVersion: v }) })),
  ...['0.1.0', '0.4.0', '1.1.0'].map((v) => ({
    name: `whole network config ${v}`,
    stdin: JSON.stringify({
      cniVersion: v,
      name: 'net',
      type: 'ecs-bridge',
      bridge: 'ecs-eth0',
      ipam: { type: 'ecs-ipam' },
    }),
  })),
  { name: 'a version newer than ours', stdin: '{"cniVersion":"1.2.0"}' },
  { name: 'an unsupported version', stdin: '{"cniVersion":"9.9.9"}' },
  { name: 'no cniVersion', stdin: '{"name":"net","type":"ecs-eni"}' },
  { name: 'empty object', stdin: '{}' },
  { name: 'empty cniVersion', stdin: '{"cniVersion":""}' },
  { name: 'numeric cniVersion', stdin: '{"cniVersion":1}' },
  { name: 'null cniVersion', stdin: '{"cniVersion":null}' },
  { name: 'object cniVersion', stdin: '{"cniVersion":{"v":"1.0.0"}}' },
  { name: 'two-part cniVersion', stdin: '{"cniVersion":"1.0"}' },
  { name: 'prefixed cniVersion', stdin: '{"cniVersion":"v1.0.0"}' },
  { name: 'cniVersion with a newline', stdin: '{"cniVersion":"1.0.0\\n"}' },
  { name: 'cniVersion with U+2028', stdin: '{"cniVersion":"1.0.0\\u2028"}' },
  { name: 'huge version numbers', stdin: '{"cniVersion":"99999999999.0.0"}' },
  { name: 'duplicate cniVersion keys', stdin: '{"cniVersion":"0.4.0","cniVersion":"1.0.0"}' },
  { name: '__proto__ key', stdin: '{"__proto__":{"cniVersion":"0.4.0"}}' },
  { name: 'nested cniVersion only', stdin: '{"config":{"cniVersion":"1.0.0"}}' },
  { name: 'whitespace around', stdin: '\n\t {"cniVersion":"0.3.1"} \n' },
  { name: 'UTF-8 BOM', stdin: '\uFEFF{"cniVersion":"1.0.0"}' },
  {
    name: 'invalid UTF-8',
    stdin: Buffer.concat([
      Buffer.from('{"cniVersion":"1.0.0","x":"'),
      Buffer.from([0xff, 0xfe, 0xc3]),
      Buffer.from('"}'),
    ]),
  },
  { name: 'NUL bytes', stdin: Buffer.alloc(64, 0) },
  { name: 'invalid JSON', stdin: '{"cniVersion":' },
  { name: 'trailing garbage', stdin: '{"cniVersion":"1.0.0"} x' },
  { name: 'two documents', stdin: '{"cniVersion":"1.0.0"}\n{"cniVersion":"0.4.0"}' },
  { name: 'not JSON', stdin: 'not json at all' },
  { name: 'empty stdin', stdin: '' },
  { name: 'JSON null', stdin: 'null' },
  { name: 'JSON array', stdin: '["1.0.0"]' },
  { name: 'JSON string', stdin: '"1.0.0"' },
  { name: 'JSON number', stdin: '42' },
  { name: 'JSON true', stdin: 'true' },
  { name: 'config at the size limit', stdin: padded('0.4.0', MAX_CONFIG_BYTES) },
  { name: 'config one byte over the limit', stdin: padded('0.4.0', MAX_CONFIG_BYTES + 1) },
  // Past what readStdin can ever take in (it stops once over the limit, reading 64 KiB at a time):
  // between those sizes, whether the whole config was read depends on how the pipe delivered it.
  { name: 'config 64 KiB + 1 over the limit', stdin: padded('0.4.0', MAX_CONFIG_BYTES + 65537) },
  { name: '2 MiB config', stdin: padded('0.4.0', 2 << 20) },
  { name: '2 MiB of spaces', stdin: Buffer.alloc(2 << 20, 0x20) },
  { name: 'stdin is /dev/null', stdin: 'dev-null' },
  { name: 'stdin is a directory (read fails)', stdin: 'directory' },
];

const ENV_CASES: Case[] = [
  { name: 'CNI_ARGS garbage', env: { CNI_ARGS: 'garbage;;=' } },
  { name: 'CNI_ARGS with an unknown key', env: { CNI_ARGS: 'FOO=bar' } },
  { name: 'invalid CNI_CONTAINERID', env: { CNI_CONTAINERID: '-not an id' } },
  { name: 'invalid CNI_IFNAME', env: { CNI_IFNAME: 'a/b:c d' } },
  {
    name: 'every ADD variable',
    env: {
      CNI_CONTAINERID: 'c0ffee',
      CNI_NETNS: '/var/run/netns/none',
      CNI_IFNAME: 'eth0',
      CNI_PATH: '/nonexistent:/opt/cni/bin',
    },
  },
  { name: 'debug logging to stderr', env: { TASKNET_LOG_LEVEL: 'debug', ECS_CNI_LOGLEVEL: 'debug' } },
  { name: 'log file set', env: { ECS_CNI_LOG_FILE: join(tmp, 'cni.log') } },
  { name: 'NODE_EXTRA_CA_CERTS set', env: { NODE_EXTRA_CA_CERTS: '/nonexistent/ca.pem' } },
  { name: 'lowercase command', env: { CNI_COMMAND: 'version' } },
  { name: 'command with a space', env: { CNI_COMMAND: 'VERSION ' } },
  { name: 'empty command', env: { CNI_COMMAND: '' } },
  { name: 'no command', env: { CNI_COMMAND: undefined } },
  { name: 'unknown command', env: { CNI_COMMAND: 'FOO' } },
  { name: 'ADD without its variables', env: { CNI_COMMAND: 'ADD' } },
  {
    name: 'ADD of a config with no name',
    env: { CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'c0ffee', CNI_NETNS: '/var/run/netns/none', CNI_IFNAME: 'eth0' },
  },
  {
    name: 'DEL of an unsupported version',
    env: { CNI_COMMAND: 'DEL', CNI_CONTAINERID: 'c0ffee', CNI_IFNAME: 'eth0' },
    stdin: '{"cniVersion":"9.9.9","name":"n"}',
  },
  { name: 'STATUS of an invalid config', env: { CNI_COMMAND: 'STATUS' }, stdin: '[]' },
];

const FLAG_CASES: Case[] = [
  { name: '--version', args: ['--version'] },
  { name: '--version without CNI_COMMAND', args: ['--version'], env: { CNI_COMMAND: undefined } },
  { name: '--version with ADD', args: ['--version'], env: { CNI_COMMAND: 'ADD' } },
  { name: '--capabilities', args: ['--capabilities'] },
  { name: '--capabilities without CNI_COMMAND', args: ['--capabilities'], env: { CNI_COMMAND: undefined } },
  { name: '--capabilities with more arguments', args: ['--capabilities', '--version'] },
  { name: '--help', args: ['--help'], env: { CNI_COMMAND: undefined } },
  { name: '-h with VERSION', args: ['-h'] },
  { name: 'an unknown flag with VERSION', args: ['--frobnicate'] },
  { name: 'an unknown flag without CNI_COMMAND', args: ['--frobnicate'], env: { CNI_COMMAND: undefined } },
];

const IO_CASES: Case[] = [
  { name: 'VERSION to a read-only stdout (write fails)', stdout: 'read-only' },
  { name: '--version to a read-only stdout', args: ['--version'], stdout: 'read-only' },
  { name: 'about text to a stdout that fails', env: { CNI_COMMAND: undefined }, stdout: 'read-only' },
];

const CASES = [...STDIN_CASES, ...ENV_CASES, ...FLAG_CASES, ...IO_CASES];

const readOnlyFile = join(tmp, 'read-only-stdout');
writeFileSync(readOnlyFile, '');

// Runs `file` (or node with `nodeArgs` then file) on one case; the environment is the test's
// minus CNI_*, plus CNI_COMMAND=VERSION, the case's own, and `extra`. Through `env -u
// NODE_OPTIONS`: tap puts its hooks into every child's NODE_OPTIONS, which would make each of
// these hundreds of Node start-ups several times slower (same hooks on both sides otherwise).
export const runCase = (
  file: string,
  c: Case,
  extra: Record<string, string> = {},
  nodeArgs?: string[],
): Promise<Outcome> =>
  new Promise((resolve, reject) => {
    const env = childEnv({ CNI_COMMAND: 'VERSION', ...c.env, ...extra });
    for (const [k, v] of Object.entries(env)) if (v === undefined) delete env[k];
    const fds: number[] = [];
    const open = (path: string): number => {
      fds.push(openSync(path, 'r'));
      return fds.at(-1)!;
    };
    const stdin = c.stdin === 'dev-null' ? 'ignore' : c.stdin === 'directory' ? open(tmp) : 'pipe';
    const stdout = c.stdout === 'read-only' ? open(readOnlyFile) : 'pipe';
    const stdio: StdioOptions = [stdin, stdout, 'pipe'];
    const argv = [...(nodeArgs ? [process.execPath, ...nodeArgs] : []), file, ...(c.args ?? [])];
    const child = spawn('/usr/bin/env', ['-u', 'NODE_OPTIONS', ...argv], { env: env as NodeJS.ProcessEnv, stdio });
    for (const fd of fds) closeSync(fd);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout?.on('data', (b: Buffer) => out.push(b));
    child.stderr?.on('data', (b: Buffer) => err.push(b));
    child.on('error', reject);
    child.on('close', (code, signal) =>
      resolve({
        code,
        signal,
        stdout: Buffer.concat(out).toString('latin1'),
        stderr: Buffer.concat(err).toString('latin1'),
      }),
    );
    if (child.stdin) {
      child.stdin.on('error', () => {
        /* EPIPE: the plugin stopped reading an oversized config */
      });
      child.stdin.end(typeof c.stdin === 'string' || Buffer.isBuffer(c.stdin) ? c.stdin : HAPPY_CONFIG);
    }
  });

// A few at a time: each case is two Node start-ups.
export const inBatches = async <T, R>(items: readonly T[], size: number, fn: (item: T) => Promise<R>): Promise<R[]> => {
  const results: R[] = [];
  for (let i = 0; i < items.length; i += size) results.push(...(await Promise.all(items.slice(i, i + size).map(fn))));
  return results;
};

// The front of `name` and its full bundle (TASKNET_SKIP_FRONT) answer every case byte for byte alike.
export const frontMatchesFullBundle = (name: (typeof EXECUTABLES)[number]): void => {
  t.test(`${name}: the front and the full bundle answer every case byte for byte alike`, async (t) => {
    const file = join(BIN, name);
    const pairs = await inBatches(CASES, 4, async (c) => ({
      c,
      front: await runCase(file, c),
      full: await runCase(file, c, { [SKIP_FRONT_ENV]: '1' }),
    }));
    for (const { c, front, full } of pairs) {
      // Compared as one object so a failure shows every field; stdout as latin1 keeps bytes exact.
      t.strictSame(front, full, c.name);
      t.notMatch(front.stdout, /\n\s+at /, `${c.name}: no stack on stdout`);
    }
    // The matrix is not vacuous: the plain answers are the expected ones.
    const byName = new Map(pairs.map((p) => [p.c.name, p.front]));
    const supported = JSON.stringify(SUPPORTED_VERSIONS);
    for (const v of SUPPORTED_VERSIONS) {
      const echoed = name === 'tasknet' ? '1.1.0' : v; // tasknet's VERSION ignores stdin
      t.equal(
        byName.get(`cniVersion ${v}`)?.stdout,
        `{"cniVersion":"${echoed}","supportedVersions":${supported}}\n`,
        `VERSION ${v}`,
      );
    }
    t.equal(byName.get('--capabilities without CNI_COMMAND')?.stdout, '{"capabilities":["awsvpc-network-mode"]}\n');
    t.match(
      byName.get('--version without CNI_COMMAND')?.stdout,
      /^\{"version":"[^"]+","dirty":(true|false),"gitShortHash":"([0-9a-f]+|unknown)"\}\n$/,
    );
    if (name !== 'tasknet') {
      t.equal(
        byName.get('prefixed cniVersion')?.stdout,
        `{"cniVersion":"v1.0.0","supportedVersions":${supported}}\n`,
        'odd versions are echoed as before',
      );
      t.match(byName.get('stdin is a directory (read fails)'), {
        code: 1,
        stdout: /^\{"cniVersion":"1\.1\.0","code":5,"msg":"cannot read the network config from stdin: EISDIR/,
      });
      t.match(byName.get('no command'), {
        code: 0,
        stdout: '',
        stderr: /^tasknet ecs-.*\nCNI protocol versions supported: 0\.1\.0, .*1\.1\.0\n$/,
      });
    }
    t.match(byName.get('VERSION to a read-only stdout (write fails)'), { code: 1, stderr: /EBADF/ });
  });
};
