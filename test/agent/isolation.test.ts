// Two tasks side by side on one bridge, each with its own ENI: each reaches its subnet gateway,
// neither reaches the other's bridge address, neither reads the other's credentials or metadata.
import { join } from 'node:path';
import t from 'tap';
import { assertClean, container, DEMO, fetchInTask, makeLab, needsRoot, taskdef } from './harness.js';

t.test('two tasks side by side', { skip: needsRoot }, async (t) => {
  const lab = await makeLab(t, { enis: 2 });
  const a = await lab.run(join(DEMO, 'task.json'));
  const b = await lab.run(taskdef('neighbour', [container('web', ['node', join(DEMO, 'web.mjs')], { portMappings: [{ containerPort: 80 }] })]));
  t.not(a.eni.mac, b.eni.mac, 'separate ENIs');
  t.not(a.bridgeAddress, b.bridgeAddress, 'separate bridge addresses on one bridge');
  const ping = async (task: any, address: string) => (await lab.tn(['exec', task.id, '--', 'ping', '-c1', '-W1', address])).code;

  t.equal(await ping(a, '10.0.0.1'), 0, 'A reaches its gateway');
  t.equal(await ping(b, '10.0.0.1'), 0, 'B reaches its gateway');
  t.equal(await ping(a, '10.0.0.11'), 0, 'A reaches B through the VPC (ENI to ENI), as in a real subnet');
  t.not(await ping(a, b.bridgeAddress), 0, 'A cannot reach B\'s bridge address');
  t.not(await ping(b, a.bridgeAddress), 0, 'B cannot reach A\'s bridge address');
  t.not((await fetchInTask(lab, a.id, `http://${b.bridgeAddress}/`)).status, 200, 'nor B\'s web server on it');

  const aCreds = `http://169.254.170.2/v2/credentials/${a.credentialsId}`;
  const bCreds = `http://169.254.170.2/v2/credentials/${b.credentialsId}`;
  t.equal((await fetchInTask(lab, a.id, aCreds)).status, 200, 'A reads its own credentials');
  t.equal((await fetchInTask(lab, b.id, bCreds)).status, 200, 'B reads its own credentials');
  const stolen = await fetchInTask(lab, b.id, aCreds);
  t.equal(stolen.status, 400, 'B cannot read A\'s credentials');
  t.equal(stolen.body, (await fetchInTask(lab, b.id, 'http://169.254.170.2/v2/credentials/not-an-id')).body,
    'the refusal is the same as for an unknown id: no oracle');
  t.equal((await fetchInTask(lab, a.id, bCreds)).status, 400, 'A cannot read B\'s credentials');
  const bMeta = `http://169.254.170.2/v4/${b.containers[0].metadataId}`;
  t.equal((await fetchInTask(lab, b.id, bMeta)).status, 200, 'B reads its own metadata');
  t.equal((await fetchInTask(lab, a.id, bMeta)).status, 404, 'A cannot read B\'s metadata');
  t.equal((await fetchInTask(lab, a.id, `${bMeta}/task`)).status, 404);

  t.equal((await lab.tn(['stop', a.id, b.id])).code, 0);
  assertClean(t, lab, [a.id, b.id], 2);
});
