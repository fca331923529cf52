import { BLOCK_FLAGS, REPLACE_FLAG, SIGN_FLAG, type CommandSpec } from '../command.js';
import { createAndTarget } from './target.js';

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
    await createAndTarget(ctx, args, flags, { command: 'load', state: 'loaded', gerund: 'loading' });
    return 0;
  },
};
