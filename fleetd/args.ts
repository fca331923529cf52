/** fleetd's command line: `--config PATH`, `--version` or `version`, and `--<option>=VALUE` for any config option. */
import { ConfigError, OPTION_NAMES, type ConfigSources } from './config.js';

export function parseArgs(argv: readonly string[]): { version: boolean; sources: ConfigSources } {
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
  return { version, sources: { configFile, flags, env: process.env } };
}

