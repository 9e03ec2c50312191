// The same dual-stack ADD at every spec version: the skel renders the one internal result in each
// version's shape (cni-conformance D.27).
import t from 'tap';
import { SUPPORTED_VERSIONS } from '../../../src/cni/version.js';
import { needsRoot } from '../../helpers/netns.js';
import { ADDR4, ADDR6, cni, GW4, GW6, makeLab, vpcConfig, leavesNothingBehind } from './lab.js';
import { assertEniHome } from './state.js';

const legacy = {
  ip4: { ip: ADDR4, gateway: GW4, routes: [{ dst: '0.0.0.0/0', gw: GW4 }] },
  ip6: { ip: ADDR6, gateway: GW6, routes: [{ dst: '::/0', gw: GW6 }] },
};
const routes = [
  { dst: '0.0.0.0/0', gw: GW4 },
  { dst: '::/0', gw: GW6 },
];

const expected = (version: string, mac: string, sandbox: string): Record<string, unknown> => {
  if (version === '0.1.0' || version === '0.2.0') return { cniVersion: version, ...legacy };
  const modern = version === '1.0.0' || version === '1.1.0';
  return {
    cniVersion: version,
    interfaces: [{ name: 'eth0', mac, ...(version === '1.1.0' ? { mtu: 1500 } : {}), sandbox }],
    ips: [
      { ...(modern ? {} : { version: '4' }), interface: 0, address: ADDR4, gateway: GW4 },
      { ...(modern ? {} : { version: '6' }), interface: 0, address: ADDR6, gateway: GW6 },
    ],
    routes,
  };
};

t.test("every spec version's result shape", { skip: needsRoot }, async (t) => {
  const lab = await makeLab(t);
  for (const version of SUPPORTED_VERSIONS) {
    const config = vpcConfig(lab, { eniIPAddresses: [ADDR4, ADDR6], gatewayIPAddresses: [GW4, GW6] }, version);
    const add = await cni('ADD', lab, config);
    t.equal(add.exitCode, 0, `${version}: ADD succeeds`);
    t.same(add.out, expected(version, lab.mac, lab.taskPath), `${version}: result shape`);
    t.equal((await cni('DEL', lab, config)).exitCode, 0, `${version}: DEL succeeds`);
  }
  await assertEniHome(t, lab);
});

t.test(
  'a link left down has no addresses to report, which 0.1.0 and 0.2.0 cannot express',
  { skip: needsRoot },
  async (t) => {
    const lab = await makeLab(t);
    const config = vpcConfig(lab, { opStateDown: true }, '0.2.0');
    const add = await cni('ADD', lab, config);
    t.match(
      add.out,
      { code: 7, msg: /opStateDown needs cniVersion 0\.3\.0 or later/ },
      'refused before anything moves',
    );
    await assertEniHome(t, lab);
  },
);

leavesNothingBehind(t);
