// Address arithmetic for the pools, on top of the shared parsing and printing in cni/ip.ts.
import { bitsOf, formatIp, hostMask, type Family } from '../cni/ip.js';

export { bitsOf, formatIp, parseCidr, parseIp, type Family } from '../cni/ip.js';

export interface Subnet {
  family: Family;
  network: bigint; // masked: host bits are zero
  prefix: number;
}

export const hostBitsSet = (family: Family, value: bigint, prefix: number): boolean =>
  (value & hostMask(family, prefix)) !== 0n;

export const subnetOf = (family: Family, value: bigint, prefix: number): Subnet => ({
  family,
  network: value & ~hostMask(family, prefix),
  prefix,
});

// How many addresses the subnet spans, network (and broadcast) included.
export const subnetSize = (s: Subnet): bigint => 1n << BigInt(bitsOf(s.family) - s.prefix);

export const lastAddress = (s: Subnet): bigint => s.network + subnetSize(s) - 1n;

export const contains = (s: Subnet, value: bigint): boolean => value >= s.network && value <= lastAddress(s);

export const formatSubnet = (s: Subnet): string => `${formatIp(s.family, s.network)}/${s.prefix}`;

// The addresses a subnet can never hand out: the network address, and for IPv4 the broadcast
// address (IPv6 has no broadcast, so only its subnet-router anycast address is kept back).
export const isReservedByDefault = (s: Subnet, value: bigint): boolean =>
  value === s.network || (s.family === 4 && value === lastAddress(s));
