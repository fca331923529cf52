import { BLOCK_FLAGS, REPLACE_FLAG, SIGN_FLAG, type CommandSpec } from '../command.js';
import { waitForSystemdActive } from '../wait.js';
import { createAndTarget } from './target.js';
import { ROLLING_FLAGS, startRolling } from './rollout.js';
import { flagBool } from '../command.js';

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
  flags: { ...SIGN_FLAG, ...BLOCK_FLAGS('launched'), ...REPLACE_FLAG('already started'), ...ROLLING_FLAGS },
  needsClient: true,
  async run(ctx, args, flags) {
    if (flagBool(flags, 'rolling')) return startRolling(ctx, args, flags);
    const r = await createAndTarget(ctx, args, flags, { command: 'start', state: 'launched', gerund: 'starting' });
    const active = await waitForSystemdActive(ctx, r.units, r.attempts, r.retried);
    if (active) {
      ctx.out.err(`Error waiting for units: ${active.message}`);
      ctx.out.err(`Error waiting for systemd unit states, err: ${active.message}`);
      return 1;
    }
    return 0;
  },
};
