/**
 * What fleetctl prints without parsing flags or loading any command: the version line and the root help.
 * entry.ts asks here first, before it imports the CLI (yargs and every command module), so `fleetctl`,
 * `fleetctl version`, `fleetctl --version`/`-v ...`, `fleetctl help [help]` and `fleetctl --help`/`-h` start
 * about as fast as node itself (issue 13). Only what the answer needs is loaded: the root help module for help,
 * the global flag table for `version` only when some FLEETCTL_* variable is set (a bad one is refused as runCli
 * refuses it). The version module itself is loaded only for the version: the list commands' quick path
 * (quick-list.ts) comes next and does without it.
 */

/**
 * The whole output of the invocations that need no flag parsing, byte for byte what cli.ts's runCli prints for
 * them; undefined for anything else (runCli handles it).
 */
export async function fastPath(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<string | undefined> {
  const [first] = argv;
  const versionLine = async (): Promise<string> => `${(await import('./commands/version.js')).versionLine()}\n`;
  if (first === '--version' || first === '-v') return versionLine();
  const help = argv.length === 0 || (argv.length === 1 && (first === 'help' || first === '--help' || first === '-h')) || (argv.length === 2 && first === 'help' && argv[1] === 'help');
  if (help) return (await import('./root-help.js')).rootHelp();
  if (argv.length === 1 && first === 'version') {
    if (Object.entries(env).some(([k, v]) => k.startsWith('FLEETCTL_') && v !== undefined && v !== '')) (await import('./globals.js')).globalDefaults(env);
    return versionLine();
  }
  return undefined;
}
