/**
 * fleet's client logged through Go's logger with dates (client/go-log.ts) on stderr: DEBUG lines only with
 * FLEETCTL_DEBUG / --debug, WARN lines always. fleetctl prints the same facts in the same shape, the position
 * naming the line of fleet's source that logged it (docs/fleet-compat.md#fleetctl), so scripts and people that
 * read fleet's debug output read ours.
 */
import type { CommandContext } from './context.js';
import { goLogLine } from './client/go-log.js';

/** A debug line of fleet's client (only with --debug / FLEETCTL_DEBUG). */
export function debugLog(ctx: Pick<CommandContext, 'debug' | 'out'>, where: string, msg: string): void {
  if (ctx.debug) ctx.out.err(goLogLine(new Date(), 'DEBUG', where, msg));
}

/** A warning fleet's client logged (always printed). */
export function warnLog(ctx: Pick<CommandContext, 'out'>, where: string, msg: string): void {
  ctx.out.err(goLogLine(new Date(), 'WARN', where, msg));
}
