import * as z from 'zod/mini';
import { interfaceNameProblem } from '../../cni/env.js';
import type { NetConfObject } from '../../cni/config.js';
import { described, PATTERNS } from '../../cni/json-schema.js';
import { parseConfig } from '../../cni/schema.js';
import { ifNameProblem } from '../../netlink/validate.js';

export const DEFAULT_MTU = 1500;

// A name the kernel takes (libcni's rule) and `ip` can carry: '#', quotes and '\' are batch
// syntax, so "br#x" would pass here and fail at the first batch, as an internal error. The
// checks after the refinement say the same for JSON Schema (schemas/): they cannot fail where it
// passes, so the refinement's message is always the one reported.
const ifName = z.string().check(
  z.superRefine((name, ctx) => {
    const problem = interfaceNameProblem(name) ?? ifNameProblem(name);
    if (problem) ctx.addIssue({ code: 'custom', message: `must be a valid interface name: ${problem}`, input: name });
  }),
  z.maxLength(15),
  z.regex(new RegExp(PATTERNS.ifName, 'u')),
);

// Upstream's NetConf (aws/amazon-ecs-cni-plugins plugins/ecs-bridge/types). The fields the ECS
// agent sends and upstream ignores (isGateway, isDefaultGateway, forceAddress, ipMasq,
// hairpinMode, blockInstanceMetadata) pass as unknown keys of a loose object: accepted, ignored.
export const bridgeConfigSchema = z.looseObject({
  bridge: ifName,
  // 0 means "default", as upstream: the agent sends mtu 0. The bounds after the refinement (and
  // the gap 1-67, which no zod check can say) are for JSON Schema.
  mtu: z.optional(
    described(
      z.number().check(
        z.int(),
        z.refine((n) => n === 0 || (n >= 68 && n <= 65535), 'must be 0 or between 68 and 65535'),
        z.minimum(0),
        z.maximum(65535),
      ),
      { not: { type: 'integer', minimum: 1, maximum: 67 } },
    ),
  ),
  ipam: z.optional(z.looseObject({ type: z.optional(z.string()) })),
});

export interface BridgeConfig {
  bridge: string;
  mtu: number;
  // undefined when the config has no IPAM section or an empty one (the ECS agent sends "ipam":{}
  // on DEL so that the bridge leaves the address to its own release step).
  ipamType: string | undefined;
}

export const parseBridgeConfig = (conf: NetConfObject): BridgeConfig => {
  const parsed = parseConfig(bridgeConfigSchema, conf);
  const ipamType = parsed.ipam?.type;
  return {
    bridge: parsed.bridge,
    mtu: parsed.mtu || DEFAULT_MTU,
    ipamType: ipamType === undefined || ipamType === '' ? undefined : ipamType,
  };
};
