// A repeated ADD. A runtime whose ADD timed out may try it again (the CNI spec allows it; libcni
// callers such as containerd do), but the first one may have gone through: the ENI is then no
// longer in the host netns but already in the task's as CNI_IFNAME. If it is there as this config
// leaves it, the ADD answers with the same result; if not, with an error that says what differs
// (a DEL puts it back, and the ADD can then run from the start).
import { CniError, ErrorCode } from '../../cni/errors.js';
import { familyOf } from '../../cni/result.js';
import { getLinkWithAddresses, listRoutes, type Address, type Link } from '../../netlink/index.js';
import type { EniConfig } from './config.js';
import { canonicalCidr, canonicalIp } from './ip.js';
import { METADATA_BLACKHOLES, parseAlias, type EniRecord } from './record.js';

// What the task netns has that this config would not have left there, in words.
const differences = async (
  conf: EniConfig,
  record: EniRecord,
  link: Link,
  addresses: Address[],
  netns: string,
): Promise<string[]> => {
  const found: string[] = [];
  if (!link.up) found.push('it is down');
  if (conf.mtu && link.mtu !== conf.mtu) found.push(`its MTU is ${link.mtu}, not ${conf.mtu}`);
  // The kernel's own addresses (IPv6 link-local; "dynamic" ones from router advertisements) are
  // not the config's business.
  const has = new Set(
    addresses.filter((a) => a.scope !== 'link' && !a.flags.includes('dynamic')).map((a) => canonicalCidr(a.cidr)),
  );
  const wants = new Set(conf.addresses.map(canonicalCidr));
  for (const a of wants) if (!has.has(a)) found.push(`address ${a} is missing`);
  for (const a of has) if (!wants.has(a)) found.push(`it has address ${a}, which the config does not list`);

  const routes = await listRoutes({}, netns);
  for (const gw of conf.gateways) {
    const dst = familyOf(gw) === 4 ? '0.0.0.0/0' : '::/0';
    const there = routes.some(
      (r) =>
        r.dst === dst && r.dev === link.name && r.gateway !== undefined && canonicalIp(r.gateway) === canonicalIp(gw),
    );
    if (!there) found.push(`it has no default route via ${gw}`);
  }
  const blackholes = new Set(routes.filter((r) => r.type === 'blackhole').map((r) => canonicalCidr(r.dst)));
  if (conf.blockInstanceMetadata) {
    for (const dst of METADATA_BLACKHOLES) if (!blackholes.has(dst)) found.push(`blackhole route ${dst} is missing`);
  } else if (record.blackholes.length > 0) {
    found.push('its ADD blocked instance metadata, this config does not');
  }
  return found;
};

// The ENI of this config in the task netns as `ifname`, put there by ecs-eni (it carries the
// record) and configured as this config says; undefined when it is not there. With stay-down the
// link belongs to its user once moved, so being there is enough.
export const findInPlace = async (conf: EniConfig, ifname: string, netns: string): Promise<Link | undefined> => {
  const found = await getLinkWithAddresses(ifname, netns);
  const record = parseAlias(found?.link.alias);
  if (!found || !record) return undefined;
  const { link, addresses } = found;
  // The config names the ENI by MAC, or (vpc-eni eniName) by its host name, which the record keeps.
  if (conf.mac ? link.mac?.toLowerCase() !== conf.mac : record.name !== conf.name) return undefined;
  if (conf.stayDown) return link;
  const wrong = await differences(conf, record, link, addresses, netns);
  if (wrong.length > 0) {
    throw new CniError(
      ErrorCode.Plugin,
      `ENI ${link.mac} is already in ${netns} as ${ifname}, but not as this config leaves it: ${wrong.join('; ')} (DEL it, then ADD again)`,
    );
  }
  return link;
};
