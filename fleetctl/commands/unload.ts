import { BLOCK_FLAGS, flagBool, flagNumber, type CommandSpec } from '../command.js';
import { findUnits, passThrough } from '../create.js';
import { goList } from '../output.js';
import { isGlobalUnit } from '../unitfile.js';
import { blockAttempts, waitForUnitStates } from '../wait.js';

export const unload: CommandSpec = {
  name: 'unload',
  usage: 'unload UNIT...',
  summary: 'Unschedule one or more units in the cluster.',
  flags: BLOCK_FLAGS('inactive', false),
  needsClient: true,
  async run(ctx, args, flags) {
    if (args.length === 0) {
      ctx.out.err('No units given');
      return 0;
    }
    let units;
    try {
      units = await findUnits(ctx, args);
    } catch (err) {
      passThrough(err);
      ctx.out.err((err as Error).message);
      return 1;
    }
    if (units.length === 0) {
      ctx.out.err('Units not found in registry');
      return 0;
    }
    const wait: string[] = [];
    for (const u of units) {
      const global = isGlobalUnit(u.options);
      if (!global && (u.currentState ?? 'inactive') === 'inactive') continue;
      try {
        await ctx.client.setDesiredState(u.name, 'inactive');
      } catch (err) {
        passThrough(err);
        ctx.out.err(`Error setting target state of unit ${u.name}: ${(err as Error).message}`);
        return 1;
      }
      if (global) ctx.out.out(`Triggered global unit ${u.name} unload`);
      else wait.push(u.name);
    }
    const attempts = blockAttempts({ noBlock: flagBool(flags, 'no-block'), blockAttempts: flagNumber(flags, 'block-attempts') });
    const err = await waitForUnitStates(ctx, wait, 'unload', 'inactive', attempts);
    if (err) {
      ctx.out.err(`Error waiting for units: ${err.message}`);
      ctx.out.err(`Failed to unload units ${goList(wait)}. err: ${err.message}`);
      return 1;
    }
    ctx.out.err(`Successfully unloaded units ${goList(wait)}.`);
    return 0;
  },
};
