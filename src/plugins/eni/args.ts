// The CNI_ARGS keys ecs-eni reads (per-container overrides of config fields), named like
// vpc-branch-eni's: the config field in PascalCase. Lists are comma separated, as ";" separates
// the pairs. A file of its own so plugin.ts can declare them without loading the config schema.
export const ENI_ARGS = {
  name: 'ENIName',
  mac: 'ENIMACAddress',
  addresses: 'ENIIPAddresses',
  gateways: 'GatewayIPAddresses',
} as const;

export const KNOWN_ARGS: readonly string[] = Object.values(ENI_ARGS);
