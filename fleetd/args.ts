/** fleetd's command line: `--config PATH`, `--version` or `version`, and `--<option>=VALUE` for any config option. */
import { ConfigError, OPTION_NAMES, loadConfig, type ConfigSources, type LoadedConfig } from './config.js';
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
  if (args.version) return { exit: 0, stdout: `fleetd version ${VERSION}\n`, stderr: '' };
  try {
    return { loaded: loadConfig(args.sources), sources: args.sources };
  } catch (err) {
    return { exit: 1, stdout: '', stderr: `fleetd: ${errorMessage(err)}\n` };
  }
}

export function parseArgs(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): { version: boolean; sources: ConfigSources } {
  const flags: Record<string, string> = {};
  let configFile: string | undefined;
  let version = false;
  const known = new Set(OPTION_NAMES.map((n) => n.replace(/_/g, '-')));
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
  return { version, sources: { configFile, flags, env } };
}

