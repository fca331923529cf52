import { BLOCK_FLAGS, type CommandSpec } from '../command.js';
import { passThrough } from '../create.js';
import { namedUnits } from './retarget.js';
import { errorMessage } from '../../lib/errors.js';

export const destroy: CommandSpec = {
  name: 'destroy',
  usage: 'destroy UNIT...',
  summary: 'Destroy one or more units in the cluster',
  description: `Completely remove one or more running or submitted units from the cluster.

Instructs systemd on the host machine to destroy the unit, deferring to systemd
completely for any custom stop directives (i.e. ExecStop option in the unit
file).

Destroyed units are impossible to start unless re-submitted.`,
  flags: BLOCK_FLAGS('destroyed'),
  needsClient: true,
  async run(ctx, args) {
    const units = await namedUnits(ctx, args);
    let exit = 0;
    for (const u of units) {
      try {
        if (!(await ctx.client.destroyUnit(u.name))) continue;
      } catch (err) {
        passThrough(err);
        ctx.out.err(`Error destroying units: ${errorMessage(err)}`);
        exit = 1;
        continue;
      }
      ctx.out.out(`Destroyed ${u.name}`);
    }
    return exit;
  },
};
