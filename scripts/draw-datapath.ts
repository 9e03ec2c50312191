// Draws docs/datapath.svg, the picture at the top of README: where a task's packets go, from the
// VPC through its ENI into the task netns and out through its veth and the host bridge to the
// agent's endpoint at 169.254.170.2. The picture is data (boxes and links below), so a change to
// it is a reviewable diff here. `--check` (test/build/datapath.test.ts) fails when the committed
// file is not what this script draws.
//   node --import=tsx scripts/draw-datapath.ts [--check]
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

type Side = 'top' | 'bottom' | 'left' | 'right';
interface Box {
  x: number;
  y: number;
  w: number;
  h: number;
  title: string;
  lines?: string[];
  kind: 'zone' | 'part' | 'outside' | 'blocked';
}
interface Link {
  from: [string, Side, number?]; // box, side, position along the side (0-1, default 0.5)
  to: [string, Side, number?];
  label: string;
  blocked?: boolean;
}

const OUT = join(fileURLToPath(new URL('..', import.meta.url)), 'docs', 'datapath.svg');
const WIDTH = 940;
const HEIGHT = 530;

const STYLE = {
  zone: { fill: '#f8fafc', stroke: '#94a3b8', title: '#334155' },
  part: { fill: '#dbeafe', stroke: '#2563eb', title: '#1e3a8a' },
  outside: { fill: '#f1f5f9', stroke: '#64748b', title: '#0f172a' },
  blocked: { fill: '#fee2e2', stroke: '#dc2626', title: '#7f1d1d' },
} as const;

const boxes: Record<string, Box> = {
  vpc: {
    x: 30,
    y: 16,
    w: 260,
    h: 58,
    kind: 'outside',
    title: 'VPC subnet',
    lines: ["its gateway: the task's default route"],
  },
  imds: {
    x: 650,
    y: 16,
    w: 260,
    h: 58,
    kind: 'blocked',
    title: 'IMDS 169.254.169.254',
    lines: ['blackholed in the task on request'],
  },
  task: {
    x: 10,
    y: 120,
    w: 920,
    h: 180,
    kind: 'zone',
    title: "task netns: held by the pause container; the task's containers join it",
  },
  eth0: {
    x: 30,
    y: 140,
    w: 260,
    h: 110,
    kind: 'part',
    title: 'eth0: the ENI',
    lines: [
      'found on the host by its MAC,',
      'moved in by ecs-eni with its',
      'addresses and a default route',
      'via the subnet gateway',
    ],
  },
  apps: {
    x: 340,
    y: 140,
    w: 260,
    h: 110,
    kind: 'part',
    title: 'containers',
    lines: [
      'one network stack per task:',
      'each other on 127.0.0.1,',
      'the VPC through eth0, the agent',
      'through ecs-eth0',
    ],
  },
  veth: {
    x: 650,
    y: 140,
    w: 260,
    h: 110,
    kind: 'part',
    title: 'ecs-eth0: a veth end',
    lines: [
      'made by ecs-bridge; its address',
      '169.254.172.N/22 leased by',
      'ecs-ipam; a route to 169.254.170.2',
      'via 169.254.172.1',
    ],
  },
  host: { x: 10, y: 340, w: 920, h: 175, kind: 'zone', title: 'host netns' },
  agent: {
    x: 30,
    y: 360,
    w: 420,
    h: 115,
    kind: 'part',
    title: 'tasknet agent: 169.254.170.2:80 on lo',
    lines: [
      'credentials and task metadata, answered only for',
      'the task whose bridge address asks (its veth is',
      'pinned to that address); a control socket for',
      'tasknet run, ls, stop, status',
    ],
  },
  bridge: {
    x: 650,
    y: 360,
    w: 260,
    h: 115,
    kind: 'part',
    title: 'bridge ecs-bridge',
    lines: ['169.254.172.1/22: the gateway of', "every task's ecs-eth0; the host", "end of each task's veth is on it"],
  },
};

const links: Link[] = [
  { from: ['vpc', 'bottom'], to: ['eth0', 'top'], label: "the ENI's traffic" },
  { from: ['eth0', 'right'], to: ['apps', 'left'], label: '' },
  { from: ['apps', 'right'], to: ['veth', 'left'], label: '' },
  { from: ['veth', 'bottom'], to: ['bridge', 'top'], label: 'veth pair' },
  { from: ['bridge', 'left'], to: ['agent', 'right'], label: 'to 169.254.170.2' },
  { from: ['apps', 'top', 0.85], to: ['imds', 'bottom', 0.15], label: 'dropped', blocked: true },
];

