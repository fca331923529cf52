/**
 * fleetctl's command line: cobra-like behaviour on yargs. Subcommands match by unambiguous prefix and may come
 * after their own flags; global flags fall back to FLEETCTL_<FLAG>; `--version`/`-v` first prints the version.
 */
import yargs, { type Options } from 'yargs';
import { setLogLevel } from '../lib/log.js';
import { UsageError } from '../lib/errors.js';
import { parseNumberFlag, type CommandSpec, type FlagSpec, type FlagValues } from './command.js';
import { COMMANDS } from './commands.js';
import { versionLine } from './commands/version.js';
import type { Clock, LocalFiles } from './context.js';
import { GLOBAL_FLAGS, globalDefaults, globalOptions } from './globals.js';
import { commandHelp, rootHelp } from './help.js';
import type { Output } from './output.js';
import { runSpec } from './run.js';

export interface CliIO {
  /** Arguments after the program name. */
  argv: readonly string[];
  env: NodeJS.ProcessEnv;
  out: Output;
  files?: LocalFiles;
  clock?: Clock;
}

const EXTRA_COMMANDS = ['help', 'completion'];

function allFlagSpecs(): [string, FlagSpec][] {
  const out: [string, FlagSpec][] = Object.entries(GLOBAL_FLAGS);
  for (const c of COMMANDS) out.push(...Object.entries(c.flags));
  return out;
}

/** Flags (names and one-letter aliases) that consume the next argument when written without `=`. */
function valueFlags(): Set<string> {
  const s = new Set<string>();
  for (const [name, f] of allFlagSpecs()) {
    if (f.type === 'boolean') continue;
    s.add(`--${name}`);
    if (f.alias) s.add(f.alias.length === 1 ? `-${f.alias}` : `--${f.alias}`);
  }
  return s;
}

interface Located {
  /** Index of the subcommand token in argv, or -1. */
  index: number;
  /** The resolved subcommand name. */
  name?: string;
  /** The token as written when it matched nothing. */
  unknown?: string;
  ambiguous?: string[];
}

/** Finds the subcommand like cobra: the first positional argument, completed when it is a unique prefix. */
function locateCommand(args: readonly string[]): Located {
  const takesValue = valueFlags();
  const names = [...COMMANDS.map((c) => c.name), ...EXTRA_COMMANDS];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--') return { index: -1 };
    if (a.startsWith('-') && a !== '-') {
      if (!a.includes('=') && takesValue.has(a)) i++;
      continue;
    }
    if (names.includes(a)) return { index: i, name: a };
    const matches = names.filter((n) => n.startsWith(a));
    if (matches.length === 1) return { index: i, name: matches[0]! };
    return { index: i, unknown: a, ...(matches.length > 1 ? { ambiguous: matches } : {}) };
  }
  return { index: -1 };
}

function yargsOption(f: FlagSpec, dflt: unknown, flagName: string): Options {
  const o: Record<string, unknown> = { type: f.type === 'number' ? 'string' : f.type, default: dflt ?? f.default, hidden: f.hidden === true };
  if (f.alias) o.alias = f.alias;
  const lastOf = (v: unknown): unknown => (Array.isArray(v) ? v[v.length - 1] : v);
  if (f.type !== 'number') o.coerce = lastOf;
  if (f.type === 'number') o.coerce = (v: unknown): number => parseNumberFlag(flagName, lastOf(v), f.range);
  return o as Options;
}

function hasHelpFlag(args: readonly string[]): boolean {
  for (const a of args) {
    if (a === '--') return false;
    if (a === '--help' || a === '-h' || a === '--help=true' || a === '-h=true') return true;
  }
  return false;
}

