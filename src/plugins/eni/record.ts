// What DEL (or a rollback) needs to undo an ADD, kept in the ENI's alias (IFLA_IFALIAS) rather
// than in a file: the alias travels with the link across netns moves, outlives a crash of the
// plugin or the runtime between ADD and DEL, and goes wherever the ENI goes (when the task netns
// dies, the kernel hands the ENI back to the host, alias and all). So a DEL from a fresh process,
// even one without prevResult, knows it. host-device keeps the original name in ifalias the same way.
//
//   tasknet-eni:NAME:mtu=MTU[:imds=4,6][:alias=PREVIOUS]
//
// NAME and MTU: the ENI's in the host netns. imds: the families whose metadata blackhole this ADD
// added to the task netns (one that was there before the ADD is not ours to remove). alias: the
// alias the ENI had before, percent-encoded so the whole record stays one `ip -batch` token (no
// spaces, quotes, "#" or "\"); absent when it had none. A record written before imds and alias
// existed (tasknet-eni:NAME:mtu=MTU) reads as neither.
import { familyOf } from '../../cni/result.js';

// Instance metadata (IMDS) over IPv4 and IPv6, blocked with blackhole routes when asked
// (upstream ecs-eni PR #110 added the IPv6 one).
export const METADATA_BLACKHOLES = ['169.254.169.254/32', 'fd00:ec2::254/128'] as const;

export interface EniRecord {
  /** The ENI's name in the host netns. */
  name: string;
  /** Its MTU in the host netns. */
  mtu: number;
  /** The alias it had before ADD, put back by DEL; undefined = none. */
  alias: string | undefined;
  /** The METADATA_BLACKHOLES entries this ADD added to the task netns. */
  blackholes: string[];
}

const PREFIX = 'tasknet-eni:';
// IFALIASZ - 1: what the kernel keeps.
export const ALIAS_MAX_BYTES = 255;

// encodeURIComponent leaves !'()* as they are; a quote would end the batch token.
const encode = (text: string): string =>
  encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

export const encodeAlias = (r: EniRecord): string =>
  [
    `${PREFIX}${r.name}`,
    `mtu=${r.mtu}`,
    ...(r.blackholes.length > 0 ? [`imds=${r.blackholes.map((dst) => familyOf(dst)).join(',')}`] : []),
    ...(r.alias === undefined ? [] : [`alias=${encode(r.alias)}`]),
  ].join(':');

// undefined unless the alias is a record of ours.
export const parseAlias = (alias: string | undefined): EniRecord | undefined => {
  const match = /^tasknet-eni:([^:]+):mtu=(\d+)(?::imds=(4|6|4,6))?(?::alias=([A-Za-z0-9%._~-]+))?$/.exec(alias ?? '');
  if (!match) return undefined;
  const families = match[3]?.split(',').map(Number) ?? [];
  let previous: string | undefined;
  try {
    previous = match[4] === undefined ? undefined : decodeURIComponent(match[4]);
  } catch {
    return undefined; // not an encoding of ours
  }
  return {
    name: match[1]!,
    mtu: Number(match[2]),
    alias: previous,
    blackholes: METADATA_BLACKHOLES.filter((dst) => families.includes(familyOf(dst))),
  };
};
