// Debug-level timing of one plugin call (docs/plugin-logs.md): at level debug, one line
// per phase as it ends, with the time since the previous phase ended (or since the call started),
// then one line with the total:
//
//   ecs-bridge ADD phase=veth-create ms=1.234
//   ecs-bridge ADD total ms=12.345 phases=8 result=ok code-cache=used
//                                  (result=error code=7 on failure; code-cache: src/cni/code-cache.ts)
//
// Below debug a call gets NO_PHASES, whose methods do nothing: no clock reads, no strings. Phase
// names are literals at the call sites, so a mark costs one no-op call.
import { codeCacheState } from './code-cache.js';
import { logger } from './log.js';

export interface Phases {
  /** The phase running since the previous mark (or the call's start) ends here, named `name`. */
  mark(name: string): void;
  /** The call is over: the total line. `code` is the CNI error code of a failed call. */
  done(code?: number): void;
}

export const NO_PHASES: Phases = { mark() {}, done() {} };

const ms = (from: number, to: number): string => (to - from).toFixed(3);

class PhaseLog implements Phases {
  private last: number;
  private count = 0;

  constructor(
    private readonly prefix: string,
    private readonly start: number,
  ) {
    this.last = start;
  }

  mark(name: string): void {
    const now = performance.now();
    logger.debug(`${this.prefix} phase=${name} ms=${ms(this.last, now)}`);
    this.last = now;
    this.count++;
  }

  done(code?: number): void {
    const result = code === undefined ? 'result=ok' : `result=error code=${code}`;
    const cache = codeCacheState();
    logger.debug(
      `${this.prefix} total ms=${ms(this.start, performance.now())} phases=${this.count} ${result}${cache ? ` code-cache=${cache}` : ''}`,
    );
  }
}

/** The clock of a call that may be timed: 0 (not read) below debug. */
export const phaseClock = (): number => (logger.enabled('debug') ? performance.now() : 0);

/** Phases for `plugin VERB`, timed from `start` (phaseClock at the call's start); NO_PHASES below debug. */
export const startPhases = (plugin: string, verb: string, start: number): Phases =>
  start === 0 ? NO_PHASES : new PhaseLog(`${plugin} ${verb}`, start);
