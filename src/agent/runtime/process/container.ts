// The default container runtime: no images, the command runs from the host filesystem, in the
// task's netns and UTS namespace (the pause container's), with its own PID and mount namespaces
// (a fresh /proc), stdout and stderr appended to a per-container log file.
//
//   nsenter --net=TASK_NETNS --uts=PAUSE_UTS -- unshare --pid --fork --kill-child --mount-proc --
//     setpriv --bounding-set -CAPS --inh-caps -CAPS -- sh -c INIT EXITFILE ARGV...
//
// setpriv takes NET_ADMIN and SYS_ADMIN (and whatever linuxParameters.capabilities.drop names)
// out of the bounding and inheritable sets for good, so that neither the command nor anything it
// runs can change the task's routes (its IMDS blackhole) or enter another task's netns (setns
// needs SYS_ADMIN). It runs after unshare, which needs SYS_ADMIN to make the PID namespace.
//
// INIT is PID 1 of the container's PID namespace. The kernel drops signals to a namespace's PID 1
// that it has no handler for, so a plain command as PID 1 would ignore SIGTERM (Docker without
// --init behaves so). INIT forwards SIGTERM/SIGINT to the command, waits for it, and records its
// exit status in EXITFILE, so the status survives an agent restart (an adopted process is not our
// child and sends us no exit event).
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync, statSync } from 'node:fs';
import { constants } from 'node:os';
import {
  childPids,
  isAlive,
  processRef,
  signalProcess,
  sleep,
  waitForExit,
  watchExit,
  type ProcessRef,
} from './process-ref.js';

const INIT = [
  'f=$1; shift',
  'trap \'kill -TERM "$c" 2>/dev/null\' TERM INT',
  '"$@" &',
  'c=$!',
  'while :; do wait "$c" 2>/dev/null; s=$?; kill -0 "$c" 2>/dev/null || break; done',
  'printf "%s\\n" "$s" > "$f"',
  'exit "$s"',
].join('\n');

export interface ProcessLaunch {
  netnsPath: string;
  utsPath: string;
  argv: string[];
  env: Record<string, string>;
  cwd: string;
  logFile: string;
  exitFile: string;
  dropCapabilities: string[]; // lower-case names, without "cap_"
}

export interface StartedContainer {
  process: ProcessRef; // unshare, our child, in the task netns
  init?: ProcessRef; // PID 1 of the container; undefined if the command was over before we looked
  child: ChildProcess;
}

export class ContainerStartError extends Error {
  override readonly name = 'ContainerStartError';
}

export const startContainer = async (launch: ProcessLaunch): Promise<StartedContainer> => {
  try {
    if (!statSync(launch.cwd).isDirectory()) throw new Error('not a directory');
  } catch (error) {
    throw new ContainerStartError(`working directory ${launch.cwd}: ${(error as Error).message}`);
  }
  const drop = launch.dropCapabilities.map((c) => `-${c}`).join(',');
  const log = openSync(launch.logFile, 'a', 0o600);
  let child: ChildProcess;
  try {
    child = spawn(
      'nsenter',
      [
        `--net=${launch.netnsPath}`,
        `--uts=${launch.utsPath}`,
        '--',
        'unshare',
        '--pid',
        '--fork',
        '--kill-child',
        '--mount-proc',
        '--',
        'setpriv',
        '--bounding-set',
        drop,
        '--inh-caps',
        drop,
        '--',
        'sh',
        '-c',
        INIT,
        'tasknet-init',
        launch.exitFile,
        ...launch.argv,
      ],
      { cwd: launch.cwd, env: launch.env, detached: true, stdio: ['ignore', log, log] },
    );
  } finally {
    closeSync(log);
  }
  const pid = await new Promise<number>((resolve, reject) => {
    child.once('spawn', () => resolve(child.pid!));
    child.once('error', (error) => reject(new ContainerStartError(`cannot start: ${error.message}`)));
  });
  child.unref();
  // A command that is over at once (exit 3) has still run: the caller sees it exit.
  const unshare = processRef(pid) ?? { pid, startTime: 'exited' };
  // unshare forks the container's PID 1 right away, which becomes INIT after setpriv's exec. It is
  // ready once it has forked the command: its trap is set by then. A SIGTERM before that would
  // reach a PID 1 without a handler, which the kernel drops, and the stop would wait for SIGKILL.
  let init: ProcessRef | undefined;
  for (let i = 0; i < 2500 && isAlive(unshare); i++) {
    const [initPid] = childPids(pid);
    init = initPid === undefined ? undefined : processRef(initPid);
    if (init && childPids(init.pid).length > 0) return { process: unshare, init, child };
    await sleep(2);
  }
  // Over already (a command that exits at once): the caller sees it exit.
  if (!isAlive(unshare)) return { process: unshare, ...(init ? { init } : {}), child };
  signalProcess(unshare, 'SIGKILL');
  throw new ContainerStartError('its init did not start within 5 s');
};

// The container's exit code: what INIT recorded; else, for our own child, what unshare reported
// (a signal as 128+N, Docker's convention); else unknown (null).
export const exitCodeOf = (exitFile: string, child?: ChildProcess): number | null => {
  try {
    const code = Number(readFileSync(exitFile, 'utf8').trim());
    if (Number.isInteger(code)) return code;
  } catch {
    /* INIT was killed before it could write */
  }
  if (child?.exitCode !== null && child?.exitCode !== undefined) return child.exitCode;
  if (child?.signalCode) return 128 + (constants.signals[child.signalCode] ?? 0);
  return null;
};

// Resolves when the container's process is gone: from the exit event for our own child, by the
// shared exit watch (process-ref.ts watchExit) for an adopted one.
export const waitForContainerExit = (process: ProcessRef, child?: ChildProcess): Promise<void> => {
  if (child && child.exitCode === null && child.signalCode === null) {
    return new Promise((resolve) => {
      child.once('exit', () => resolve());
      if (child.exitCode !== null || child.signalCode !== null) resolve();
    });
  }
  return watchExit(process);
};

// SIGTERM to the container's init (which forwards it), SIGKILL after the timeout. Killing PID 1
// of a PID namespace kills everything in it; killing unshare too (--kill-child) is belt and braces.
export const stopContainer = async (
  c: { process?: ProcessRef; init?: ProcessRef },
  timeoutMs: number,
): Promise<'exited' | 'killed' | 'gone'> => {
  if (!isAlive(c.process) && !isAlive(c.init)) return 'gone';
  if (!signalProcess(c.init, 'SIGTERM')) signalProcess(c.process, 'SIGTERM');
  if (await waitForExit(c.process ?? c.init, timeoutMs, 20)) return 'exited';
  signalProcess(c.init, 'SIGKILL');
  signalProcess(c.process, 'SIGKILL');
  await waitForExit(c.process ?? c.init, 5000, 20);
  return 'killed';
};
