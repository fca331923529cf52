/**
 * `fleetctl start` waits on fleetd's streams (GET /fleet/v1/watch/units and /watch/state, ours) instead of polling
 * GET /units and GET /state, and polls as before against a server without them (fleet's API answers 404 there).
 * Requests are counted with the API's own request metrics.
 */
import t, { type Test } from 'tap';
import { startEtcd } from '../harness/etcd.js';
import { sleep, waitFor } from '../harness/wait.js';
import { HELLO, M1, addMachine, publishState, scheduleUnit, startApi, submitUnit, type Fixture } from '../api/fixture.js';
import { fleetctl } from './helpers.js';

const etcd = await startEtcd(t);
const NAMES = ['s1', 's2', 's3', 's4', 's5', 's6'].map((n) => `${n}.service`);

/** Requests the API answered on `route` (all methods and codes), from its /metrics text. */
function requests(f: Fixture, route: string): number {
  let n = 0;
  for (const line of f.server.metrics.registry.render().split('\n')) {
    if (line.startsWith('fleet_api_request_count_total{') && line.includes(`route="${route}"`)) n += Number(line.split(' ').at(-1));
  }
  return n;
}

async function startWhileActivating(t: Test, f: Fixture, env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  const p = await addMachine(t, f.registry, M1, '198.18.0.11');
  for (const n of NAMES) {
    await submitUnit(f.registry, n, HELLO.replace('Hello', n), 'loaded');
    await scheduleUnit(f.registry, n, M1);
    await publishState(f.registry, p, n, { activeState: 'activating', subState: 'start' });
  }
  const run = fleetctl(['start', ...NAMES], { env: { FLEETCTL_ENDPOINT: `unix://${f.socket}`, ...env } });
  // systemd finishes starting them while fleetctl waits (several poll intervals later)
  await sleep(800);
  for (const n of NAMES) await publishState(f.registry, p, n, { activeState: 'active', subState: 'running' });
  return run;
}

const expected = {
  code: 0,
  stdout: NAMES.map((n) => `Unit ${n} launched on 113f16a7.../198.18.0.11\n`).join(''),
  stderr: '',
};

t.test('start waits on the streams: one request each, no polls', async (t) => {
  const f = await startApi(t, { etcd });
  t.same(await startWhileActivating(t, f), expected);
  // a stream is counted when it ends (fleetctl closed it on its way out)
  await waitFor('the stream counted', () => requests(f, '/fleet/v1/watch/state') > 0);
  t.equal(requests(f, '/fleet/v1/watch/state'), 1, 'one stream for the whole wait');
  t.equal(requests(f, '/fleet/v1/state'), 0, 'GET /state was not polled');
  await waitFor('the unit stream counted', () => requests(f, '/fleet/v1/watch/units') > 0);
  t.equal(requests(f, '/fleet/v1/watch/units'), 1, 'one unit stream for the wait on desired states');
  t.equal(requests(f, '/fleet/v1/units'), 0, 'GET /units was not polled');
});

t.test('against a server without the stream, start polls GET /state as before', async (t) => {
  const f = await startApi(t, { etcd, server: { stateStreams: false } });
  t.same(await startWhileActivating(t, f), expected, 'the same output and exit code');
  t.equal(requests(f, 'unknown'), 2, 'each stream was asked for once and not found (404)');
  t.ok(requests(f, '/fleet/v1/units') >= 1, 'GET /units was polled');
  t.ok(requests(f, '/fleet/v1/state') >= 2, `GET /state was polled (${requests(f, '/fleet/v1/state')} times)`);
});

t.test('with --debug the waits poll, so the request lines are the ones fleet printed', async (t) => {
  const f = await startApi(t, { etcd });
  const r = await startWhileActivating(t, f, { FLEETCTL_DEBUG: '1' });
  t.equal(r.code, 0, r.stderr);
  t.match(r.stderr, /HTTP GET http:\/\/domain-sock\/fleet\/v1\/state\?/);
  t.notMatch(r.stderr, /watch/);
  t.equal(requests(f, '/fleet/v1/watch/state') + requests(f, '/fleet/v1/watch/units'), 0, 'no stream was asked for');
});
