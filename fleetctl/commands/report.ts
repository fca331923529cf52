import { EndpointError } from '../client/errors.js';
import type { CommandContext } from '../context.js';
import { errorMessage } from '../../lib/errors.js';
import { CommandExit } from '../errors.js';

/** fleet's `stderr("<prefix>: %v", err)` + exit 1 (CommandExit); endpoint failures go to the top level untouched. */
export function reportFailure(ctx: CommandContext, prefix: string, err: unknown): never {
  if (err instanceof EndpointError) throw err;
  ctx.out.err(`${prefix}: ${errorMessage(err)}`);
  throw new CommandExit(1);
}
