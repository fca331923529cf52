/** What `stop`, `unload`, `destroy` and `restart` share: find the named units, change them, wait, report. */
import type { DesiredState } from '../../lib/unit/types.js';
import { flagBool, flagNumber, type FlagValues } from '../command.js';
import type { ApiUnit } from '../client/types.js';
import type { CommandContext } from '../context.js';
import { findUnits, passThrough } from '../create.js';
import { goList } from '../output.js';
import { isGlobalUnit } from '../unitfile.js';
import { blockAttempts, waitForUnitStates } from '../wait.js';
import { debugLog } from '../golog.js';
import { errorMessage } from '../../lib/errors.js';
import { CommandExit } from '../errors.js';

/**
 * The registered units the arguments name; after saying why there are none, the command ends (CommandExit).
 * `requireSome`: finding none is reported as "Units not found in registry" (exit 0, as fleet).
 */
export async function namedUnits(ctx: CommandContext, args: readonly string[], requireSome = true): Promise<ApiUnit[]> {
  if (args.length === 0) {
    ctx.out.err('No units given');
    throw new CommandExit(0);
  }
  let units: ApiUnit[];
  try {
    units = await findUnits(ctx, args);
  } catch (err) {
    passThrough(err);
    ctx.out.err(errorMessage(err));
    throw new CommandExit(1);
  }
  if (requireSome && units.length === 0) {
    ctx.out.err('Units not found in registry');
    throw new CommandExit(0);
  }
  return units;
}

export interface Retarget {
  readonly command: 'stop' | 'unload';
  readonly state: Extract<DesiredState, 'loaded' | 'inactive'>;
  /** "stopped" / "unloaded", for the closing line */
  readonly done: string;
  /** For a non-global unit: leave it as it is, change it, or refuse with this message (exit 1). */
  readonly check: (u: ApiUnit) => 'skip' | 'set' | { refuse: string };
}

/** Sets the target state of each unit in order, then waits for the non-global ones to reach it. */
export async function retarget(ctx: CommandContext, units: readonly ApiUnit[], flags: FlagValues, r: Retarget): Promise<number> {
  const waiting: string[] = [];
  for (const u of units) {
    const global = isGlobalUnit(u.options);
    if (!global) {
      const verdict = r.check(u);
      if (verdict === 'skip') {
        if (r.command === 'stop') debugLog(ctx, 'stop.go:81', `Unit(${u.name}) already loaded, skipping.`);
        else debugLog(ctx, 'unload.go:60', `Target state of Unit(${u.name}) already inactive, skipping.`);
        continue;
      }
      if (verdict !== 'set') {
        ctx.out.err(verdict.refuse);
        return 1;
      }
    }
    debugLog(ctx, r.command === 'stop' ? 'stop.go:86' : 'unload.go:65', `Setting target state of Unit(${u.name}) to ${r.state}`);
    try {
      await ctx.client.setDesiredState(u.name, r.state);
    } catch (err) {
      passThrough(err);
      ctx.out.err(`Error setting target state of unit ${u.name}: ${errorMessage(err)}`);
      return 1;
    }
    if (global) ctx.out.out(`Triggered global unit ${u.name} ${r.command}`);
    else waiting.push(u.name);
  }
  const attempts = blockAttempts({ noBlock: flagBool(flags, 'no-block'), blockAttempts: flagNumber(flags, 'block-attempts') });
  const err = await waitForUnitStates(ctx, waiting, r.command, r.state, attempts);
  if (err) {
    ctx.out.err(`Error waiting for units: ${err.message}`);
    ctx.out.err(`Failed to ${r.command} units ${goList(waiting)}. err: ${err.message}`);
    return 1;
  }
  ctx.out.err(`Successfully ${r.done} units ${goList(waiting)}.`);
  return 0;
}
