import type { PluginDefinition } from '../../cni/skel.js';

// The ecs-bridge plugin as the skel sees it: the handlers load only for verbs that need them.
export const plugin: PluginDefinition = {
  name: 'ecs-bridge',
  about: 'tasknet ecs-bridge: connects a task to the ECS host bridge',
  load: async () => (await import('./handlers.js')).handlers,
};
