import type { DesiredState } from '../../lib/unit/types.js';
import { COUNT_RANGE, flagNumber, type CommandSpec } from '../command.js';
import type { ApiUnit } from '../client/types.js';
import type { CommandContext } from '../context.js';
import { lazyCreateUnits, passThrough } from '../create.js';
import { namedUnits } from './retarget.js';
import { isGlobalUnit } from '../unitfile.js';
import { blockAttempts, waitForSystemdActive, waitForUnitStates } from '../wait.js';
import { reportFailure } from './report.js';
import { errorMessage } from '../../lib/errors.js';

async function setAndWait(ctx: CommandContext, name: string, state: DesiredState, attempts: number): Promise<boolean> {
  try {
    await ctx.client.setDesiredState(name, state);
  } catch (err) {
    passThrough(err);
    ctx.out.err(`Error setting target state for unit ${name}: ${errorMessage(err)}`);
    return false;
  }
  const err = await waitForUnitStates(ctx, [name], 'restart', state, attempts);
  if (err) {
    ctx.out.err(`Error waiting for units: ${err.message}`);
    ctx.out.err(`Error waiting for unit states, exit status: ${err.message}`);
    return false;
  }
  return true;
}

/** Global units: stop everywhere (desired loaded), wait until no machine reports them active, start again. */
async function restartGlobal(ctx: CommandContext, u: ApiUnit, attempts: number): Promise<boolean> {
  try {
    await ctx.client.setDesiredState(u.name, 'loaded');
    // Global restarts never block for long: at most the attempts given, else 30 s, for the stop to show.
    const deadline = ctx.clock.now() + (attempts > 0 ? attempts : 15) * 2000;
    for (;;) {
      const states = await ctx.client.unitStates({ unitName: u.name });
      if (!states.some((s) => s.systemdActiveState === 'active' || s.systemdActiveState === 'deactivating')) break;
      if (ctx.clock.now() > deadline) break;
      await ctx.clock.sleep(250);
    }
    await ctx.client.setDesiredState(u.name, 'launched');
  } catch (err) {
    passThrough(err);
    ctx.out.err(`Error restarting global units [${u.name}] err:${errorMessage(err)}`);
    return false;
  }
  ctx.out.out(`Triggered global unit ${u.name} restart`);
  return true;
}

export const restart: CommandSpec = {
  name: 'restart',
  usage: 'restart [--block-attempts=N] UNIT...',
  summary: 'Instruct systemd to rolling restart one or more units in the cluster.',
  description: `Restarts one or more units in the cluster. If they are stopped it starts them.

Instructs systemd on the host machine to stop then start the unit, deferring to systemd
completely for any custom restart directives (i.e. ExecStop options in the unit
file).

For units which are not global, restart operations are performed synchronously,
which means fleetctl will block until it detects that the unit(s) have
transitioned to a stopped state and then back to a started state. This behaviour can be configured with the
respective --block-attempts options. Restart operations on global
units are always non-blocking.

Restart a single unit:
	fleetctl restart foo.service

Restart an entire directory of units with glob matching, without waiting:
	fleetctl restart myservice/*`,
  flags: {
    'block-attempts': {
      type: 'number',
      default: 0,
      range: COUNT_RANGE,
      describe: 'Wait until the units are stopped/started, performing up to N attempts before giving up. A value of 0 indicates no limit. Does not apply to global units.',
    },
  },
  needsClient: true,
  async run(ctx, args, flags) {
    const units = await namedUnits(ctx, args, false);
    const attempts = blockAttempts({ blockAttempts: flagNumber(flags, 'block-attempts') });
    try {
      await lazyCreateUnits(ctx, args, { command: 'restart', replace: false, blockAttempts: attempts });
    } catch (err) {
      return reportFailure(ctx, 'Error creating units', err);
    }
    let exit = 0;
    for (const u of units) {
      if (isGlobalUnit(u.options)) {
        if (!(await restartGlobal(ctx, u, attempts))) return 1;
        continue;
      }
      const cs = u.currentState ?? 'inactive';
      if (cs === 'inactive') {
        ctx.out.err(`Unable to restart unit ${u.name} in state inactive`);
        continue;
      }
      if (cs === 'launched' && !(await setAndWait(ctx, u.name, 'loaded', attempts))) return 1;
      if (!(await setAndWait(ctx, u.name, 'launched', attempts))) return 1;
      const active = await waitForSystemdActive(ctx, [u.name], attempts);
      if (active) {
        ctx.out.err(`Error waiting for systemd unit states, err: ${active.message}`);
        exit = 1;
      }
    }
    return exit;
  },
};
