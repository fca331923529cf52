/**
 * fleetd's command line: `--config PATH`, `--version` or `version`, `-h`/`--help`, and `--<option>=VALUE` for any
 * config option.
 */
import { ConfigError, DEFAULT_CONFIG_FILE, OPTION_NAMES, defaultConfig, loadConfig, type ConfigSources, type LoadedConfig } from './config.js';
import { FLEET_OPTION_TABLE, type OptionKind } from '../lib/fleet-options.js';
import { VERSION } from '../lib/version.js';
import { errorMessage } from '../lib/errors.js';

/**
 * What fleetd makes of its command line and configuration before any daemon module loads: exit at once (the
 * version on stdout, or one line on stderr saying what is wrong: 2 bad flags, 1 bad configuration), or run with
 * this configuration. main.ts writes and exits; the corpus tests call this in their own process.
 */
export type Startup = { exit: number; stdout: string; stderr: string } | { loaded: LoadedConfig; sources: ConfigSources };

export function readStartup(argv: readonly string[], env: NodeJS.ProcessEnv): Startup {
  let args: ReturnType<typeof parseArgs>;
  try {
    args = parseArgs(argv, env);
  } catch (err) {
    return { exit: 2, stdout: '', stderr: `fleetd: ${errorMessage(err)}\n` };
  }
  if (args.help) return { exit: 0, stdout: usage(), stderr: '' };
  if (args.version) return { exit: 0, stdout: `fleetd version ${VERSION}\n`, stderr: '' };
  try {
    return { loaded: loadConfig(args.sources), sources: args.sources };
  } catch (err) {
    return { exit: 1, stdout: '', stderr: `fleetd: ${errorMessage(err)}\n` };
  }
}

const PLACEHOLDER: Readonly<Record<OptionKind, string>> = {
  int: 'N',
  seconds: 'SECONDS',
  duration: 'DURATION',
  bool: 'true|false',
  string: 'TEXT',
  path: 'PATH',
  'url-list': 'URL[,URL...]',
  metadata: 'K=V[,K=V...]',
  choice: '',
  ip: 'IP',
  'key-prefix': 'PREFIX',
  'host-port': 'HOST:PORT',
};

/** The default of an option as it would be written in fleet.conf; '' when it has none. */
function defaultText(name: string, kind: OptionKind): string {
  const key = name.replace(/_([a-z])/g, (_m, c: string) => c.toUpperCase());
  const v: unknown = (defaultConfig() as unknown as Record<string, unknown>)[key];
  if (Array.isArray(v)) return v.join(',');
  if (typeof v === 'object' && v !== null) return Object.entries(v).map(([k, x]) => `${k}=${String(x)}`).join(',');
  if (v === undefined || v === '' || v === false) return '';
  return kind === 'duration' ? `${String(v)}s` : String(v);
}

/** `fleetd --help`: how to run it and every option of lib/fleet-options.ts with its default. */
export function usage(): string {
  const rows = FLEET_OPTION_TABLE.map((o) => {
    const value = o.kind === 'choice' ? (o.oneOf ?? []).join('|') : PLACEHOLDER[o.kind];
    const def = defaultText(o.name, o.kind);
    const notes = [def && `default ${def}`, o.ignored && `accepted and ignored: ${o.ignored}`, o.ours && 'not in fleet v1'];
    return [`--${o.name.replace(/_/g, '-')}=${value}`, notes.filter(Boolean).join('; ')] as const;
  });
  const width = Math.max(...rows.map(([flag]) => flag.length)) + 2;
  return [
    'fleetd runs one machine of a fleet cluster: its agent, a candidate for the engine, and the HTTP API.',
    '',
    'Usage:',
    '  fleetd [--config=PATH] [--OPTION=VALUE ...]',
    '  fleetd --version | version',
    '  fleetd -h | --help',
    '',
    `An option's value comes from its flag, else from FLEET_<OPTION> in the environment, else from the`,
    `configuration file (--config, or ${DEFAULT_CONFIG_FILE} when it exists), else its default.`,
    '',
    'Options:',
    ...rows.map(([flag, notes]) => `  ${flag.padEnd(width)}${notes}`.trimEnd()),
    '',
  ].join('\n');
}

export function parseArgs(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): { version: boolean; help: boolean; sources: ConfigSources } {
  const flags: Record<string, string> = {};
  let configFile: string | undefined;
  let version = false;
  const known = new Set(OPTION_NAMES.map((n) => n.replace(/_/g, '-')));
  // help wins over everything else on the line, also over a bad flag
  if (argv.some((a) => a === '-h' || a === '--help' || a === '-help')) return { version: false, help: true, sources: { flags, env } };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === 'version' && i === 0) {
      version = true;
      continue;
    }
    if (!arg.startsWith('--')) {
      throw new ConfigError(`takes no arguments (got ${JSON.stringify(arg)}). Did you mean to invoke fleetctl instead?`);
    }
    const eq = arg.indexOf('=');
    const name = (eq >= 0 ? arg.slice(2, eq) : arg.slice(2)).replace(/_/g, '-');
    if (name === 'version') {
      version = true;
      continue;
    }
    let value: string | undefined = eq >= 0 ? arg.slice(eq + 1) : undefined;
    if (value === undefined) {
      const next = argv[i + 1];
      if (next === undefined || next.startsWith('--')) throw new ConfigError(`flag --${name} needs a value (--${name}=VALUE)`);
      value = next;
      i++;
    }
    if (name === 'config') configFile = value;
    else if (known.has(name)) flags[name] = value;
    else throw new ConfigError(`unknown flag --${name}; options are: --config, ${[...known].map((k) => `--${k}`).join(', ')}`);
  }
  return { version, help: false, sources: { configFile, flags, env } };
}

