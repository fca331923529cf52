import { PORT_RANGE, flagBool, flagNumber, flagString, type CommandSpec } from '../command.js';
import type { CommandContext } from '../context.js';
import { passThrough } from '../create.js';
import { runAttachedSsh, splitHostPort, sshArgs } from '../client/ssh.js';
import { isGlobalUnit, mangleName } from '../unitfile.js';
import { errorMessage } from '../../lib/errors.js';

class LookupError extends Error {}

/** Machine by id prefix: [address, found]. */
async function machineAddress(ctx: CommandContext, lookup: string): Promise<string> {
  const matches = (await ctx.client.machines()).filter((m) => m.id.startsWith(lookup));
  if (matches.length > 1) throw new LookupError('found more than one machine');
  if (matches.length === 0) throw new LookupError('machine does not exist');
  return matches[0]!.primaryIP ?? '';
}

async function unitAddress(ctx: CommandContext, arg: string): Promise<string> {
  const u = await ctx.client.unit(mangleName(arg));
  if (!u) throw new LookupError('unit does not exist');
  if (isGlobalUnit(u.options)) throw new LookupError('global units unsupported');
  const m = u.machineID ? await ctx.machine(u.machineID) : undefined;
  if (!m?.primaryIP) throw new LookupError('unit is not running on any machine');
  return m.primaryIP;
}

async function settle(p: Promise<string>): Promise<{ addr?: string; err?: Error }> {
  try {
    return { addr: await p };
  } catch (err) {
    passThrough(err);
    return { err: err as Error };
  }
}

async function lookupEither(ctx: CommandContext, lookup: string): Promise<string> {
  const [m, u] = await Promise.all([settle(machineAddress(ctx, lookup)), settle(unitAddress(ctx, lookup))]);
  if (m.addr !== undefined && u.addr !== undefined) {
    throw new LookupError(`ambiguous argument, both machine and unit found for \`${lookup}\`.\nPlease use flag \`--machine\` or \`--unit\` to refine the search`);
  }
  if (m.addr !== undefined) return m.addr;
  if (u.addr !== undefined) return u.addr;
  throw new LookupError('could not find matching unit or machine');
}

export const ssh: CommandSpec = {
  name: 'ssh',
  usage: 'ssh [-A|--forward-agent] [--ssh-port=N] [--machine|--unit] {MACHINE|UNIT}',
  summary: 'Open interactive shell on a machine in the cluster',
  description: `Open an interactive shell on a specific machine in the cluster or on the machine
where the specified unit is located.

fleetctl tries to detect whether your first argument is a machine or a unit.
To skip this check use the --machine or --unit flags.

Open a shell on a machine:
fleetctl ssh 2444264c-eac2-4eff-a490-32d5e5e4af24

Open a shell from your laptop, to the machine running a specific unit, using a
cluster member as a bastion host:
fleetctl --tunnel 10.10.10.10 ssh foo.service

Open a shell on a machine and forward the authentication agent connection:
fleetctl ssh --forward-agent 2444264c-eac2-4eff-a490-32d5e5e4af24

Any further arguments are run as a command on the machine instead of a shell:
fleetctl ssh foo.service -- journalctl -u foo.service

This uses the system's OpenSSH client (ssh). This command does not work with global units.`,
  flags: {
    machine: { type: 'string', default: '', describe: 'Open SSH connection to a specific machine.' },
    unit: { type: 'string', default: '', describe: 'Open SSH connection to machine running provided unit.' },
    'forward-agent': { type: 'boolean', default: false, alias: 'A', describe: 'Forward local ssh-agent to target machine.' },
    'ssh-port': { type: 'number', default: 22, range: PORT_RANGE, describe: 'Connect to remote hosts over SSH using this TCP port.' },
  },
  needsClient: true,
  async run(ctx, argsIn, flags) {
    let args = [...argsIn];
    const machine = flagString(flags, 'machine');
    const unit = flagString(flags, 'unit');
    if (machine && unit) {
      ctx.out.err('Both machine and unit flags provided, please specify only one.');
      return 1;
    }
    let addr: string;
    try {
      if (machine) addr = await machineAddress(ctx, machine);
      else if (unit) addr = await unitAddress(ctx, unit);
      else {
        if (args.length === 0) throw new LookupError('one machine or unit must be provided');
        addr = await lookupEither(ctx, args[0]!);
        args = args.slice(1);
      }
    } catch (err) {
      passThrough(err);
      ctx.out.err(`Unable to proceed: ${errorMessage(err)}`);
      return 1;
    }
    if (!addr) {
      ctx.out.err('Could not determine address of machine.');
      return 1;
    }
    const dash = args.indexOf('--');
    if (dash !== -1) args = args.slice(dash + 1);
    const [host, port] = splitHostPort(addr, flagNumber(flags, 'ssh-port', 22));
    const command = args.length > 0 ? args.join(' ') : undefined;
    const sshArgv = sshArgs(ctx.ssh, host, port, { forwardAgent: flagBool(flags, 'forward-agent'), command });
    const r = await runAttachedSsh(sshArgv, ctx.ssh.env, (text) => ctx.out.err(text));
    if (r.error) {
      ctx.out.err(`Failed building SSH client: cannot run ssh: ${r.error.message} (install the OpenSSH client)`);
      return 1;
    }
    if (r.failure !== undefined) {
      // the machine could not be reached or took no key: fleet's line and status, not ssh's (docs/fleet-compat.md#fleetctl)
      ctx.out.err(`Failed building SSH client: ${r.failure}`);
      return 1;
    }
    return r.code;
  },
};
