import { BLOCK_FLAGS, REPLACE_FLAG, SIGN_FLAG, SIGN_WARNING, flagBool, flagNumber, type CommandSpec } from '../command.js';
import { lazyCreateUnits, setTargetStates } from '../create.js';
import { isGlobalUnit, mangleName } from '../unitfile.js';
import { blockAttempts, waitForUnitStates } from '../wait.js';
import { reportFailure } from './report.js';

export const load: CommandSpec = {
  name: 'load',
  usage: 'load [--no-block|--block-attempts=N] UNIT...',
  summary: 'Schedule one or more units in the cluster, first submitting them if necessary.',
  description: `Load one or many units in the cluster into systemd, but do not start.

Select units to load by glob matching for units in the current working directory
or matching the names of previously submitted units.

For units which are not global, load operations are performed synchronously,
which means fleetctl will block until it detects that the unit(s) have
transitioned to a loaded state. This behaviour can be configured with the
respective --block-attempts and --no-block options. Load operations on global
units are always non-blocking.`,
  flags: { ...SIGN_FLAG, ...BLOCK_FLAGS('loaded'), ...REPLACE_FLAG('old scheduled') },
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
      await lazyCreateUnits(ctx, args, { command: 'load', replace, blockAttempts: flagNumber(flags, 'block-attempts') });
    } catch (err) {
      return reportFailure(ctx, 'Error creating units', err);
    }
    let triggered;
    try {
      triggered = await setTargetStates(ctx, args.map(mangleName), 'loaded');
    } catch (err) {
      return reportFailure(ctx, 'Error loading units', err);
    }
    const loading: string[] = [];
    for (const u of triggered) {
      if (isGlobalUnit(u.options)) ctx.out.out(`Triggered global unit ${u.name} load`);
      else loading.push(u.name);
    }
    const attempts = blockAttempts({ noBlock: flagBool(flags, 'no-block'), blockAttempts: flagNumber(flags, 'block-attempts') });
    const err = await waitForUnitStates(ctx, loading, 'load', 'loaded', attempts);
    if (err) {
      ctx.out.err(`Error waiting for units: ${err.message}`);
      ctx.out.err(`Error waiting for unit states, exit status: ${err.message}`);
      return 1;
    }
    return 0;
  },
};
