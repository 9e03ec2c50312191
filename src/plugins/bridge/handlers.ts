import { CniError, ErrorCode } from '../../cni/errors.js';
import type { PluginHandlers } from '../../cni/skel.js';

const notYet = async (): Promise<never> => {
  throw new CniError(ErrorCode.Plugin, 'ecs-bridge: not implemented yet');
};

export const handlers: PluginHandlers = { add: notYet, del: notYet, check: notYet };
