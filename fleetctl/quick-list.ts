/**
 * The list commands (list-machines, list-units, list-unit-files) over the API driver without yargs and without
 * any other command module (issue 13: fleetctl list-machines should start about as fast as fleet's).
 * entry.ts asks here after fast-path.ts and before it imports the CLI. An exact parser accepts only the command
 * line forms it fully understands: the command's exact name once, no other positional argument, each known flag
 * at most once as `--flag=value`, `--flag value` or (booleans) `--flag`, `--flag=true|false`, `-l`. Anything else
 * (an unknown or repeated flag, a prefix of the command, `--`, --help, --debug, --driver=etcd, --tunnel, a bad
 * value, a bad FLEETCTL_* variable) is left to the full CLI (cli.ts), so output, errors and exit codes are the
 * full CLI's byte for byte (test/fleetctl/quick-list.test.ts compares both over a table of command lines).
 */
import { parseNumberFlag, type CommandSpec, type FlagSpec } from './command.js';
import { GLOBAL_FLAGS, globalDefaults, globalOptions } from './globals.js';
import type { Output } from './output.js';

/** The commands served here, each loaded alone. */
export const QUICK_COMMANDS: Readonly<Record<string, () => Promise<CommandSpec>>> = {
  'list-machines': async () => (await import('./commands/list-machines.js')).listMachines,
  'list-units': async () => (await import('./commands/list-units.js')).listUnits,
  'list-unit-files': async () => (await import('./commands/list-unit-files.js')).listUnitFiles,
};

/** The command's own flags that take a value: the same for every list command (fleetctl/fields.ts's listFlags). */
const COMMAND_VALUE_FLAGS = ['fields', 'output'];

/** Flags (as written) that consume the next argument when given without `=`, as cli.ts's locateCommand skips them. */
function valueFlagTokens(): Set<string> {
  const s = new Set<string>();
  for (const [name, f] of Object.entries(GLOBAL_FLAGS)) if (f.type !== 'boolean') s.add(`--${name}`);
  for (const name of COMMAND_VALUE_FLAGS) s.add(`--${name}`);
  return s;
}

/** Index of the list command in argv, or undefined when the command line is not one this module handles. */
function locate(argv: readonly string[]): number | undefined {
  const takesValue = valueFlagTokens();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a.startsWith('-') && a !== '-' && a !== '--') {
      if (!a.includes('=') && takesValue.has(a)) i++;
      continue;
    }
    return Object.hasOwn(QUICK_COMMANDS, a) ? i : undefined;
  }
  return undefined;
}

type Parsed = Record<string, boolean | string | number>;

/** The flags of argv (without the command at `at`) by name, or undefined for anything not fully understood. */
function parseFlags(argv: readonly string[], at: number, spec: CommandSpec): { globals: Parsed; own: Parsed } | undefined {
  const globals: Parsed = {};
  const own: Parsed = {};
  for (let i = 0; i < argv.length; i++) {
    if (i === at) continue;
    const a = argv[i]!;
    let name: string;
    let value: string | undefined;
    if (a.startsWith('--') && a.length > 2) {
      const eq = a.indexOf('=');
      name = eq < 0 ? a.slice(2) : a.slice(2, eq);
      value = eq < 0 ? undefined : a.slice(eq + 1);
    } else if (a === '-l' && spec.flags.full?.alias === 'l') {
      name = 'full';
    } else {
      return undefined;
    }
    if (name === 'help' || name === 'version' || name === 'debug') return undefined;
    const global = Object.hasOwn(GLOBAL_FLAGS, name);
    const f: FlagSpec | undefined = global ? GLOBAL_FLAGS[name] : Object.hasOwn(spec.flags, name) ? spec.flags[name] : undefined;
    const into = global ? globals : own;
    if (f === undefined || Object.hasOwn(into, name)) return undefined;
    if (f.type === 'boolean') {
      if (value === undefined || value === 'true') into[name] = true;
      else if (value === 'false') into[name] = false;
      else return undefined;
      continue;
    }
    if (value === undefined) {
      const next = argv[i + 1];
      if (next === undefined || i + 1 === at || next.startsWith('-')) return undefined;
      value = next;
      i++;
    }
    if (f.type === 'number') {
      try {
        into[name] = parseNumberFlag(name, value, f.range);
      } catch {
        return undefined;
      }
    } else {
      into[name] = value;
    }
  }
  return { globals, own };
}

/**
 * Runs a list command over the API driver when argv is one of the command lines this module fully understands;
 * resolves with the exit status, or with undefined (nothing written) when the full CLI must handle argv.
 * Endpoint failures and usage errors after that decision propagate as from cli.ts's runCli.
 */
export async function quickList(argv: readonly string[], env: NodeJS.ProcessEnv, out: Output): Promise<number | undefined> {
  const at = locate(argv);
  if (at === undefined) return undefined;
  const spec = await QUICK_COMMANDS[argv[at]!]!();
  const valueFlags = Object.entries(spec.flags).filter(([, f]) => f.type !== 'boolean').map(([n]) => n);
  if (valueFlags.some((n) => !COMMAND_VALUE_FLAGS.includes(n))) return undefined;
  const parsed = parseFlags(argv, at, spec);
  if (!parsed) return undefined;
  let defaults: Parsed;
  try {
    defaults = globalDefaults(env);
  } catch {
    return undefined;
  }
  const values = { ...defaults, ...parsed.globals };
  // The API client sends its GETs over node:net where it can (fleetctl/client/raw-get.ts, issue 13).
  const g = { ...globalOptions(values), rawGets: true };
  if (g.debug || g.driver.toLowerCase() !== 'api' || g.tunnel !== '' || !g.experimentalApi) return undefined;
  const flags: Parsed = { ...values };
  for (const [name, f] of Object.entries(spec.flags)) if (f.default !== undefined) flags[name] = f.default;
  Object.assign(flags, parsed.own);
  const { runSpec } = await import('./run.js');
  return runSpec(spec, g, { out, env }, [], flags);
}
