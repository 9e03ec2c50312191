import { runCli } from './cli/index.js';

// A command that failed is over: nothing it started may keep the process alive (an agent whose
// start failed after adopting tasks still has engine watchers open). stderr is written already:
// on Linux, writes to a pipe or file are synchronous.
void runCli(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
  if (code !== 0) process.exit(code);
});
