import { REPLACE_FLAG, SIGN_FLAG, flagBool, type CommandSpec } from '../command.js';
import { lazyCreateUnits } from '../create.js';
import { reportFailure } from './report.js';
import { refuseBeforeCreating } from './target.js';

export const submit: CommandSpec = {
  name: 'submit',
  usage: 'submit UNIT...',
  summary: 'Upload one or more units to the cluster without starting them',
  description: `Upload one or more units to the cluster without starting them. Useful
for validating units before they are started.

This operation is idempotent; if a named unit already exists in the cluster, it will not be resubmitted.

Submit a single unit:
fleetctl submit foo.service

Submit a directory of units with glob matching:
fleetctl submit myservice/*`,
  flags: { ...SIGN_FLAG, ...REPLACE_FLAG('old submitted') },
  needsClient: true,
  async run(ctx, args, flags) {
    refuseBeforeCreating(ctx, args, flags);
    try {
      await lazyCreateUnits(ctx, args, { command: 'submit', replace: flagBool(flags, 'replace'), blockAttempts: 0 });
    } catch (err) {
      return reportFailure(ctx, 'Error creating units', err);
    }
    return 0;
  },
};
