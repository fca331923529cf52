import { VERSION } from '../../lib/version.js';
import type { CommandSpec } from '../command.js';

export const versionLine = (): string => `fleetctl version ${VERSION}`;

export const version: CommandSpec = {
  name: 'version',
  usage: 'version',
  summary: 'Print the version and exit',
  description: 'Print the version and exit',
  flags: {},
  needsClient: false,
  async run(ctx) {
    ctx.out.out(versionLine());
    return 0;
  },
};
