// The commands of README.md and docs/ that are marked runnable (an HTML comment starting with
// `<!-- runnable` on the line before a ```sh block) run here exactly as written, so a doc command
// that stops working fails CI. Each block runs in bash -e from the repository root, with bin/ on
// PATH (the docs' `tasknet`) and a lab and state dir of its own (TASKNET_LAB, TASKNET_STATE_DIR:
// the defaults every tasknet command reads), torn down afterwards whatever happened.
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { spawnSync } from 'node:child_process';
import { execa } from 'execa';
import t from 'tap';
import { REPO } from '../cni/process.js';
import { tempDir } from '../cni/temp.js';
import { needsRoot } from '../helpers/netns.js';
import { onProcessEnd } from '../helpers/process-end.js';

interface Block {
  file: string;
  line: number;
  text: string;
}

const DOCS = [
  join(REPO, 'README.md'),
  ...readdirSync(join(REPO, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => join(REPO, 'docs', f)),
  join(REPO, 'examples/cni/README.md'),
  join(REPO, 'bench/README.md'),
];

export const runnableBlocks = (file: string): Block[] => {
  const lines = readFileSync(file, 'utf8').split('\n');
  const blocks: Block[] = [];
  lines.forEach((line, i) => {
    if (!line.startsWith('<!-- runnable')) return;
    if (!/^```(sh|bash)\s*$/.test(lines[i + 1] ?? ''))
      throw new Error(`${relative(REPO, file)}:${i + 1}: a runnable mark must sit right above a \`\`\`sh block`);
    const end = lines.findIndex((l, j) => j > i + 1 && l.startsWith('```'));
    if (end < 0) throw new Error(`${relative(REPO, file)}:${i + 2}: a runnable block without its closing \`\`\``);
    blocks.push({ file: relative(REPO, file), line: i + 3, text: lines.slice(i + 2, end).join('\n') });
  });
  return blocks;
};

const blocks = DOCS.flatMap(runnableBlocks);

t.test('the docs mark their main walk-throughs runnable', async (t) => {
  const readme = blocks.filter((b) => b.file === 'README.md');
  t.ok(
    readme.some((b) => b.text.includes('tasknet lab up') && b.text.includes('tasknet run')),
    "README's lab task by hand",
  );
  t.ok(
    readme.some((b) => b.text.includes('CNI_COMMAND=VERSION')),
    "README's plugin probes",
  );
});

// The labs of blocks still running, taken down also when tap's file timeout ends this process
// (SIGTERM runs no finally).
const liveLabs = new Map<string, NodeJS.ProcessEnv>();
onProcessEnd(() => {
  for (const env of liveLabs.values())
    spawnSync(join(REPO, 'bin', 'tasknet'), ['lab', 'down'], { env, stdio: 'ignore' });
});

// Each block's limit well under tap's 600 s for the file, so a block that hangs fails on its own.
for (const block of blocks) {
  const lab = /\btasknet (lab|run|image)\b/.test(block.text);
  t.test(`${block.file}:${block.line} runs as written`, { skip: lab && needsRoot, timeout: 270_000 }, async (t) => {
    const stateDir = tempDir(t, 'tasknet-doc-');
    const env = {
      PATH: `${join(REPO, 'bin')}:${process.env.PATH}`,
      TASKNET_LAB: `tndoc${randomBytes(3).toString('hex')}`,
      TASKNET_STATE_DIR: stateDir,
    };
    if (lab) liveLabs.set(env.TASKNET_LAB, env);
    try {
      const r = await execa('bash', ['-e', '-o', 'pipefail', '-c', block.text], {
        cwd: REPO,
        env,
        reject: false,
        all: true,
        stdin: 'ignore',
      });
      t.equal(r.exitCode, 0, `${block.file}:${block.line}\n${block.text}\n---\n${r.all}`);
    } finally {
      // Before the state dir goes: the lab's engine keeps its data (and mounts) there.
      if (lab) await execa(join(REPO, 'bin', 'tasknet'), ['lab', 'down'], { env, reject: false });
      liveLabs.delete(env.TASKNET_LAB);
    }
  });
}
