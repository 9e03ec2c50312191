// The pause container: a tiny long-lived process (sleep, not Node) that sits in the task netns
// and owns the task's UTS namespace (its hostname), as ECS's ~internal~ecs~pause does. The netns
// itself is a named one (/var/run/netns/tasknet-<id>), made before the pause starts, so a CNI DEL
// still finds it if the pause dies first: the ENI can always be handed back.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { processRef, sleep, type ProcessRef } from './process-ref.js';

// Sets the hostname inside the new UTS namespace, then becomes `sleep infinity`.
const PAUSE_SCRIPT = 'printf %s "$1" > /proc/sys/kernel/hostname && exec sleep infinity';

export interface StartedPause {
  process: ProcessRef;
  // Resolves when the pause exits: the child's exit event (it is our child), no polling.
  exited: Promise<void>;
}

export const startPause = async (netnsPath: string, hostname: string): Promise<StartedPause> => {
  const child = spawn(
    'nsenter',
    [`--net=${netnsPath}`, '--', 'unshare', '--uts', '--', 'sh', '-c', PAUSE_SCRIPT, 'tasknet-pause', hostname],
    {
      detached: true, // its own session: a signal to the agent's process group never reaches it
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  let exited: string | undefined;
  const exitEvent = new Promise<void>((resolve) => {
    child.on('exit', (code, signal) => {
      exited = `exited with ${signal ?? `code ${code}`}`;
      resolve();
    });
  });
  const spawned = await new Promise<number>((resolve, reject) => {
    child.once('spawn', () => resolve(child.pid!));
    child.once('error', (error) => reject(new Error(`cannot start the pause container: ${error.message}`)));
  });
  // Ready once the exec chain nsenter -> unshare -> sh -> sleep has reached sleep.
  for (let i = 0; i < 500 && exited === undefined; i++) {
    let comm = '';
    try {
      comm = readFileSync(`/proc/${spawned}/comm`, 'utf8').trim();
    } catch {
      /* gone: reported below */
    }
    if (comm === 'sleep') {
      const ref = processRef(spawned);
      if (ref) {
        child.stderr!.destroy();
        child.unref(); // its exit event still comes while the agent runs; it just keeps nothing alive
        return { process: ref, exited: exitEvent };
      }
    }
    await sleep(5);
  }
  try {
    process.kill(spawned, 'SIGKILL');
  } catch {
    /* already gone */
  }
  throw new Error(`the pause container ${exited ?? 'did not start in time'}${stderr ? `: ${stderr.trim()}` : ''}`);
};

export const pauseUtsPath = (pause: ProcessRef): string => `/proc/${pause.pid}/ns/uts`;
