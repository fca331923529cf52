import { BLOCK_FLAGS, type CommandSpec } from '../command.js';
import { namedUnits, retarget } from './retarget.js';

export const unload: CommandSpec = {
  name: 'unload',
  usage: 'unload UNIT...',
  summary: 'Unschedule one or more units in the cluster.',
  flags: BLOCK_FLAGS('inactive', false),
  needsClient: true,
  async run(ctx, args, flags) {
    const units = await namedUnits(ctx, args);
    return retarget(ctx, units, flags, {
      command: 'unload',
      state: 'inactive',
      done: 'unloaded',
      check: (u) => ((u.currentState ?? 'inactive') === 'inactive' ? 'skip' : 'set'),
    });
  },
};
