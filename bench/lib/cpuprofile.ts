// Self time of a V8 .cpuprofile by category: V8/native, GC, idle (waiting for `ip` children),
// Node's module loader, Node's child_process, zod, and our code by source folder. Runs use an
// unminified bundle, whose `// src/...` comments say which source file each line came from.
import { readFileSync } from 'node:fs';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
}
interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

// Line index (0-based) -> source module, from esbuild's `// path/to/file.ts` markers.
export const bundleModules = (bundleFile: string): ((line: number) => string) => {
  const marks: { line: number; name: string }[] = [];
  readFileSync(bundleFile, 'utf8')
    .split('\n')
    .forEach((l, i) => {
      // `// src/cni/skel.ts`, `// node_modules/zod/...` or, for a symlinked node_modules,
      // `// ../../work/main/node_modules/zod/...`
      const m = /^\s*\/\/ (\S+\.(?:ts|js|mjs|cjs|json))$/.exec(l);
      if (!m) return;
      const path = m[1]!;
      const nm = path.lastIndexOf('node_modules/');
      marks.push({ line: i, name: nm >= 0 ? path.slice(nm) : path.replace(/^(\.\.\/)+/, '') });
    });
  return (line: number) => {
    let lo = 0;
    let hi = marks.length - 1;
    let found = '(bundle prelude)';
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (marks[mid]!.line <= line) {
        found = marks[mid]!.name;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found;
  };
};

const categoryOf = (cf: CallFrame, moduleOf: ((line: number) => string) | undefined, bundleUrlPart: string): string => {
  const fn = cf.functionName;
  const url = cf.url;
  if (fn === '(garbage collector)') return 'V8: garbage collector';
  if (fn === '(idle)') return 'idle (waiting for ip children / I/O)';
  if (fn === '(program)' || fn === '(root)') return 'V8/native (program: compile, natives)';
  if (
    url.startsWith('node:internal/modules') ||
    url.startsWith('node:internal/main') ||
    url === 'node:internal/bootstrap/realm'
  )
    return 'Node: module loader';
  if ((fn === 'spawn' || fn === 'ChildProcess.spawn') && url === 'node:internal/child_process')
    return 'native spawn(): parent blocked in fork + exec';
  if (url.includes('child_process') || url.includes('node:net') || url.includes('stream'))
    return 'Node: child_process, streams (JS)';
  if (url.startsWith('node:')) return 'Node: other internals';
  if (moduleOf && url.includes(bundleUrlPart)) {
    const mod = moduleOf(cf.lineNumber);
    if (mod.startsWith('node_modules/zod')) return 'zod';
    if (mod.startsWith('node_modules/')) return `dep: ${mod.split('/')[1]}`;
    const m = /^src\/(plugins\/[^/]+|[^/]+)\//.exec(mod);
    return m ? `ours: src/${m[1]}` : `ours: ${mod}`;
  }
  if (url.startsWith('file://')) {
    // Sources run through tsx (the bench agent's in-process plugins).
    const path = url.slice('file://'.length);
    if (path.includes('/node_modules/zod/')) return 'zod';
    if (path.includes('/node_modules/tsx/') || path.includes('/node_modules/esbuild/'))
      return 'tsx loader (bench agent only)';
    if (path.includes('/node_modules/')) return `dep: ${path.split('/node_modules/')[1]!.split('/')[0]}`;
    const m = /\/(src\/(?:plugins\/[^/]+|[^/]+))\//.exec(path);
    if (m) return `ours: ${m[1]}`;
    if (path.includes('/bench/')) return 'bench agent';
  }
  if (url === '' && fn === 'dispatch') return 'profiler overhead (inspector dispatch)';
  if (url === '' && fn === 'spawn') return 'native spawn(): parent blocked in fork + exec';
  if (url === '' && fn !== '') return `native: ${fn}()`;
  if (url === '') return 'V8/native (program: compile, natives)';
  return `other: ${url}`;
};

export interface ProfileSummary {
  totalMs: number;
  byCategory: Record<string, number>;
  topFunctions: { fn: string; where: string; ms: number }[];
}

export const summarizeProfile = (file: string, bundleFile: string | undefined): ProfileSummary => {
  const p = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const moduleOf = bundleFile ? bundleModules(bundleFile) : undefined;
  const part = bundleFile ? bundleFile.split('/').slice(-3).join('/') : '\0';
  const self = new Map<number, number>();
  p.samples.forEach((id, i) => {
    self.set(id, (self.get(id) ?? 0) + (p.timeDeltas[i] ?? 0));
  });
  const byCategory: Record<string, number> = {};
  const fns = new Map<string, { fn: string; where: string; ms: number }>();
  for (const [id, us] of self) {
    const n = byId.get(id);
    if (!n) continue;
    const cat = categoryOf(n.callFrame, moduleOf, part);
    byCategory[cat] = (byCategory[cat] ?? 0) + us / 1000;
    const where =
      moduleOf && n.callFrame.url.includes(part)
        ? moduleOf(n.callFrame.lineNumber)
        : n.callFrame.url.replace(/^file:\/\/.*?\/(src|node_modules|bench)\//, '$1/');
    const key = `${n.callFrame.functionName}@${where}`;
    const f = fns.get(key) ?? { fn: n.callFrame.functionName || '(anonymous)', where, ms: 0 };
    f.ms += us / 1000;
    fns.set(key, f);
  }
  return {
    totalMs: (p.endTime - p.startTime) / 1000,
    byCategory,
    topFunctions: [...fns.values()].sort((a, b) => b.ms - a.ms).slice(0, 15),
  };
};
