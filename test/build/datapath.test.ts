// docs/datapath.svg, the picture at the top of README, is what scripts/draw-datapath.ts draws, and
// it shows the whole path the issue asked for, in order: VPC, ENI eth0, task netns, ecs-eth0,
// bridge, 169.254.170.2, agent.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import t from 'tap';
import { REPO } from '../cni/process.js';

t.test('the committed picture is what the script draws', async (t) => {
  const r = await execa(process.execPath, ['--import=tsx', join(REPO, 'scripts/draw-datapath.ts'), '--check'], {
    reject: false,
  });
  t.equal(r.exitCode, 0, r.stderr);
});

t.test("README shows it, and it names every hop of a task's path", async (t) => {
  t.match(
    readFileSync(join(REPO, 'README.md'), 'utf8').split('\n## ')[0],
    '](docs/datapath.svg)',
    'at the top of README',
  );
  const svg = readFileSync(join(REPO, 'docs/datapath.svg'), 'utf8');
  for (const hop of [
    'VPC subnet',
    'eth0: the ENI',
    'task netns',
    'ecs-eth0',
    'bridge ecs-bridge',
    '169.254.170.2:80',
    'tasknet agent',
    'IMDS 169.254.169.254',
  ]) {
    t.match(svg, new RegExp(`<text[^>]*>[^<]*${hop.replaceAll('.', '\\.')}`), hop);
  }
  t.notMatch(svg, /<script|xlink:href|href=/, 'no scripts or external references');
});
