// The lab an agent lives in (lab.json in its state dir): written by `tasknet lab up`, read by the
// agent for `--eni auto` and by `tasknet lab down` to know what to remove.
import * as z from 'zod/mini';
import { parseConfig } from '../../cni/schema.js';
import { makeEniSpec, type EniSpec } from '../task/eni.js';
import { readJson, writeJsonAtomic } from '../state/files.js';

export interface Lab {
  prefix: string;
  hostNs: string; // where the bridge, the host wiring and the agent live
  vpcNs: string; // the subnet gateway and the VPC side of every ENI
  vpcBridge: string;
  subnet: string;
  gateway: string;
  enis: EniSpec[];
  agentPid?: number;
  agentStartTime?: string;
  runtime?: 'engine' | 'process';
  engine?: { socket: string; dir?: string; pid?: number; startTime?: string }; // dir/pid: the lab started it
}

const labSchema = z.looseObject({
  prefix: z.string(),
  hostNs: z.string(),
  vpcNs: z.string(),
  vpcBridge: z.string(),
  subnet: z.string(),
  gateway: z.string(),
  enis: z.array(
    z.looseObject({
      mac: z.string(),
      addresses: z.array(z.string()),
      gateways: z.array(z.string()),
      id: z.string(),
      privateDnsName: z.optional(z.string()),
    }),
  ),
  agentPid: z.optional(z.number()),
  agentStartTime: z.optional(z.string()),
  runtime: z.optional(z.enum(['engine', 'process'])),
  engine: z.optional(
    z.looseObject({
      socket: z.string(),
      dir: z.optional(z.string()),
      pid: z.optional(z.number()),
      startTime: z.optional(z.string()),
    }),
  ),
});

export const readLab = async (path: string): Promise<Lab | undefined> => {
  const json = await readJson(path);
  if (json === undefined) return undefined;
  const lab = parseConfig(labSchema, json, { prefix: 'lab.json' });
  return { ...lab, enis: lab.enis.map((e) => makeEniSpec(e)) };
};

export const writeLab = (path: string, lab: Lab): Promise<void> => writeJsonAtomic(path, lab);
