/**
 * Runs one resolved command with its parsed flags: builds the client the global flags ask for (unless the command
 * needs none), the command context, and closes the client afterwards. Shared by the full CLI (cli.ts, yargs) and
 * the quick path of the list commands (quick-list.ts), so both behave alike and neither loads the other.
 */
import { createClient, sshSettings } from './client/factory.js';
import { EndpointError } from './client/errors.js';
import type { FleetClient } from './client/types.js';
import { UsageError, errorMessage } from '../lib/errors.js';
import type { CommandSpec, FlagValues } from './command.js';
import { makeContext, type Clock, type CommandContext, type LocalFiles } from './context.js';
import { CommandExit } from './errors.js';
import type { GlobalOptions } from './globals.js';
import type { Output } from './output.js';

/** Where a command writes, and the local files and clock it uses (tests replace them). */
export interface RunIO {
  out: Output;
  files?: LocalFiles;
  clock?: Clock;
}

/** Runs `spec` with the global options `g`; resolves with the exit status. Endpoint failures and usage errors propagate. */
export async function runSpec(spec: CommandSpec, g: GlobalOptions, io: RunIO, positional: string[], flags: FlagValues): Promise<number> {
  const { out } = io;
  if (!spec.needsClient) {
    return runCommand(spec, makeContext(noClient, out, { ssh: sshSettings(g) }), positional, flags);
  }
  let client;
  try {
    client = await createClient(g, (line) => out.err(line));
  } catch (err) {
    if (err instanceof EndpointError) throw err;
    throw new UsageError(`Unable to initialize client: ${errorMessage(err)}`);
  }
  try {
    const ctx = makeContext(client, out, {
      ...(io.files ? { files: io.files } : {}),
      ...(io.clock ? { clock: io.clock } : {}),
      ssh: sshSettings(g),
      debug: g.debug,
    });
    return await runCommand(spec, ctx, positional, flags);
  } finally {
    await client.close().catch(() => undefined);
  }
}

/** Runs a command; a step that ended it early (CommandExit) gives the exit status. */
async function runCommand(spec: CommandSpec, ctx: CommandContext, args: string[], flags: FlagValues): Promise<number> {
  try {
    return await spec.run(ctx, args, flags);
  } catch (err) {
    if (err instanceof CommandExit) return err.code;
    throw err;
  }
}

const unavailable = (): never => {
  throw new Error('this command does not talk to the cluster');
};

const noClient: FleetClient = {
  endpoint: '',
  units: unavailable,
  unit: unavailable,
  unitStates: unavailable,
  machines: unavailable,
  createUnit: unavailable,
  setDesiredState: unavailable,
  destroyUnit: unavailable,
  status: unavailable,
  journal: unavailable,
  plan: unavailable,
  requestRestart: unavailable,
  restartRequest: unavailable,
  createRollout: unavailable,
  rollout: unavailable,
  rollouts: unavailable,
  controlRollout: unavailable,
  close: async () => undefined,
};
