// Routes (v4 and v6): list, add, delete, replace.
import * as z from 'zod/mini';
import { invalidInput } from './errors.js';
import { queryIp, runIp, type NetnsRef } from './run.js';
import { parseCidr, parseIp, validateIfName, validateRouteTable, validateUint, type IpFamily } from './validate.js';

export type RouteType = 'unicast' | 'blackhole' | 'unreachable' | 'prohibit' | 'throw';

export interface Route {
  family: IpFamily;
  /** Always a CIDR: 'default' becomes 0.0.0.0/0 or ::/0, a host route gets /32 or /128. */
  dst: string;
  gateway?: string;
  dev?: string;
  type: string;
  protocol?: string;
  scope?: string;
  metric?: number;
  /** 'main' when ip does not name one. */
  table: string;
  prefsrc?: string;
  flags: string[];
}

export interface RouteFilter {
  dev?: string;
  family?: IpFamily;
  /** Default 'main'; 'all' lists every table. */
  table?: string | number;
}

export interface RouteSpec {
  /** A CIDR, a bare address (host route) or 'default' (family taken from `via`, else IPv4). */
  dst: string;
  via?: string;
  dev?: string;
  type?: RouteType;
  metric?: number;
  onlink?: boolean;
  table?: string | number;
  scope?: 'global' | 'link' | 'host';
  src?: string;
}

const RouteJson = z.looseObject({
  dst: z.string(),
  type: z.optional(z.string()),
  gateway: z.optional(z.string()),
  via: z.optional(z.looseObject({ host: z.string() })),
  dev: z.optional(z.string()),
  protocol: z.optional(z.union([z.string(), z.number()])),
  scope: z.optional(z.union([z.string(), z.number()])),
  metric: z.optional(z.number()),
  table: z.optional(z.union([z.string(), z.number()])),
  prefsrc: z.optional(z.string()),
  flags: z.optional(z.array(z.string())),
  pref: z.optional(z.string()),
});
const RouteList = z.array(RouteJson);
type RouteJson = z.infer<typeof RouteJson>;

// `ip -j route` has no family field. In a mixed dump (`table all`) it is read from the addresses,
// and for a bare 'default' from `pref`, which the kernel sets on every IPv6 route (RTA_PREF).
function familyOf(r: RouteJson): IpFamily {
  if (r.dst.includes(':')) return 6;
  if (r.dst.includes('.')) return 4;
  if (r.gateway !== undefined) return r.gateway.includes(':') ? 6 : 4;
  return r.pref !== undefined ? 6 : 4;
}

function normaliseDst(dst: string, family: IpFamily): string {
  if (dst === 'default') return family === 4 ? '0.0.0.0/0' : '::/0';
  return dst.includes('/') ? dst : `${dst}/${family === 4 ? 32 : 128}`;
}

/** What ip leaves out of each row because the query already fixed it. */
interface Implied {
  family?: IpFamily | undefined;
  /** `table T` in the query: rows omit it. Without, no table field means main. */
  table?: string | undefined;
  /** `dev D` in the query: rows omit it. */
  dev?: string | undefined;
}

// ip's JSON to our Route; exported for parser tests.
export function toRoute(r: RouteJson, implied: Implied = {}): Route {
  const family = implied.family ?? familyOf(r);
  const out: Route = {
    family,
    dst: normaliseDst(r.dst, family),
    type: r.type ?? 'unicast',
    table: r.table === undefined ? (implied.table ?? 'main') : String(r.table),
    flags: r.flags ?? [],
  };
  const gateway = r.gateway ?? r.via?.host;
  if (gateway !== undefined) out.gateway = gateway;
  const dev = r.dev ?? implied.dev;
  if (dev !== undefined) out.dev = dev;
  if (r.protocol !== undefined) out.protocol = String(r.protocol);
  if (r.scope !== undefined) out.scope = String(r.scope);
  if (r.metric !== undefined) out.metric = r.metric;
  if (r.prefsrc !== undefined) out.prefsrc = r.prefsrc;
  return out;
}

