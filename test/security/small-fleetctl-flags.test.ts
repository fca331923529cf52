/**
 * fleetctl's numeric flags are checked before any request: a value out of range (negative line counts, ports
 * past 65535, timeouts the timer cannot hold) is a usage error naming the flag, exit 1, not a silent no-op.
 * The endpoint is a closed port: reaching it would print "cannot reach", so an error naming the flag proves the
 * check came first.
 */
import t from 'tap';
import { freePort } from '../harness/etcd.js';
import { fleetctl } from '../fleetctl/helpers.js';

const endpoint = `http://127.0.0.1:${await freePort()}`;

const bad: [string[], string, Record<string, string>?][] = [
  [['journal', '--lines=-5', 'hello'], '--lines'],
  [['journal', '--lines', '2.5', 'hello'], '--lines'],
  [['journal', '--lines=1000000000', 'hello'], '--lines'],
  [['journal', '--ssh-port=0', 'hello'], '--ssh-port'],
  [['status', '--ssh-port=65536', 'hello'], '--ssh-port'],
  [['ssh', '--ssh-port=-22', 'hello'], '--ssh-port'],
  [['start', '--block-attempts=-1', 'hello'], '--block-attempts'],
  [['load', '--block-attempts=1.5', 'hello'], '--block-attempts'],
  [['stop', '--block-attempts=-3', 'hello'], '--block-attempts'],
  [['unload', '--block-attempts=-3', 'hello'], '--block-attempts'],
  [['destroy', '--block-attempts=-3', 'hello'], '--block-attempts'],
  [['restart', '--block-attempts=-3', 'hello'], '--block-attempts'],
  [['--request-timeout=0', 'list-units'], '--request-timeout'],
  [['--request-timeout=-1', 'list-units'], '--request-timeout'],
  [['--request-timeout=1e10', 'list-units'], '--request-timeout'],
  [['--ssh-timeout=-1', 'list-units'], '--ssh-timeout'],
  [['--ssh-timeout=1e10', 'list-units'], '--ssh-timeout'],
  [['list-units'], 'FLEETCTL_REQUEST_TIMEOUT', { FLEETCTL_REQUEST_TIMEOUT: '-1' }],
  [['list-units'], 'FLEETCTL_SSH_TIMEOUT', { FLEETCTL_SSH_TIMEOUT: '0' }],
];

t.test('out-of-range numeric flags are refused before any request, naming the flag', async (t) => {
  for (const [args, flag, extra] of bad) {
    const r = await fleetctl(args, { env: { FLEETCTL_ENDPOINT: endpoint, ...extra } });
    const what = `fleetctl ${args.join(' ')}${extra ? ` (${Object.entries(extra).map(([k, v]) => `${k}=${v}`).join(' ')})` : ''}`;
    t.equal(r.code, 1, `${what}: exit 1`);
    t.equal(r.stdout, '', `${what}: nothing on stdout`);
    t.match(r.stderr, new RegExp(`^Error: .*${flag.replace(/-/g, '\\-')}.*\\n$`), `${what}: one line naming ${flag}`);
    t.notMatch(r.stderr, /cannot reach/, `${what}: refused before any request`);
  }
});

t.test('values in range still reach the endpoint', async (t) => {
  for (const args of [
    ['journal', '--lines=0', 'hello'],
    ['journal', '--lines=999999999', '--ssh-port=65535', 'hello'],
    ['start', '--block-attempts=0', 'hello'],
    ['--request-timeout=0.5', '--ssh-timeout=2147483', 'list-units'],
  ]) {
    const r = await fleetctl(args, { env: { FLEETCTL_ENDPOINT: endpoint } });
    t.match(r.stderr, /cannot reach/, `fleetctl ${args.join(' ')} is accepted`);
  }
});
