import { BLOCK_FLAGS, type CommandSpec } from '../command.js';
import { namedUnits, retarget } from './retarget.js';

export const stop: CommandSpec = {
  name: 'stop',
  usage: 'stop [--no-block|--block-attempts=N] UNIT...',
  summary: 'Instruct systemd to stop one or more units in the cluster.',
  description: `Stop one or more units from running in the cluster, but allow them to be
started again in the future.

Instructs systemd on the host machine to stop the unit, deferring to systemd
completely for any custom stop directives (i.e. ExecStop option in the unit
file).

For units which are not global, stop operations are performed synchronously,
which means fleetctl will block until it detects that the unit(s) have
transitioned to a stopped state. This behaviour can be configured with the
respective --block-attempts and --no-block options. Stop operations on global
units are always non-blocking.

Stop a single unit:
fleetctl stop foo.service

Stop an entire directory of units with glob matching, without waiting:
fleetctl --no-block stop myservice/*`,
  flags: BLOCK_FLAGS('stopped'),
  needsClient: true,
  async run(ctx, args, flags) {
    const units = await namedUnits(ctx, args);
    return retarget(ctx, units, flags, {
      command: 'stop',
      state: 'loaded',
      done: 'stopped',
      check: (u) => {
        const cs = u.currentState ?? 'inactive';
        if (cs === 'inactive') return { refuse: `Unable to stop unit ${u.name} in state inactive` };
        return cs === 'loaded' ? 'skip' : 'set';
      },
    });
  },
};
