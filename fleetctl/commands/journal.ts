import { COUNT_RANGE, PORT_RANGE, flagBool, flagNumber, flagString, type CommandSpec } from '../command.js';
import type { ApiUnit } from '../client/types.js';
import { passThrough } from '../create.js';
import { isGlobalUnit, mangleName } from '../unitfile.js';
import { JOURNAL_OUTPUTS } from '../../lib/api/schema.js';
import { errorMessage } from '../../lib/errors.js';

export const journal: CommandSpec = {
  name: 'journal',
  usage: 'journal [--lines=N] [--ssh-port=N] [-f|--follow] [--output=STRING] <unit>',
  summary: 'Print the journal of a unit in the cluster to stdout',
  description: `Outputs the journal of a unit by connecting to the machine that the unit occupies.

Read the last 10 lines:
fleetctl journal foo.service

Read the last 100 lines:
fleetctl journal --lines 100 foo.service

This command does not work with global units.`,
  flags: {
    lines: { type: 'number', default: 10, range: COUNT_RANGE, describe: 'Number of recent log lines to return' },
    follow: { type: 'boolean', default: false, alias: 'f', describe: 'Continuously print new entries as they are appended to the journal.' },
    'ssh-port': { type: 'number', default: 22, range: PORT_RANGE, describe: 'Connect to remote hosts over SSH using this TCP port (--driver=etcd only)' },
    sudo: { type: 'boolean', default: false, describe: 'Execute journal command with sudo (--driver=etcd only)' },
    output: {
      type: 'string',
      default: 'short',
      describe: 'Output mode. This will be passed unaltered to journalctl on the remote host, and hence supports the same modes as that command.',
    },
  },
  needsClient: true,
  async run(ctx, args, flags) {
    if (args.length !== 1) {
      ctx.out.err('One unit file must be provided.');
      return 1;
    }
    const name = mangleName(args[0]!);
    let u: ApiUnit | undefined;
    try {
      u = await ctx.client.unit(name);
    } catch (err) {
      passThrough(err);
      ctx.out.err(`Error retrieving unit ${name}: ${errorMessage(err)}`);
      return 1;
    }
    if (!u) {
      ctx.out.err(`Unit ${name} does not exist.`);
      return 1;
    }
    if (isGlobalUnit(u.options)) {
      ctx.out.err(`Unable to retrieve journal of global unit ${name}.`);
      return 1;
    }
    if ((u.currentState ?? 'inactive') === 'inactive') {
      ctx.out.err(`Unit ${name} does not appear to be running.`);
      return 1;
    }
    const lines = flagNumber(flags, 'lines', 10);
    const output = flagString(flags, 'output', 'short');
    // fleet handed --output to journalctl on the machine, which refused an unknown mode with this line and exit
    // status 1; fleetd's journal route takes only the modes it knows (no options smuggled into journalctl's argv)
    if (!JOURNAL_OUTPUTS.includes(output)) {
      ctx.out.err(`Unknown output format '${output}'.`);
      return 1;
    }
    try {
      const stream = await ctx.client.journal(name, {
        lines,
        follow: flagBool(flags, 'follow'),
        output,
      }, { sshPort: flagNumber(flags, 'ssh-port', 22), sudo: flagBool(flags, 'sudo') });
      for await (const chunk of stream) ctx.out.write(chunk as Buffer);
    } catch (err) {
      passThrough(err);
      ctx.out.err(`Error retrieving journal of unit ${name}: ${errorMessage(err)}`);
      return 1;
    }
    return 0;
  },
};
