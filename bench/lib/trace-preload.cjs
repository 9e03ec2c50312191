// Preloaded (`node -r`) into an exec'd plugin by the profile section: records when Node finished
// bootstrapping, how long the bundle took to compile and run its top level, every child process
// (argv, -batch stdin, spawn to close; spawnSync too), and when the process exits; writes them as JSON to
// $BENCH_TRACE_FILE. It loads nothing the plugin would not load itself: child_process is patched
// when the plugin first requires it, `performance` is the global, node:module and node:fs are
// part of Node's bootstrap already.
'use strict';
const Module = require('node:module');
const { writeFileSync } = require('node:fs');

const trace = { preload: performance.now(), spawns: [] };

const patchChildProcess = (childProcess) => {
  if (childProcess.spawn.benchTraced) return;
  const spawn = childProcess.spawn;
  const traced = function tracedSpawn(...spawnArgs) {
    const [file, args] = spawnArgs;
    const rec = { argv: [file, ...(Array.isArray(args) ? args : [])], start: performance.now() };
    const child = spawn.apply(this, spawnArgs);
    rec.spawned = performance.now();
    trace.spawns.push(rec);
    if (child.stdin) {
      const end = child.stdin.end.bind(child.stdin);
      child.stdin.end = (...a) => {
        if (typeof a[0] === 'string') rec.input = a[0];
        return end(...a);
      };
    }
    child.once('close', () => {
      rec.end = performance.now();
    });
    return child;
  };
  traced.benchTraced = true;
  childProcess.spawn = traced;
  // An exec'd plugin waits for its children with spawnSync (src/netlink/run.ts useBlockingSpawn).
  const spawnSync = childProcess.spawnSync;
  childProcess.spawnSync = function tracedSpawnSync(...spawnArgs) {
    const [file, args, options] = spawnArgs;
    const rec = { argv: [file, ...(Array.isArray(args) ? args : [])], start: performance.now() };
    if (options && typeof options.input === 'string') rec.input = options.input;
    trace.spawns.push(rec);
    try {
      return spawnSync.apply(this, spawnArgs);
    } finally {
      rec.spawned = rec.end = performance.now(); // blocked from start to end
    }
  };
};

const require_ = Module.prototype.require;
Module.prototype.require = function tracedRequire(...requireArgs) {
  const [id] = requireArgs;
  const exported = require_.apply(this, requireArgs);
  if (id === 'node:child_process' || id === 'child_process') patchChildProcess(exported);
  return exported;
};

const compile = Module.prototype._compile;
Module.prototype._compile = function tracedCompile(...compileArgs) {
  const filename = compileArgs[1];
  if (!/\/dist\/[^/]+\.cjs$/.test(filename)) return compile.apply(this, compileArgs);
  trace.bundle = filename;
  trace.compileStart = performance.now();
  try {
    return compile.apply(this, compileArgs);
  } finally {
    trace.compileEnd = performance.now();
  }
};

process.on('exit', () => {
  trace.exit = performance.now();
  trace.timeOrigin = performance.timeOrigin;
  trace.nodeTiming = performance.nodeTiming.toJSON();
  if (process.env.BENCH_TRACE_FILE) writeFileSync(process.env.BENCH_TRACE_FILE, JSON.stringify(trace));
});
