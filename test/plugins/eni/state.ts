// What the tests assert about: the task netns and the ENI's state in the host netns.
import type { Test } from 'tap';
import { getLink, listAddresses, listLinks, listRoutes } from '../../../src/netlink/index.js';
import type { Lab } from './lab.js';

export async function taskLinks(lab: Lab): Promise<string[]> {
  return (await listLinks(lab.task)).map((l) => l.name).sort();
}

// Every route of the task netns outside the local table, as "type dst [via gw] [dev d]".
export async function taskRoutes(lab: Lab): Promise<string[]> {
  const routes = await listRoutes({ table: 'all' }, lab.task);
  return routes
    .filter(
      (r) =>
        r.table !== 'local' &&
        !(r.family === 6 && r.dst.startsWith('fe80::')) &&
        r.dst !== 'ff00::/8' &&
        r.type !== 'multicast',
    )
    .map((r) =>
      [
        r.type,
        r.dst,
        ...(r.gateway ? ['via', r.gateway] : []),
        ...(r.dev && r.type === 'unicast' ? ['dev', r.dev] : []),
      ].join(' '),
    )
    .sort();
}

export interface Home {
  name?: string;
  mtu?: number;
  /** The alias it should have; undefined = none (the lab's ENI has none before ADD). A RegExp
   *  for an ENI back under its fallback name, which keeps ecs-eni's record for a later DEL. */
  alias?: string | RegExp;
}

// The ENI is back in the host: under `name`, down, without addresses, with this MTU and alias.
export async function assertEniHome(
  t: Test,
  lab: Lab,
  { name = lab.eni, mtu = 1500, alias }: Home = {},
): Promise<void> {
  const link = await getLink(name, lab.host);
  t.ok(link, `ENI is in the host netns as ${name}`);
  t.equal(link?.mac, lab.mac, 'with its MAC');
  t.equal(link?.up, false, 'down');
  t.equal(link?.mtu, mtu, `MTU ${mtu}`);
  if (alias instanceof RegExp) t.match(link?.alias, alias, `alias ${alias}`);
  else t.equal(link?.alias, alias, alias === undefined ? 'no alias' : `alias ${alias}`);
  t.same(await listAddresses({ dev: name }, lab.host), [], 'no addresses');
  t.same(await taskLinks(lab), ['lo'], 'task netns holds only lo');
  t.same(await taskRoutes(lab), [], 'and no routes');
}
