// Neighbour (ARP/NDP) entries: read (a gateway's resolution in tests and CHECK) and permanent
// entries, which pin an address to a MAC: the kernel never overrides a PERMANENT entry from ARP or
// NDP traffic, so no one on the link can redirect the host's packets for that address.
import * as z from 'zod/mini';
import { queryIp, runIp, type NetnsRef } from './run.js';
import { parseIp, validateIfName, validateMac, type IpFamily } from './validate.js';

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

export interface PermanentNeighbour {
  dst: string;
  lladdr: string;
  dev: string;
}

// Tokens of `neigh replace ... nud permanent` (creates or overwrites); shared with batches.
export function neighReplaceArgs(n: PermanentNeighbour): string[] {
  return [
    'neigh',
    'replace',
    parseIp(n.dst).address,
    'lladdr',
    validateMac(n.lladdr),
    'dev',
    validateIfName(n.dev),
    'nud',
    'permanent',
  ];
}

// Tokens of `neigh del`; 'not-found' when there is no such entry.
export function neighDelArgs(dst: string, dev: string): string[] {
  return ['neigh', 'del', parseIp(dst).address, 'dev', validateIfName(dev)];
}

export async function replacePermanentNeighbour(n: PermanentNeighbour, ns?: NetnsRef): Promise<void> {
  await runIp(neighReplaceArgs(n), ns);
}

export async function deleteNeighbour(dst: string, dev: string, ns?: NetnsRef): Promise<void> {
  await runIp(neighDelArgs(dst, dev), ns);
}
