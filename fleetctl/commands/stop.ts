import { BLOCK_FLAGS, flagBool, flagNumber, type CommandSpec } from '../command.js';
import { findUnits, passThrough } from '../create.js';
import { goList } from '../output.js';
import { isGlobalUnit } from '../unitfile.js';
import { blockAttempts, waitForUnitStates } from '../wait.js';

export const stop: CommandSpec = {
  name: 'stop',
  usage: 'stop [--no-block|--block-attempts=N] UNIT...',
  summary: 'Instruct systemd to stop one or more units in the cluster.',
  description: `Stop one or more units from running in the cluster, but allow them to be
started again in the future.

Instructs systemd on the host machine to stop the unit, deferring to systemd
completely for any custom stop directives (i.e. ExecStop option in the unit
file).

For units which are not global, stop operations are performed synchronously,
which means fleetctl will block until it detects that the unit(s) have
transitioned to a stopped state. This behaviour can be configured with the
respective --block-attempts and --no-block options. Stop operations on global
units are always non-blocking.

Stop a single unit:
fleetctl stop foo.service

Stop an entire directory of units with glob matching, without waiting:
fleetctl --no-block stop myservice/*`,
  flags: BLOCK_FLAGS('stopped'),
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
    const stopping: string[] = [];
    for (const u of units) {
      const global = isGlobalUnit(u.options);
      if (!global) {
        const cs = u.currentState ?? 'inactive';
        if (cs === 'inactive') {
          ctx.out.err(`Unable to stop unit ${u.name} in state inactive`);
          return 1;
        }
        if (cs === 'loaded') continue;
      }
      try {
        await ctx.client.setDesiredState(u.name, 'loaded');
      } catch (err) {
        passThrough(err);
        ctx.out.err(`Error setting target state of unit ${u.name}: ${(err as Error).message}`);
        return 1;
      }
      if (global) ctx.out.out(`Triggered global unit ${u.name} stop`);
      else stopping.push(u.name);
    }
    const attempts = blockAttempts({ noBlock: flagBool(flags, 'no-block'), blockAttempts: flagNumber(flags, 'block-attempts') });
    const err = await waitForUnitStates(ctx, stopping, 'stop', 'loaded', attempts);
    if (err) {
      ctx.out.err(`Error waiting for units: ${err.message}`);
      ctx.out.err(`Failed to stop units ${goList(stopping)}. err: ${err.message}`);
      return 1;
    }
    ctx.out.err(`Successfully stopped units ${goList(stopping)}.`);
    return 0;
  },
};
