/**
 * fleetctl's root help (`fleetctl`, `fleetctl help`) without loading any command module, so fast-path.ts can
 * print it before the CLI is imported (issue 13). It is built from COMMAND_INDEX, a static copy of each
 * command's name, summary and visibility; test/fleetctl/lazy-load.test.ts checks it against COMMANDS.
 */
import { VERSION } from '../lib/version.js';
import { compareStrings } from '../lib/compare.js';
import type { FlagSpec } from './command.js';
import { CLI_DESCRIPTION, GLOBAL_FLAGS } from './globals.js';
import { tabwrite } from './tabwriter.js';

export interface CommandIndexEntry {
  readonly name: string;
  readonly summary: string;
  readonly hidden?: true;
}

/** Every subcommand as in COMMANDS (fleetctl/commands.ts), same order: name, summary, hidden. */
export const COMMAND_INDEX: readonly CommandIndexEntry[] = [
  { name: 'cat', summary: 'Output the contents of a submitted unit' },
  { name: 'destroy', summary: 'Destroy one or more units in the cluster' },
  { name: 'fd-forward', summary: 'Proxy stdin and stdout to a unix domain socket' },
  { name: 'import', summary: 'Copy the units of another fleet cluster (such as fleet v1) into this one.' },
  { name: 'journal', summary: 'Print the journal of a unit in the cluster to stdout' },
  { name: 'list-machines', summary: 'Enumerate the current hosts in the cluster' },
  { name: 'list-unit-files', summary: 'List the units that exist in the cluster.' },
  { name: 'list-units', summary: 'List the current state of units in the cluster' },
  { name: 'load', summary: 'Schedule one or more units in the cluster, first submitting them if necessary.' },
  { name: 'plan', summary: 'Show where units would be scheduled, and why others cannot be placed (dry run).' },
  { name: 'restart', summary: 'Instruct systemd to rolling restart one or more units in the cluster.' },
  { name: 'rollout', summary: 'Show and steer rolling updates started with start --rolling.' },
  { name: 'ssh', summary: 'Open interactive shell on a machine in the cluster' },
  { name: 'start', summary: 'Instruct systemd to start one or more units in the cluster, first submitting and loading if necessary.' },
  { name: 'status', summary: 'Output the status of one or more units in the cluster' },
  { name: 'stop', summary: 'Instruct systemd to stop one or more units in the cluster.' },
  { name: 'submit', summary: 'Upload one or more units to the cluster without starting them' },
  { name: 'unload', summary: 'Unschedule one or more units in the cluster.' },
  { name: 'verify', summary: 'DEPRECATED - No longer works', hidden: true },
  { name: 'version', summary: 'Print the version and exit' },
];

/** The OPTIONS / GLOBAL OPTIONS block of a help text: visible flags by name, tab-aligned. */
export function flagLines(flags: Readonly<Record<string, FlagSpec>>): string {
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
  const rows = COMMAND_INDEX.filter((c) => !c.hidden).map((c) => `\t${c.name}\t${c.summary}`);
  rows.push('\thelp\tHelp about any command');
  rows.push('\tcompletion\tPrint a bash/zsh completion script (source it: fleetctl completion >> ~/.bashrc)');
  s += tabwrite(rows.join('\n') + '\n');
  s += '\nGLOBAL OPTIONS:\n' + flagLines(GLOBAL_FLAGS);
  s += '\nGlobal options can also be set as FLEETCTL_<OPTION> environment variables (e.g. FLEETCTL_ENDPOINT).\n';
  s += 'Run "fleetctl help <command>" for more information on a command.\n';
  return s;
}
