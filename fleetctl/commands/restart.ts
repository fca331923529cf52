import type { DesiredState } from '../../lib/unit/types.js';
import { COUNT_RANGE, flagNumber, type CommandSpec } from '../command.js';
import type { ApiUnit } from '../client/types.js';
import type { CommandContext } from '../context.js';
import { lazyCreateUnits, passThrough } from '../create.js';
import { namedUnits } from './retarget.js';
import { isGlobalUnit } from '../unitfile.js';
import { ATTEMPT_MS, POLL_MS, blockAttempts, waitForSystemdActive, waitForUnitStates } from '../wait.js';
import { reportFailure } from './report.js';
import { errorMessage } from '../../lib/errors.js';
import { compareStrings } from '../../lib/compare.js';

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

/** The machines a global unit has a published state on, sorted. */
async function machinesRunning(ctx: CommandContext, name: string): Promise<string[]> {
  const states = await ctx.client.unitStates({ unitName: name });
  const ids = states.filter((s) => s.name === name).map((s) => s.machineID ?? '').filter((id) => id !== '');
  return [...new Set(ids)].sort(compareStrings);
}

/**
 * One machine of a rolling restart: the agent restarts the unit once and settles the request; then the machine's
 * published state must show it active again. Each of the two waits is bounded by the attempts (0: no bound).
 */
async function restartOn(ctx: CommandContext, name: string, machineId: string, attempts: number): Promise<string | undefined> {
  const token = await ctx.client.requestRestart(name, machineId);
  const bound = (): number => (attempts === 0 ? Infinity : ctx.clock.now() + attempts * ATTEMPT_MS);
  let deadline = bound();
  for (;;) {
    const r = await ctx.client.restartRequest(name, machineId);
    if (!r || r.token !== token) return 'the restart request was replaced or removed (unit changed or destroyed?)';
    if (r.status === 'failed') return `the restart failed: ${r.message ?? 'no reason given'}`;
    if (r.status === 'done') break;
    // a machine that left (its states go with its lease) never answers: do not wait for it without bound
    const here = await ctx.client.unitStates({ unitName: name, machineID: machineId });
    if (!here.some((x) => x.name === name && x.machineID === machineId)) return 'the machine no longer reports the unit (did it leave the cluster?)';
    if (ctx.clock.now() + POLL_MS > deadline) return 'its agent did not restart the unit in time';
    await ctx.clock.sleep(POLL_MS);
  }
  deadline = bound();
  for (;;) {
    const s = (await ctx.client.unitStates({ unitName: name, machineID: machineId })).find((x) => x.name === name && x.machineID === machineId);
    const active = s?.systemdActiveState;
    if (active === 'active') return undefined;
    if (active === 'failed') return `systemd reports ${s?.systemdLoadState ?? '-'}/failed/${s?.systemdSubState ?? '-'}`;
    if (ctx.clock.now() + POLL_MS > deadline) return `the unit is not active again (${s ? `${active ?? '-'}/${s.systemdSubState ?? '-'}` : 'no state'})`;
    await ctx.clock.sleep(POLL_MS);
  }
}

/**
 * Global units restart machine by machine (docs/fleet-compat.md#fleetctl): for each machine that runs the unit,
 * in machine id order, ask its agent to restart it and wait until it is active there again before the next one,
 * so at most one machine is without the unit at a time. Only a launched global unit restarts; a loaded one stays
 * loaded. A failure stops the roll and names the machine.
 */
async function restartGlobal(ctx: CommandContext, u: ApiUnit, attempts: number): Promise<boolean> {
  if (u.desiredState !== 'launched') {
    ctx.out.err(`Unable to restart global unit ${u.name} in state ${u.desiredState ?? 'inactive'}: only a launched global unit restarts`);
    return true;
  }
  let machines: string[];
  try {
    machines = await machinesRunning(ctx, u.name);
  } catch (err) {
    passThrough(err);
    ctx.out.err(`Error restarting global unit ${u.name}: ${errorMessage(err)}`);
    return false;
  }
  for (const m of machines) {
    let failure: string | undefined;
    try {
      failure = await restartOn(ctx, u.name, m, attempts);
    } catch (err) {
      passThrough(err);
      failure = errorMessage(err);
    }
    if (failure !== undefined) {
      ctx.out.err(`Error restarting global unit ${u.name} on machine ${m}: ${failure}`);
      return false;
    }
    ctx.out.out(`Restarted global unit ${u.name} on machine ${m}`);
  }
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
respective --block-attempts options. Global units are restarted machine by machine: fleetctl
waits until the unit is active again on one machine before restarting it on the next one.

Restart a single unit:
	fleetctl restart foo.service

Restart an entire directory of units with glob matching, without waiting:
	fleetctl restart myservice/*`,
  flags: {
    'block-attempts': {
      type: 'number',
      default: 0,
      range: COUNT_RANGE,
      describe: 'Wait until the units are stopped/started, performing up to N attempts before giving up. A value of 0 indicates no limit. For global units, bounds each wait on each machine.',
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
