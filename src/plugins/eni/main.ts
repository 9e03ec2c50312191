import { pluginMain } from '../../cni/skel.js';
import { plugin } from './plugin.js';
import { useBlockingSpawn } from '../../netlink/run.js';

// One call per process: its ip children may block it (src/netlink/run.ts).
useBlockingSpawn();
void pluginMain(plugin);
