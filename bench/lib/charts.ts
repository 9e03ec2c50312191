// SVG bar charts of a section's cases: one bar per case at its median, a whisker to its p95,
// ours, the Go peers and the floors in three colours, in the section's own row order (which
// already puts each of ours beside its peer). Plain SVG, no script or font files, so GitHub and
// any viewer show it as an image.
import type { SectionResult } from './recorder.js';

const SIDES = {
  ours: { fill: '#2563eb', label: 'tasknet' },
  go: { fill: '#9ca3af', label: 'Go peer' },
  floor: { fill: '#e5c07b', label: 'floor' },
} as const;
type Charted = keyof typeof SIDES;

const WIDTH = 760;
const LABEL = 330; // the case names' column
const VALUE = 70; // room right of the longest bar for its number
const ROW = 22;
const TOP = 44;
const BOTTOM = 30;

const xml = (s: string): string =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const fmt = (x: number): string => (x >= 100 ? x.toFixed(0) : x.toFixed(1));

// A scale end at 1, 2 or 5 times a power of ten, so the grid lines fall on round numbers.
const niceMax = (x: number): number => {
  const p = 10 ** Math.floor(Math.log10(x));
  return ([1, 2, 5, 10].find((m) => m * p >= x) ?? 10) * p;
};

// Undefined for a section with nothing to compare (no ours or no peer row, or mixed units).
export const sectionChart = (s: SectionResult): string | undefined => {
  const rows = s.rows.filter((r) => r.side in SIDES && Number.isFinite(r.median) && r.n > 0);
  const units = new Set(rows.map((r) => r.unit));
  if (!rows.some((r) => r.side === 'ours') || !rows.some((r) => r.side !== 'ours') || units.size !== 1)
    return undefined;
  const unit = [...units][0]!;
  const max = niceMax(Math.max(...rows.map((r) => (Number.isFinite(r.p95) ? r.p95 : r.median))));
  const plot = WIDTH - LABEL - VALUE;
  const x = (v: number): number => LABEL + (v / max) * plot;
  const height = TOP + rows.length * ROW + BOTTOM;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="sans-serif" font-size="12">`,
    `<title>${xml(s.title)}: median per case (bar) and p95 (whisker), ${unit}</title>`,
    `<rect width="${WIDTH}" height="${height}" fill="#ffffff"/>`,
    `<text x="8" y="18" font-size="13" font-weight="bold">${xml(s.title)}</text>`,
  ];
  let lx = 8;
  for (const side of Object.keys(SIDES) as Charted[]) {
    if (!rows.some((r) => r.side === side)) continue;
    out.push(
      `<rect x="${lx}" y="27" width="10" height="10" fill="${SIDES[side].fill}"/><text x="${lx + 14}" y="36">${SIDES[side].label}</text>`,
    );
    lx += 24 + SIDES[side].label.length * 7;
  }
  out.push(`<text x="${WIDTH - 8}" y="36" text-anchor="end" fill="#555">median, whisker to p95 (${unit})</text>`);
  for (let i = 0; i <= 4; i++) {
    const v = (max * i) / 4;
    const gx = x(v).toFixed(1);
    out.push(`<line x1="${gx}" y1="${TOP - 4}" x2="${gx}" y2="${height - BOTTOM + 4}" stroke="#e5e7eb"/>`);
    out.push(`<text x="${gx}" y="${height - 10}" text-anchor="middle" fill="#555">${Number(v.toFixed(1))}</text>`);
  }
  rows.forEach((r, i) => {
    const y = TOP + i * ROW;
    const fill = SIDES[r.side as Charted].fill;
    out.push(`<text x="${LABEL - 8}" y="${y + 15}" text-anchor="end">${xml(r.name)}</text>`);
    out.push(
      `<rect x="${LABEL}" y="${y + 4}" width="${(x(r.median) - LABEL).toFixed(1)}" height="${ROW - 8}" fill="${fill}"/>`,
    );
    if (Number.isFinite(r.p95) && r.p95 > r.median) {
      const cy = y + ROW / 2;
      out.push(
        `<line x1="${x(r.median).toFixed(1)}" y1="${cy}" x2="${x(r.p95).toFixed(1)}" y2="${cy}" stroke="#374151"/>`,
      );
      out.push(
        `<line x1="${x(r.p95).toFixed(1)}" y1="${cy - 4}" x2="${x(r.p95).toFixed(1)}" y2="${cy + 4}" stroke="#374151"/>`,
      );
    }
    const end = Math.max(x(r.median), Number.isFinite(r.p95) ? x(r.p95) : 0);
    out.push(`<text x="${(end + 4).toFixed(1)}" y="${y + 15}" fill="#111">${fmt(r.median)}</text>`);
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
};

// The charts of a run by file name (charts/<section id>.svg), for the sections that have one.
export const charts = (sections: SectionResult[]): Map<string, string> =>
  new Map(
    sections.flatMap((s) => {
      const svg = sectionChart(s);
      return svg ? [[`charts/${s.id}.svg`, svg] as const] : [];
    }),
  );
