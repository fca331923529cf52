/** fleet's usage layout: NAME / USAGE / VERSION / COMMANDS / DESCRIPTION / OPTIONS / GLOBAL OPTIONS. */
import type { CommandSpec } from './command.js';
import { flagLines } from './root-help.js';
import { GLOBAL_FLAGS } from './globals.js';

export { rootHelp } from './root-help.js';

export function commandHelp(c: CommandSpec): string {
  let s = `NAME:\n\tfleetctl ${c.name} - ${c.summary}\n\n`;
  s += `USAGE:\n\tfleetctl ${c.usage}\n`;
  if (c.description) {
    s += '\nDESCRIPTION:\n';
    for (const line of c.description.trim().split('\n')) s += `\t${line}\n`;
  }
  if (Object.values(c.flags).some((f) => !f.hidden)) s += '\nOPTIONS:\n' + flagLines(c.flags);
  s += '\nGLOBAL OPTIONS:\n' + flagLines(GLOBAL_FLAGS);
  return s;
}
