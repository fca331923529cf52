import { PORT_RANGE, flagNumber, type CommandSpec } from '../command.js';
import type { ApiUnit } from '../client/types.js';
import type { CommandContext } from '../context.js';
import { passThrough } from '../create.js';
import { isGlobalUnit, mangleName } from '../unitfile.js';
import { errorMessage } from '../../lib/errors.js';

async function show(ctx: CommandContext, name: string, sshPort: number, machineID?: string): Promise<number> {
  try {
    const r = await ctx.client.status(name, { ...(machineID ? { machineID } : {}), sshPort });
    ctx.out.write(r.output);
    return r.exitCode;
  } catch (err) {
    passThrough(err);
    ctx.out.err(`Error running systemctl status on ${machineID ? `machine ${machineID}` : 'the unit\'s machine'}: ${errorMessage(err)}`);
    return 1;
  }
}

/** Ours: for a unit with Reschedule=on-failure that failed somewhere, what the engine did (after systemctl's output). */
async function rescheduleNote(ctx: CommandContext, u: ApiUnit): Promise<void> {
  if (!(u.options ?? []).some((o) => o.section === 'X-Fleet' && o.name === 'Reschedule')) return;
  try {
    const states = await ctx.client.unitStates({ unitName: u.name });
    const here = states.find((s) => s.reschedule && s.machineID === u.machineID) ?? states.find((s) => s.reschedule);
    if (here?.reschedule) ctx.out.write(`Reschedule: ${here.reschedule.reason}\n`);
  } catch (err) {
    passThrough(err);
  }
}

export const status: CommandSpec = {
  name: 'status',
  usage: 'status [--ssh-port=N] UNIT...',
  summary: 'Output the status of one or more units in the cluster',
  description: `Output the status of one or more units currently running in the cluster.
Supports glob matching of units in the current working directory or matches
previously started units.

Show status of a single unit:
	fleetctl status foo.service

Show status of an entire directory with glob matching:
fleetctl status myservice/*

For global units, the status on every machine running it is shown.`,
  flags: {
    'ssh-port': { type: 'number', default: 22, range: PORT_RANGE, describe: 'Connect to remote hosts over SSH using this TCP port (--driver=etcd only).' },
    // fleet's functional test passes it (fleet v1.0 refused it as unknown, printed usage and still exited 0); status never waits
    'no-block': { type: 'boolean', default: false, describe: 'Accepted for compatibility; status never waits.', hidden: true },
  },
  needsClient: true,
  async run(ctx, args, flags) {
    const sshPort = flagNumber(flags, 'ssh-port', 22);
    const globals: ApiUnit[] = [];
    let printed = 0;
    for (const arg of args) {
      const name = mangleName(arg);
      let u: ApiUnit | undefined;
      try {
        u = await ctx.client.unit(name);
      } catch (err) {
        passThrough(err);
        ctx.out.err(`Error retrieving unit: ${errorMessage(err)}`);
        return 1;
      }
      if (!u) {
        ctx.out.err(`Unit ${name} does not exist.`);
        return 1;
      }
      if (isGlobalUnit(u.options)) {
        globals.push(u);
        continue;
      }
      if ((u.currentState ?? 'inactive') === 'inactive') {
        ctx.out.err(`Unit ${u.name} does not appear to be loaded.`);
        return 1;
      }
      if (printed++ > 0) ctx.out.write('\n');
      const code = await show(ctx, u.name, sshPort);
      await rescheduleNote(ctx, u);
      if (code !== 0) return code;
    }
    for (const u of globals) {
      let machines: string[];
      try {
        machines = (await ctx.client.unitStates({ unitName: u.name })).map((s) => s.machineID ?? '').filter((m) => m !== '');
      } catch (err) {
        passThrough(err);
        ctx.out.err(`Error retrieving machine state for global units: ${errorMessage(err)}`);
        return 1;
      }
      for (const m of [...new Set(machines)]) {
        if (printed++ > 0) ctx.out.write('\n');
        const code = await show(ctx, u.name, sshPort, m);
        if (code !== 0) {
          ctx.out.err(`Error retrieving machine state for global units: Error running systemctl status. machine id=${m}, unit name=${u.name}`);
          return 1;
        }
      }
    }
    return 0;
  },
};