/** Runs fleetctl; resolves with the exit status. Endpoint failures and usage errors propagate (see full.ts). */
export async function runCli(io: CliIO): Promise<number> {
  const args = [...io.argv];
  const { out } = io;
  if (args.length === 0) {
    out.write(rootHelp());
    return 0;
  }
  if (args[0] === '--version' || args[0] === '-v') {
    out.out(versionLine());
    return 0;
  }
  const loc = locateCommand(args);
  if (loc.unknown !== undefined) {
    const hint = loc.ambiguous ? ` (ambiguous: ${loc.ambiguous.join(', ')})` : '';
    throw new UsageError(`unknown command ${JSON.stringify(loc.unknown)} for "fleetctl"${hint}\nRun 'fleetctl help' for usage.`);
  }
  const name = loc.name;
  const spec = COMMANDS.find((c) => c.name === name);
  if (name === 'help' || hasHelpFlag(args)) {
    const topic = name === 'help' ? args.slice(loc.index + 1).find((a) => !a.startsWith('-')) : name;
    if (topic === undefined || topic === 'help') {
      out.write(rootHelp());
      return 0;
    }
    const c = COMMANDS.find((x) => x.name === topic) ?? COMMANDS.filter((x) => x.name.startsWith(topic)).find((_, __, all) => all.length === 1);
    if (!c) {
      if (topic === 'completion') {
        out.out('Usage: fleetctl completion >> ~/.bashrc (or ~/.zshrc): prints a shell completion script.');
        return 0;
      }
      throw new UsageError(`unknown help topic ${JSON.stringify(topic)}\nRun 'fleetctl help' for usage.`);
    }
    out.write(commandHelp(c));
    return 0;
  }
  const ordered = loc.index >= 0 ? [name!, ...args.slice(0, loc.index), ...args.slice(loc.index + 1)] : args;

  const defaults = globalDefaults(io.env);
  let chosen: { spec: CommandSpec; argv: Record<string, unknown> } | undefined;
  let parsedGlobals: Record<string, unknown> = {};
  let completionOutput = '';

  let y = yargs(ordered)
    .scriptName('fleetctl')
    .parserConfiguration({
      'boolean-negation': false,
      'camel-case-expansion': false,
      'dot-notation': false,
      'parse-positional-numbers': false,
      'strip-aliased': true,
    })
    .help(false)
    .version(false)
    .exitProcess(false)
    .strict()
    .fail((msg, err) => {
      throw err ?? new UsageError(msg);
    });
  for (const [flag, f] of Object.entries(GLOBAL_FLAGS)) {
    if (flag === 'help') continue;
    y = y.option(flag, { ...yargsOption(f, defaults[flag], flag), global: true });
  }
  for (const c of COMMANDS) {
    y = y.command(
      `${c.name} [args..]`,
      false,
      (b) => {
        let bb = b;
        for (const [flag, f] of Object.entries(c.flags)) bb = bb.option(flag, yargsOption(f, undefined, flag));
        return bb;
      },
      (argv) => {
        chosen = { spec: c, argv: argv as Record<string, unknown> };
      },
    );
  }
  y = y.completion('completion', false, (current, argv, done) => {
    void argv;
    const names = COMMANDS.filter((c) => !c.hidden).map((c) => c.name);
    done(names.filter((n) => n.startsWith(current)));
  });
  const origLog = console.log;
  if (name === 'completion' || args.includes('--get-yargs-completions')) {
    console.log = (...parts: unknown[]) => {
      completionOutput += parts.map(String).join(' ') + '\n';
    };
  }
  try {
    parsedGlobals = (await y.parseAsync()) as Record<string, unknown>;
  } catch (err) {
    // yargs' strict mode rejects its own completion command after printing the script.
    if (!completionOutput) throw err;
  } finally {
    console.log = origLog;
  }
  if (completionOutput) {
    out.write(completionOutput);
    return 0;
  }
  if (parsedGlobals.debug === true) setLogLevel('debug');
  if (!chosen) {
    out.write(rootHelp());
    return 0;
  }
  const g = globalOptions(parsedGlobals as FlagValues);
  // Arguments after `--` land in `_` behind the command name.
  const afterDashes = ((chosen.argv._ as unknown[]) ?? []).slice(1);
  const positional = [...((chosen.argv.args as unknown[]) ?? []), ...afterDashes].map(String);
  const flags = chosen.argv as FlagValues;

  return runSpec(chosen.spec, g, io, positional, flags);
}
