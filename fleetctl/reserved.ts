/**
 * fleetctl's side of the name policy (lib/unit/names.ts): before submit, load or start writes anything, every unit
 * named on the command line, and every unit its local file names in [Install] Alias=/Also=, must be one fleet may
 * manage. The same check runs for both drivers (the API and fleetd's agents check again).
 */
import { ReservedUnitNameError, checkManageableUnit, checkManageableUnitName } from '../lib/unit/index.js';
import type { CommandContext } from './context.js';
import { mangleName, optionsFromText, withDefaultType } from './unitfile.js';

/** The refusal of the first argument fleet must not manage, or undefined. Other problems are left to the caller. */
export function reservedArgument(ctx: CommandContext, args: readonly string[]): ReservedUnitNameError | undefined {
  for (const raw of args) {
    const arg = withDefaultType(raw);
    const name = mangleName(arg);
    try {
      checkManageableUnitName(name);
      let text: string | Uint8Array | undefined;
      try {
        text = ctx.files.read(arg);
      } catch {
        text = undefined; // unreadable files are reported where they are read
      }
      if (text === undefined) continue;
      let options;
      try {
        options = optionsFromText(text, arg);
      } catch {
        continue; // a malformed file is reported where it is read
      }
      checkManageableUnit(name, { options });
    } catch (err) {
      if (err instanceof ReservedUnitNameError) return err;
    }
  }
  return undefined;
}
