/** What `load` and `start` share: submit if needed, set the target state, wait for non-global units to get there. */
import { SIGN_WARNING, flagBool, flagNumber, type FlagValues } from '../command.js';
import type { CommandContext } from '../context.js';
import { lazyCreateUnits, setTargetStates } from '../create.js';
import { isGlobalUnit, mangleName } from '../unitfile.js';
import { blockAttempts, waitForUnitStates } from '../wait.js';
import { reportFailure } from './report.js';
import { CommandExit } from '../errors.js';

export interface Transition {
  readonly command: 'load' | 'start';
  readonly state: 'loaded' | 'launched';
  /** "loading" / "starting", for the error line */
  readonly gerund: string;
}

/** fleet's checks before any unit is read: `--sign` is refused (exit 2), no unit named is a no-op (exit 0). */
export function refuseBeforeCreating(ctx: CommandContext, args: readonly string[], flags: FlagValues): void {
  if (flagBool(flags, 'sign')) {
    ctx.out.err(SIGN_WARNING);
    throw new CommandExit(2);
  }
  if (args.length === 0) {
    ctx.out.err('No units given');
    throw new CommandExit(0);
  }
}

/** The non-global units that reached the state and the wait attempts; a failure ends the command (CommandExit). */
export async function createAndTarget(
  ctx: CommandContext,
  args: readonly string[],
  flags: FlagValues,
  t: Transition,
): Promise<{ units: string[]; attempts: number; retried: ReadonlySet<string> }> {
  refuseBeforeCreating(ctx, args, flags);
  const replace = flagBool(flags, 'replace');
  try {
    await lazyCreateUnits(ctx, args, { command: t.command, replace, blockAttempts: flagNumber(flags, 'block-attempts') });
  } catch (err) {
    reportFailure(ctx, 'Error creating units', err);
  }
  let triggered;
  const retried = new Set<string>();
  try {
    // load never lowers a launched unit; start starts a failed one again (docs/fleet-compat.md#fleetctl)
    const opts = t.command === 'load' ? { raiseOnly: true } : { retryFailed: true, retried };
    triggered = await setTargetStates(ctx, args.map(mangleName), t.state, opts);
  } catch (err) {
    reportFailure(ctx, `Error ${t.gerund} units`, err);
  }
  const units: string[] = [];
  for (const u of triggered) {
    if (isGlobalUnit(u.options)) ctx.out.out(`Triggered global unit ${u.name} ${t.command}`);
    else units.push(u.name);
  }
  const attempts = blockAttempts({ noBlock: flagBool(flags, 'no-block'), blockAttempts: flagNumber(flags, 'block-attempts') });
  const err = await waitForUnitStates(ctx, units, t.command, t.state, attempts);
  if (err) {
    ctx.out.err(`Error waiting for units: ${err.message}`);
    ctx.out.err(`Error waiting for unit states, exit status: ${err.message}`);
    throw new CommandExit(1);
  }
  return { units, attempts, retried };
}
