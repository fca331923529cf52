import { SIGN_WARNING, type CommandSpec } from '../command.js';

export const verify: CommandSpec = {
  name: 'verify',
  usage: 'verify UNIT',
  summary: 'DEPRECATED - No longer works',
  flags: {},
  needsClient: false,
  hidden: true,
  async run(ctx) {
    ctx.out.err(SIGN_WARNING);
    return 2;
  },
};
