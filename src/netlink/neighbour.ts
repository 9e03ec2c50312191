// Neighbour (ARP/NDP) entries: read-only for now, to check a gateway's resolution in tests and CHECK.
import * as z from 'zod/mini';
import { queryIp, type NetnsRef } from './run.js';
import { validateIfName, type IpFamily } from './validate.js';

export interface Neighbour {
  dst: string;
  family: IpFamily;
  dev?: string;
  lladdr?: string;
  /** e.g. ['REACHABLE'], ['PERMANENT'], ['FAILED']. */
  state: string[];
  router: boolean;
}

export interface NeighbourFilter {
  dev?: string;
  family?: IpFamily;
}

const NeighList = z.array(
  z.looseObject({
    dst: z.string(),
    dev: z.optional(z.string()),
    lladdr: z.optional(z.string()),
    state: z.optional(z.array(z.string())),
    router: z.optional(z.boolean()),
  }),
);

// The ARP/NDP table of a netns (both families unless one is asked for).
export async function listNeighbours(filter: NeighbourFilter = {}, ns?: NetnsRef): Promise<Neighbour[]> {
  const fam = filter.family === undefined ? [] : [filter.family === 4 ? '-4' : '-6'];
  const dev = filter.dev === undefined ? [] : ['dev', validateIfName(filter.dev)];
  const rows = await queryIp(['-j', ...fam, 'neigh', 'show', ...dev], ns, NeighList);
  return rows.map((r) => {
    const n: Neighbour = {
      dst: r.dst,
      family: r.dst.includes(':') ? 6 : 4,
      state: r.state ?? [],
      router: r.router === true,
    };
    const dev = r.dev ?? filter.dev; // ip leaves out what the query fixed
    if (dev !== undefined) n.dev = dev;
    if (r.lladdr !== undefined) n.lladdr = r.lladdr;
    return n;
  });
}
