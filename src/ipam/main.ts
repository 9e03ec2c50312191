import { pluginMain } from '../cni/skel.js';
import { plugin } from './plugin.js';

void pluginMain(plugin);
