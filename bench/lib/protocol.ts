// The line-JSON protocol between the bench driver (machine netns) and a bench agent, a Node process
// living inside one throwaway "host" netns. The agent plays the CNI runtime of that host: it execs
// plugins directly (no nsenter on the timed path) and runs our plugins in-process.

export interface Cmd {
  file: string;
  args?: string[];
  env: Record<string, string>;
  input?: string;
  timeoutMs?: number;
}

export interface ExecResult {
  ms: number;
  startEpoch: number; // performance.timeOrigin + now() at spawn, to line up with a child's own clock
  endEpoch: number;
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
}

/** One `ip` process seen in-process: argv, the `-batch` stdin, and spawn-to-close time. */
export interface IpTrace {
  argv: string[];
  input?: string;
  startMs: number; // relative to the start of the traced operation
  ms: number;
  syncMs: number; // of which inside spawn() itself: the parent blocked in fork/exec
}

export interface InprocResult {
  ms: number;
  exitCode: number;
  stdout: string;
  ipCalls: number; // src/netlink ipCalls() delta
  trace?: IpTrace[];
}

export interface ChainResult {
  ms: number;
  ok: boolean;
  error?: string;
  ipCalls: number;
  trace?: IpTrace[];
  bridgeAddress?: string;
}

export type ChainMode = 'in-process' | 'exec';

export type Request =
  | { op: 'exec'; cmd: Cmd }
  | { op: 'execMany'; cmds: Cmd[] }
  | { op: 'execPool'; cmds: Cmd[]; concurrency: number }
  | {
      op: 'inproc';
      plugin: 'ecs-bridge' | 'ecs-eni' | 'ecs-ipam';
      env: Record<string, string>;
      stdin: string;
      trace?: boolean;
    }
  | { op: 'ipamCounted'; env: Record<string, string>; stdin: string }
  | { op: 'ipamFill'; env: Record<string, string>; stdin: string; ids: string[] }
  | {
      op: 'chain';
      action: 'add' | 'del';
      mode: ChainMode;
      cniPath: string[];
      cacheDir: string;
      eniList: string;
      bridgeList: string;
      containerId: string;
      netns: string;
      env?: Record<string, string>;
      trace?: boolean;
      cpuProfile?: string; // write a .cpuprofile of this operation here
    }
  | { op: 'exit' };

export interface ExecManyResult {
  wallMs: number;
  results: ExecResult[];
}

export interface IpamCountedResult {
  ms: number;
  exitCode: number;
  stdout: string;
  fsOps: Record<string, number>;
  fsMs: Record<string, number>;
}
