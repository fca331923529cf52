import net from 'node:net';
import type { CommandSpec } from '../command.js';

export const fdForward: CommandSpec = {
  name: 'fd-forward',
  usage: 'fd-forward SOCKET',
  summary: 'Proxy stdin and stdout to a unix domain socket',
  description:
    'fleetctl utilizes fd-forward when --tunnel is used and --endpoint is a unix socket. This command is not intended to be called by users directly.',
  flags: {},
  needsClient: false,
  async run(ctx, args) {
    if (args.length !== 1) {
      ctx.out.err('Provide a single argument');
      return 1;
    }
    const target = args[0]!;
    return new Promise<number>((resolve) => {
      const sock = net.createConnection({ path: target });
      sock.on('error', (err) => {
        ctx.out.err(`Failed dialing remote address: ${err.message}`);
        resolve(1);
      });
      sock.on('connect', () => {
        process.stdin.pipe(sock);
        sock.pipe(process.stdout);
        process.stdin.on('end', () => sock.end());
        sock.on('close', () => resolve(0));
      });
    });
  },
};
