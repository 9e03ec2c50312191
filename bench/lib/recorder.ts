// Collects the samples of one section and turns them into rows, ratios and target verdicts.
import { readFileSync } from 'node:fs';
import { round, summarize, type Summary } from './stats.js';

export type Side = 'ours' | 'go' | 'floor' | 'info';

export interface Row extends Summary {
  name: string;
  side: Side;
  unit: string;
  failures: number;
  firstFailure?: string;
  note?: string;
}

export interface Ratio {
  name: string;
  value: number;
  ci?: [number, number]; // 95% bootstrap interval of the same statistic
  note?: string;
}

export interface Target {
  id: string;
  target: string;
  measured: string;
  value: number;
  ci?: [number, number];
  limit: number;
  met: boolean;
  // The 95% interval reaches across the limit: another run on this machine may well flip the verdict.
  uncertain?: boolean;
}

export interface SectionResult {
  id: string;
  title: string;
  setup: string;
  runs: number;
  seconds: number;
  loadavg: { start: number[]; end: number[] };
  rows: Row[];
  ratios: Ratio[];
  targets: Target[];
  notes: string[];
  tables?: { title: string; header: string[]; rows: (string | number)[][] }[];
  extra?: Record<string, unknown>;
}

export const loadavg = (): number[] => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).map(Number);

interface Series {
  side: Side;
  unit: string;
  samples: number[];
  failures: number;
  firstFailure?: string;
  note?: string;
}

export class Recorder {
  readonly series = new Map<string, Series>();
  readonly ratios: Ratio[] = [];
  readonly targets: Target[] = [];
  readonly notes: string[] = [];
  readonly tables: NonNullable<SectionResult['tables']> = [];
  readonly extra: Record<string, unknown> = {};
  private readonly t0 = Date.now();
  private readonly load0 = loadavg();

  constructor(
    readonly id: string,
    readonly title: string,
    readonly setup: string,
    readonly runs: number,
  ) {}

  private get(name: string, side: Side, unit: string): Series {
    let s = this.series.get(name);
    if (!s) {
      s = { side, unit, samples: [], failures: 0 };
      this.series.set(name, s);
    }
    return s;
  }

  declare(name: string, side: Side, unit = 'ms', note?: string): void {
    const s = this.get(name, side, unit);
    if (note) s.note = note;
  }

  add(name: string, side: Side, value: number, unit = 'ms'): void {
    this.get(name, side, unit).samples.push(value);
  }

  fail(name: string, side: Side, reason: string, unit = 'ms'): void {
    const s = this.get(name, side, unit);
    s.failures++;
    s.firstFailure ??= reason.replace(/\s+/g, ' ').trim();
  }

  // Records a sample when the run succeeded, a failure otherwise.
  record(name: string, side: Side, ms: number, failure: string | undefined): void {
    if (failure === undefined) this.add(name, side, ms);
    else this.fail(name, side, failure);
  }

  median(name: string): number {
    const s = this.series.get(name);
    return s ? summarize(s.samples).median : Number.NaN;
  }

  ratio(name: string, value: number, note?: string): number {
    this.ratios.push({ name, value: round(value, 2), ...(note ? { note } : {}) });
    return value;
  }

  // A statistic of the medians of some series (e.g. a / b), with its 95% bootstrap interval:
  // every series resampled with replacement, 2000 times, from a fixed seed.
  stat(names: readonly string[], fn: (medians: number[]) => number): { value: number; ci?: [number, number] } {
    const series = names.map((n) => this.series.get(n)?.samples ?? []);
    const value = fn(series.map((s) => summarize(s).median));
    if (series.some((s) => s.length < 5) || !Number.isFinite(value)) return { value };
    let seed = 0x9e3779b9;
    const random = (): number => {
      seed = (seed + 0x6d2b79f5) | 0;
      let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
    const stats: number[] = [];
    for (let b = 0; b < 2000; b++) {
      stats.push(
        fn(
          series.map(
            (s) => summarize(Array.from({ length: s.length }, () => s[Math.floor(random() * s.length)]!)).median,
          ),
        ),
      );
    }
    stats.sort((x, y) => x - y);
    return {
      value,
      ci: [round(stats[Math.floor(0.025 * stats.length)]!, 2), round(stats[Math.floor(0.975 * stats.length)]!, 2)],
    };
  }

  ratioOf(
    name: string,
    names: readonly string[],
    fn: (medians: number[]) => number = (m) => m[0]! / m[1]!,
    note?: string,
  ): number {
    const { value, ci } = this.stat(names, fn);
    this.ratios.push({ name, value: round(value, 2), ...(ci ? { ci } : {}), ...(note ? { note } : {}) });
    return value;
  }

  target(id: string, target: string, measured: string, value: number, limit: number, ci?: [number, number]): void {
    this.targets.push({
      id,
      target,
      measured,
      value: round(value, 2),
      ...(ci ? { ci } : {}),
      limit,
      met: Number.isFinite(value) && value <= limit,
      ...(ci && ci[0] <= limit && ci[1] > limit ? { uncertain: true } : {}),
    });
  }

  targetOf(
    id: string,
    target: string,
    measured: string,
    names: readonly string[],
    fn: (medians: number[]) => number,
    limit: number,
  ): void {
    const { value, ci } = this.stat(names, fn);
    this.target(id, target, measured, value, limit, ci);
  }

  note(text: string): void {
    this.notes.push(text);
  }

  result(): SectionResult {
    const rows: Row[] = [...this.series.entries()].map(([name, s]) => {
      const sum = summarize(s.samples);
      return {
        name,
        side: s.side,
        unit: s.unit,
        failures: s.failures,
        ...(s.firstFailure ? { firstFailure: s.firstFailure } : {}),
        ...(s.note ? { note: s.note } : {}),
        ...(Object.fromEntries(
          Object.entries(sum).map(([k, v]) => [k, k === 'n' ? v : round(v, 2)]),
        ) as unknown as Summary),
      };
    });
    return {
      id: this.id,
      title: this.title,
      setup: this.setup,
      runs: this.runs,
      seconds: Math.round((Date.now() - this.t0) / 1000),
      loadavg: { start: this.load0, end: loadavg() },
      rows,
      ratios: this.ratios,
      targets: this.targets,
      notes: this.notes,
      ...(this.tables.length ? { tables: this.tables } : {}),
      ...(Object.keys(this.extra).length ? { extra: this.extra } : {}),
    };
  }
}

// ABAB...: the order of a pair flips every run, so neither side always runs right after the other.
export const pairOrder = <T>(run: number, items: readonly T[]): T[] => {
  const k = run % items.length;
  return [...items.slice(k), ...items.slice(0, k)];
};
