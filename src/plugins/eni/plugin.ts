import type { PluginDefinition } from '../../cni/skel.js';
import { KNOWN_ARGS } from './args.js';
import type { EniOptions } from './handlers.js';

// The ecs-eni plugin as the skel sees it; the handlers load only for verbs that need them.
// Options exist for in-process callers (tests, the agent's lab) whose "host" is not this netns.
export const eniPlugin = (options: EniOptions = {}): PluginDefinition => ({
  name: 'ecs-eni',
  about: 'tasknet ecs-eni: moves an ENI into a task network namespace',
  knownArgs: KNOWN_ARGS,
  load: async () => (await import('./handlers.js')).createEniHandlers(options),
});

export const plugin = eniPlugin();