const xml = (s: string): string =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

const anchor = ([id, side, at = 0.5]: [string, Side, number?]): [number, number] => {
  const b = boxes[id];
  if (!b) throw new Error(`no box ${id}`);
  if (side === 'top') return [b.x + b.w * at, b.y];
  if (side === 'bottom') return [b.x + b.w * at, b.y + b.h];
  if (side === 'left') return [b.x, b.y + b.h * at];
  return [b.x + b.w, b.y + b.h * at];
};

const drawBox = (b: Box): string[] => {
  const s = STYLE[b.kind];
  const zone = b.kind === 'zone';
  // A zone's title sits at its bottom edge, out of the way of the links that enter from above.
  const titleY = zone ? b.y + b.h - 10 : b.y + 20;
  const out = [
    `<rect x="${b.x}" y="${b.y}" width="${b.w}" height="${b.h}" rx="${zone ? 10 : 6}" fill="${s.fill}" stroke="${s.stroke}"${zone ? ' stroke-dasharray="6 4"' : ''}/>`,
    `<text x="${b.x + 12}" y="${titleY}" font-weight="bold" fill="${s.title}">${xml(b.title)}</text>`,
  ];
  (b.lines ?? []).forEach((line, i) => {
    out.push(`<text x="${b.x + 12}" y="${b.y + 40 + i * 17}" font-size="12" fill="#1f2937">${xml(line)}</text>`);
  });
  return out;
};

const drawLink = (l: Link): string[] => {
  const [x1, y1] = anchor(l.from);
  const [x2, y2] = anchor(l.to);
  const colour = l.blocked ? '#dc2626' : '#1f2937';
  // Traffic flows both ways on every link but the blocked one, which ends in a cross.
  const ends = l.blocked
    ? ' stroke-dasharray="5 4" marker-end="url(#stop)"'
    : ' marker-start="url(#arrow)" marker-end="url(#arrow)"';
  const out = [`<line x1="${x1}" y1="${y1}" x2="${x2}" y2="${y2}" stroke="${colour}" stroke-width="2"${ends}/>`];
  // A label beside a vertical link, above a horizontal one.
  const vertical = Math.abs(x2 - x1) < Math.abs(y2 - y1);
  const [lx, ly, align] = vertical
    ? [(x1 + x2) / 2 + 10, (y1 + y2) / 2 + 4, 'start']
    : [(x1 + x2) / 2, (y1 + y2) / 2 - 8, 'middle'];
  if (l.label)
    out.push(
      `<text x="${lx}" y="${ly}" text-anchor="${align}" fill="${colour}" font-style="italic">${xml(l.label)}</text>`,
    );
  return out;
};

export const drawDatapath = (): string => {
  const zones = Object.values(boxes).filter((b) => b.kind === 'zone');
  const parts = Object.values(boxes).filter((b) => b.kind !== 'zone');
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="sans-serif" font-size="13">`,
    '<title>The data path of a tasknet task: VPC, ENI eth0, task netns, ecs-eth0 veth, host bridge, 169.254.170.2, agent</title>',
    '<defs>',
    '<marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#1f2937"/></marker>',
    '<marker id="stop" viewBox="0 0 10 10" refX="5" refY="5" markerWidth="10" markerHeight="10"><path d="M1,1 L9,9 M9,1 L1,9" stroke="#dc2626" stroke-width="2"/></marker>',
    '</defs>',
    `<rect width="${WIDTH}" height="${HEIGHT}" fill="#ffffff"/>`,
    ...zones.flatMap(drawBox),
    ...parts.flatMap(drawBox),
    ...links.flatMap(drawLink),
    '</svg>',
    '',
  ].join('\n');
};

if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  const svg = drawDatapath();
  if (process.argv.includes('--check')) {
    let committed = '';
    try {
      committed = readFileSync(OUT, 'utf8');
    } catch {}
    if (committed !== svg) {
      console.error('docs/datapath.svg is not what scripts/draw-datapath.ts draws: run npm run datapath');
      process.exit(1);
    }
    console.log('docs/datapath.svg up to date');
  } else {
    writeFileSync(OUT, svg);
    console.log('wrote docs/datapath.svg');
  }
}
