/**
 * fleet's client logged through Go's logger with dates: `2006/01/02 15:04:05 LEVEL file.go:N: message` on stderr,
 * DEBUG lines only with FLEETCTL_DEBUG / --debug, WARN lines always. fleetctl prints the same facts in the same
 * shape, the position naming the line of fleet's source that logged it (docs/fleet-compat.md#fleetctl), so
 * scripts and people that read fleet's debug output read ours.
 */
import type { CommandContext } from './context.js';

export type GoLogLevel = 'DEBUG' | 'WARN';

/** One line as fleet's logger wrote it (local time, as Go's log package). */
export function goLogLine(now: Date, level: GoLogLevel, where: string, msg: string): string {
  const p = (n: number): string => String(n).padStart(2, '0');
  const stamp = `${now.getFullYear()}/${p(now.getMonth() + 1)}/${p(now.getDate())} ${p(now.getHours())}:${p(now.getMinutes())}:${p(now.getSeconds())}`;
  return `${stamp} ${level} ${where}: ${msg}`;
}

/** A debug line of fleet's client (only with --debug / FLEETCTL_DEBUG). */
export function debugLog(ctx: Pick<CommandContext, 'debug' | 'out'>, where: string, msg: string): void {
  if (ctx.debug) ctx.out.err(goLogLine(new Date(), 'DEBUG', where, msg));
}

/** A warning fleet's client logged (always printed). */
export function warnLog(ctx: Pick<CommandContext, 'out'>, where: string, msg: string): void {
  ctx.out.err(goLogLine(new Date(), 'WARN', where, msg));
}
