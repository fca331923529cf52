/**
 * `fleetctl rollout` and `start --rolling` refuse bad arguments before talking to any cluster: one line on stderr,
 * exit 1 (the flows against a cluster are in fleetctl.test.ts).
 */
import t from 'tap';
import { fleetctl } from '../fleetctl/helpers.js';

// an endpoint nothing listens on: a refusal must come before any request
const env = { FLEETCTL_ENDPOINT: 'http://127.0.0.1:9', FLEETCTL_REQUEST_TIMEOUT: '1' };

t.test('usage errors', async (t) => {
  t.same(await fleetctl(['rollout'], { env }), { code: 1, stdout: '', stderr: 'Error: rollout: expected one of list, status, follow, pause, resume, abort\n' });
  t.same(await fleetctl(['rollout', 'pause'], { env }), { code: 1, stdout: '', stderr: "Error: rollout pause needs the rollout's ID (see fleetctl rollout list)\n" });
  t.same(await fleetctl(['start', '--rolling', '--min-healthy-time=bogus', 'a.service'], { env }), {
    code: 1, stdout: '', stderr: 'Error: invalid argument "bogus" for "--min-healthy-time" flag: expected a duration such as 10s, 2m or 1h30m\n',
  });
  t.same(await fleetctl(['start', '--rolling', '--min-healthy-time=5m', 'a.service'], { env }), {
    code: 1, stdout: '', stderr: 'Error: --rollout-deadline must be longer than --min-healthy-time\n',
  });
  t.same(await fleetctl(['start', '--rolling', '--max-unavailable=0', 'a.service'], { env }), {
    code: 1, stdout: '', stderr: 'Error: invalid argument "0" for "--max-unavailable" flag: must be an integer from 1 to 999999999\n',
  });
});
