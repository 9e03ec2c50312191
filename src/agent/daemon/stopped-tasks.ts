// What the agent remembers of tasks that are gone: the last STOPPED_KEPT stopped tasks (for
// `ls --all` and `tasknet logs`) with their log dirs, and the records it could not read (FAILED
// in `ls` until a human removes the kept file).
import { readdir, readFile, stat, rm } from 'node:fs/promises';
import type { StateLayout } from '../state/layout.js';
import { failedSummary, type TaskSummary } from '../task/record.js';

const STOPPED_KEPT = 50;

export class StoppedTasks {
  private readonly stopped: TaskSummary[] = []; // newest first
  private readonly failed = new Map<string, TaskSummary>();
  private oldLogs: string[] = []; // log dirs of tasks stopped before this agent started, newest first

  constructor(private readonly layout: StateLayout) {}

  list(all: boolean): TaskSummary[] {
    return all ? [...this.failed.values(), ...this.stopped] : [...this.failed.values()];
  }

  find(id: string): TaskSummary | undefined {
    return this.stopped.find((s) => s.id === id);
  }

  async add(summary: TaskSummary): Promise<void> {
    this.stopped.unshift(summary);
    await this.prune();
  }

  markFailed(id: string, reason: string): void {
    this.failed.set(id, failedSummary(id, reason));
  }

  // Records kept aside by an earlier agent stay listed until a human removes them.
  async listKept(): Promise<void> {
    for (const name of await readdir(this.layout.keptDir).catch(() => [] as string[])) {
      const id = /^([0-9a-f]{32})\.task\.json$/.exec(name)?.[1];
      if (!id || this.failed.has(id)) continue;
      const reason = await readFile(this.layout.keptReason(id), 'utf8').catch(
        () => `task record unreadable: kept at ${this.layout.keptRecord(id)}`,
      );
      this.markFailed(id, reason.trim());
    }
  }

  // Logs are kept for the last STOPPED_KEPT stopped tasks. Those stopped before this agent started
  // are in no list, so without this every restart would leave up to STOPPED_KEPT log dirs for
  // ever: they count too, oldest first out.
  async adoptOldLogs(live: ReadonlySet<string>): Promise<void> {
    const known = new Set([...live, ...this.stopped.map((s) => s.id)]);
    const ids = (await readdir(this.layout.logsDir).catch(() => [] as string[])).filter(
      (n) => /^[0-9a-f]{32}$/.test(n) && !known.has(n),
    );
    const dirs = await Promise.all(
      ids.map(async (id) => ({
        id,
        mtime: (await stat(this.layout.taskLogsDir(id)).catch(() => undefined))?.mtimeMs ?? 0,
      })),
    );
    this.oldLogs = dirs.sort((a, b) => b.mtime - a.mtime).map((d) => d.id);
    await this.prune();
  }

  private async prune(): Promise<void> {
    const gone = this.stopped.splice(STOPPED_KEPT).map((s) => s.id);
    gone.push(...this.oldLogs.splice(Math.max(0, STOPPED_KEPT - this.stopped.length)));
    for (const id of gone) await rm(this.layout.taskLogsDir(id), { recursive: true, force: true });
  }
}
