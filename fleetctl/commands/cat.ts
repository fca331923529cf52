import type { CommandSpec } from '../command.js';
import { passThrough } from '../create.js';
import { mangleName, textOfOptions } from '../unitfile.js';
import { errorMessage } from '../../lib/errors.js';

export const cat: CommandSpec = {
  name: 'cat',
  usage: 'cat UNIT',
  summary: 'Output the contents of a submitted unit',
  description: `Outputs the unit file that is currently loaded in the cluster. Useful to verify
the correct version of a unit is running.`,
  flags: {},
  needsClient: true,
  async run(ctx, args) {
    if (args.length !== 1) {
      ctx.out.err('One unit file must be provided');
      return 1;
    }
    const name = mangleName(args[0]!);
    let u;
    try {
      u = await ctx.client.unit(name);
    } catch (err) {
      passThrough(err);
      ctx.out.err(`Error retrieving Unit ${name}: ${errorMessage(err)}`);
      return 1;
    }
    if (!u) {
      ctx.out.err(`Unit ${name} not found`);
      return 1;
    }
    ctx.out.write(textOfOptions(u.options));
    return 0;
  },
};
