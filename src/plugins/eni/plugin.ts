import type { PluginDefinition } from '../../cni/skel.js';

// The ecs-eni plugin as the skel sees it: the handlers load only for verbs that need them.
export const plugin: PluginDefinition = {
  name: 'ecs-eni',
  about: 'tasknet ecs-eni: moves an ENI into a task network namespace',
  load: async () => (await import('./handlers.js')).handlers,
};
