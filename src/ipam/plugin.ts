import type { PluginDefinition } from '../cni/skel.js';

// The ecs-ipam plugin as the skel sees it: the handlers load only for verbs that need them.
export const plugin: PluginDefinition = {
  name: 'ecs-ipam',
  about: 'tasknet ecs-ipam: task addresses on the ECS bridge subnet',
  load: async () => (await import('./handlers.js')).handlers,
};
