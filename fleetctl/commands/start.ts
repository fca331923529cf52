import { BLOCK_FLAGS, REPLACE_FLAG, SIGN_FLAG, SIGN_WARNING, flagBool, flagNumber, type CommandSpec } from '../command.js';
import { lazyCreateUnits, setTargetStates } from '../create.js';
import { isGlobalUnit, mangleName } from '../unitfile.js';
import { blockAttempts, waitForSystemdActive, waitForUnitStates } from '../wait.js';
import { reportFailure } from './report.js';

export const start: CommandSpec = {
  name: 'start',
  usage: 'start [--no-block|--block-attempts=N] UNIT...',
  summary: 'Instruct systemd to start one or more units in the cluster, first submitting and loading if necessary.',
  description: `Start one or many units on the cluster. Select units to start by glob matching
for units in the current working directory or matching names of previously
submitted units.

For units which are not global, start operations are performed synchronously,
which means fleetctl will block until it detects that the unit(s) have
transitioned to a started state. This behaviour can be configured with the
respective --block-attempts and --no-block options. Start operations on global
units are always non-blocking.

Start a single unit:
fleetctl start foo.service

Start an entire directory of units with glob matching:
fleetctl start myservice/*

You may filter suitable hosts based on metadata provided by the machine.
Machine metadata is located in the fleet configuration file.`,
  flags: { ...SIGN_FLAG, ...BLOCK_FLAGS('launched'), ...REPLACE_FLAG('already started') },
  needsClient: true,
  async run(ctx, args, flags) {
    if (flagBool(flags, 'sign')) {
      ctx.out.err(SIGN_WARNING);
      return 2;
    }
    if (args.length === 0) {
      ctx.out.err('No units given');
      return 0;
    }
    const replace = flagBool(flags, 'replace');
    try {
      await lazyCreateUnits(ctx, args, { command: 'start', replace, blockAttempts: flagNumber(flags, 'block-attempts') });
    } catch (err) {
      return reportFailure(ctx, 'Error creating units', err);
    }
    let triggered;
    try {
      triggered = await setTargetStates(ctx, args.map(mangleName), 'launched');
    } catch (err) {
      return reportFailure(ctx, 'Error starting units', err);
    }
    const starting: string[] = [];
    for (const u of triggered) {
      if (isGlobalUnit(u.options)) ctx.out.out(`Triggered global unit ${u.name} start`);
      else starting.push(u.name);
    }
    const attempts = blockAttempts({ noBlock: flagBool(flags, 'no-block'), blockAttempts: flagNumber(flags, 'block-attempts') });
    const err = await waitForUnitStates(ctx, starting, 'start', 'launched', attempts);
    if (err) {
      ctx.out.err(`Error waiting for units: ${err.message}`);
      ctx.out.err(`Error waiting for unit states, exit status: ${err.message}`);
      return 1;
    }
    const active = await waitForSystemdActive(ctx, starting, attempts);
    if (active) {
      ctx.out.err(`Error waiting for units: ${active.message}`);
      ctx.out.err(`Error waiting for systemd unit states, err: ${active.message}`);
      return 1;
    }
    return 0;
  },
};
