// The ENI's alias: ADD keeps its record there (record.ts), and DEL, a rollback or a DEL that
// finishes a cut-short one puts back the alias the ENI had before the ADD, or none.
import { execa } from 'execa';
import t from 'tap';
import { getLink } from '../../../src/netlink/index.js';
import { needsRoot } from '../../helpers/netns.js';
import { cni, makeLab, vpcConfig, leavesNothingBehind } from './lab.js';
import { assertEniHome } from './state.js';

const ip = async (...args: string[]): Promise<void> => {
  await execa('ip', args);
};

// What a batch line could not carry: spaces, quotes, '#', '\', ':' and '%'.
const ALIAS = 'uplink "A" #1: 50% \\ o\'k ü';

t.test(
  'DEL puts back the alias the ENI had before ADD, and leaves none where there was none',
  { skip: needsRoot },
  async (t) => {
    const lab = await makeLab(t);
    const config = vpcConfig(lab);
    await ip('-n', lab.host, 'link', 'set', lab.eni, 'alias', ALIAS);
    t.equal((await cni('ADD', lab, config)).exitCode, 0, 'ADD succeeds');
    t.match(
      await getLink('eth0', lab.task),
      { alias: /^tasknet-eni:eth1:mtu=1500:alias=[A-Za-z0-9%._~-]+$/ },
      'the record keeps it',
    );
    t.equal((await cni('DEL', lab, config)).exitCode, 0, 'DEL succeeds');
    await assertEniHome(t, lab, { alias: ALIAS });

    await ip('-n', lab.host, 'link', 'set', lab.eni, 'alias', '');
    t.equal((await cni('ADD', lab, config)).exitCode, 0, 'ADD of an ENI without an alias');
    t.equal((await cni('DEL', lab, config)).exitCode, 0);
    await assertEniHome(t, lab, { alias: undefined });
  },
);

t.test('a failed ADD puts the alias back too', { skip: needsRoot }, async (t) => {
  const lab = await makeLab(t);
  await ip('-n', lab.host, 'link', 'set', lab.eni, 'alias', ALIAS);
  for (const failpoint of ['eni:after-move', 'eni:after-configure']) {
    const add = await cni('ADD', lab, vpcConfig(lab), { failpoint });
    t.match(add.out, { code: 100, msg: `failpoint ${failpoint} reached` });
    await assertEniHome(t, lab, { alias: ALIAS });
  }
});

t.test('a give-back cut short before the alias went back: the next DEL finishes it', { skip: needsRoot }, async (t) => {
  const lab = await makeLab(t);
  const config = vpcConfig(lab, { mtu: 9000 });
  await ip('-n', lab.host, 'link', 'set', lab.eni, 'alias', ALIAS);
  t.equal((await cni('ADD', lab, config)).exitCode, 0);
  // The give-back batch ran (down, host MTU, moved home under the host name), the alias step did not.
  await ip('-n', lab.task, 'link', 'set', 'eth0', 'down');
  await ip('-n', lab.task, 'link', 'set', 'eth0', 'mtu', '1500');
  await ip('-n', lab.task, 'link', 'set', 'eth0', 'netns', lab.host, 'name', lab.eni);
  t.equal((await cni('DEL', lab, config)).exitCode, 0, 'DEL succeeds');
  await assertEniHome(t, lab, { alias: ALIAS });
});

t.test(
  'the task netns died without a DEL: the alias comes back through DEL, or through the next ADD and its DEL',
  { skip: needsRoot },
  async (t) => {
    const lab = await makeLab(t);
    const config = vpcConfig(lab, { mtu: 9000 });
    await ip('-n', lab.host, 'link', 'set', lab.eni, 'alias', ALIAS);
    // What the kernel does when the task netns dies: the ENI comes back under its task name, record and all.
    const died = async (): Promise<void> => {
      t.equal((await cni('ADD', lab, config)).exitCode, 0, 'ADD succeeds');
      await ip('-n', lab.task, 'link', 'set', 'eth0', 'down');
      await ip('-n', lab.task, 'link', 'set', 'eth0', 'netns', lab.host);
    };
    await died();
    t.equal((await cni('DEL', lab, config, { netns: '' })).exitCode, 0, 'a DEL without the netns');
    await assertEniHome(t, lab, { alias: ALIAS });

    await died();
    // The next ADD finds the ENI as "eth0" with the old record on: that record, not "eth0", MTU
    // 9000 and the record as an alias, is what the ENI was in the host.
    t.equal((await cni('ADD', lab, config)).exitCode, 0, 'the next ADD, no DEL in between');
    t.match(
      await getLink('eth0', lab.task),
      { alias: /^tasknet-eni:eth1:mtu=1500:alias=/ },
      'carries the first record on',
    );
    t.equal((await cni('DEL', lab, config)).exitCode, 0, 'its DEL');
    await assertEniHome(t, lab, { alias: ALIAS });
  },
);

t.test('an alias too long to keep in the record: refused before anything moves', { skip: needsRoot }, async (t) => {
  const lab = await makeLab(t);
  const long = 'x'.repeat(230);
  await ip('-n', lab.host, 'link', 'set', lab.eni, 'alias', long);
  const add = await cni('ADD', lab, vpcConfig(lab));
  t.match(add.out, { code: 100, msg: `the alias of ENI ${lab.mac} (${lab.eni}) is too long to keep` });
  await assertEniHome(t, lab, { alias: long });
});

leavesNothingBehind(t);
