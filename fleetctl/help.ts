/** fleet's usage layout: NAME / USAGE / VERSION / COMMANDS / DESCRIPTION / OPTIONS / GLOBAL OPTIONS. */
import { VERSION } from '../lib/version.js';
import { compareStrings } from '../lib/compare.js';
import type { CommandSpec, FlagSpec } from './command.js';
import { COMMANDS } from './commands.js';
import { CLI_DESCRIPTION, GLOBAL_FLAGS } from './globals.js';
import { tabwrite } from './tabwriter.js';

function flagLines(flags: Readonly<Record<string, FlagSpec>>): string {
  const rows: string[] = [];
  for (const [name, f] of Object.entries(flags).sort(([a], [b]) => compareStrings(a, b))) {
    if (f.hidden) continue;
    const short = f.alias && f.alias.length === 1 ? `-${f.alias}, ` : '    ';
    const dflt = f.type === 'string' ? `=${JSON.stringify(f.default ?? '')}` : f.type === 'number' ? `=${f.default ?? 0}` : f.default === true ? '=true' : '';
    rows.push(`\t${short}--${name}${dflt}\t${f.describe}`);
  }
  return tabwrite(rows.join('\n') + '\n');
}

export function rootHelp(): string {
  let s = `NAME:\n\tfleetctl - ${CLI_DESCRIPTION}\n\n`;
  s += `USAGE:\n\tfleetctl [global options] <command> [command options] [arguments...]\n\n`;
  s += `VERSION:\n\t${VERSION}\n\n`;
  s += 'COMMANDS:\n';
  const rows = COMMANDS.filter((c) => !c.hidden).map((c) => `\t${c.name}\t${c.summary}`);
  rows.push('\thelp\tHelp about any command');
  rows.push('\tcompletion\tPrint a bash/zsh completion script (source it: fleetctl completion >> ~/.bashrc)');
  s += tabwrite(rows.join('\n') + '\n');
  s += '\nGLOBAL OPTIONS:\n' + flagLines(GLOBAL_FLAGS);
  s += '\nGlobal options can also be set as FLEETCTL_<OPTION> environment variables (e.g. FLEETCTL_ENDPOINT).\n';
  s += 'Run "fleetctl help <command>" for more information on a command.\n';
  return s;
}

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
