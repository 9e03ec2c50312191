import { join } from 'node:path';
import type { Agent } from './lab.js';
import type { ExecResult, Cmd } from './protocol.js';

export interface Ctx {
  runs: number;
  warmup: number;
  concurrency: number; // ADDs started at once in the concurrency section
  scaleSizes: [number, number];
  ourBin: string; // snapshot of bin/ (launchers) + dist/: CNI_PATH for our plugins
  ourDist: string;
  profBin: string; // the same entries bundled without minification, for --cpu-prof
  outDir: string; // bench/out/<stamp>: profiles, logs
  caFile: string; // NODE_EXTRA_CA_CERTS as the machine sets it
  log: (msg: string) => void;
}

export const ourPlugin = (ctx: Ctx, name: string): string => join(ctx.ourBin, name);

export const exec = (agent: Agent, cmd: Cmd): Promise<ExecResult> => agent.request<ExecResult>({ op: 'exec', cmd });

export const progress = (ctx: Ctx, label: string, run: number, total: number): void => {
  if (run === total - 1 || run % 10 === 0) ctx.log(`  ${label}: run ${run + 1}/${total}`);
};