// Routes of one table (default main). Without a family, one `table all` dump gives v4 and v6 in
// a single process (a plain `ip route show` is v4 only); the table is then filtered here.
export async function listRoutes(filter: RouteFilter = {}, ns?: NetnsRef): Promise<Route[]> {
  const table = validateRouteTable(filter.table ?? 'main');
  const dev = filter.dev === undefined ? [] : ['dev', validateIfName(filter.dev)];
  if (filter.family !== undefined) {
    const fam = filter.family === 4 ? '-4' : '-6';
    const rows = await queryIp(['-j', fam, 'route', 'show', 'table', table, ...dev], ns, RouteList);
    const implied = { family: filter.family, table: table === 'all' ? 'main' : table, dev: filter.dev };
    return rows.map((r) => toRoute(r, implied));
  }
  const rows = await queryIp(['-j', 'route', 'show', 'table', 'all', ...dev], ns, RouteList);
  const routes = rows.map((r) => toRoute(r, { dev: filter.dev }));
  return table === 'all' ? routes : routes.filter((r) => r.table === table);
}

// Tokens of `route add|del|replace ...`; shared by the functions below and batches.
export function routeArgs(verb: 'add' | 'del' | 'replace', spec: RouteSpec): string[] {
  const via = spec.via === undefined ? undefined : parseIp(spec.via);
  let dst: string;
  let family: IpFamily;
  if (spec.dst === 'default') {
    family = via?.family ?? 4;
    dst = family === 4 ? '0.0.0.0/0' : '::/0';
  } else if (typeof spec.dst === 'string' && spec.dst.includes('/')) {
    ({ cidr: dst, family } = parseCidr(spec.dst));
  } else {
    ({ family } = parseIp(spec.dst));
    dst = `${spec.dst}/${family === 4 ? 32 : 128}`;
  }
  if (via !== undefined && via.family !== family) throw invalidInput('route gateway', spec.via, `is not IPv${family}`);
  const type = spec.type ?? 'unicast';
  if (!['unicast', 'blackhole', 'unreachable', 'prohibit', 'throw'].includes(type)) {
    throw invalidInput('route type', type, 'must be unicast, blackhole, unreachable, prohibit or throw');
  }
  if (type !== 'unicast' && (via !== undefined || spec.dev !== undefined)) {
    throw invalidInput('route', spec, `a ${type} route takes no via or dev`);
  }
  if (spec.scope !== undefined && !['global', 'link', 'host'].includes(spec.scope)) {
    throw invalidInput('route scope', spec.scope, 'must be global, link or host');
  }
  const table = spec.table === undefined ? undefined : validateRouteTable(spec.table);
  if (table === 'all') throw invalidInput('route table', spec.table, '"all" only lists');
  const src = spec.src === undefined ? undefined : parseIp(spec.src);
  if (src !== undefined && src.family !== family) throw invalidInput('route src', spec.src, `is not IPv${family}`);
  return [
    'route',
    verb,
    ...(type === 'unicast' ? [] : [type]),
    dst,
    ...(via === undefined ? [] : ['via', via.address]),
    ...(spec.dev === undefined ? [] : ['dev', validateIfName(spec.dev)]),
    ...(spec.metric === undefined ? [] : ['metric', validateUint('route metric', spec.metric)]),
    ...(table === undefined ? [] : ['table', table]),
    ...(spec.scope === undefined ? [] : ['scope', spec.scope]),
    ...(src === undefined ? [] : ['src', src.address]),
    ...(spec.onlink && verb !== 'del' ? ['onlink'] : []),
  ];
}

// Task routes (default via the subnet gateway, 169.254.170.2/32 via the bridge); 'exists' if present.
export async function addRoute(spec: RouteSpec, ns?: NetnsRef): Promise<void> {
  await runIp(routeArgs('add', spec), ns);
}

// Removes a matching route; 'not-found' when none matches.
export async function deleteRoute(spec: RouteSpec, ns?: NetnsRef): Promise<void> {
  await runIp(routeArgs('del', spec), ns);
}

// Adds or overwrites, for ADD retries that must converge instead of failing on 'exists'.
export async function replaceRoute(spec: RouteSpec, ns?: NetnsRef): Promise<void> {
  await runIp(routeArgs('replace', spec), ns);
}
