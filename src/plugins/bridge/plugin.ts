import type { PluginDefinition } from '../../cni/skel.js';
import type { BridgeOptions } from './handlers.js';

// The ecs-bridge plugin as the skel sees it; the handlers load only for verbs that need them.
// Options exist for in-process callers (tests, the agent's lab) whose "host" is not this netns.
export const bridgePlugin = (options: BridgeOptions = {}): PluginDefinition => ({
  name: 'ecs-bridge',
  about: 'tasknet ecs-bridge: connects a task to the ECS host bridge',
  load: async () => (await import('./handlers.js')).createBridgeHandlers(options),
});

export const plugin = bridgePlugin();
