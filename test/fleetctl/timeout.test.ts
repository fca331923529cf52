import t from 'tap';
import { startEtcd } from '../harness/etcd.js';
import { HELLO, M1, addMachine, publishState, scheduleUnit, startApi, submitUnit } from '../api/fixture.js';
import { fleetctl } from './helpers.js';

t.test('--block-attempts gives up with fleet\'s messages when nothing schedules the unit', async (t) => {
  const etcd = await startEtcd(t);
  const f = await startApi(t, { etcd });
  await addMachine(t, f.registry, M1, '198.18.0.11');
  await submitUnit(f.registry, 'stuck.service', HELLO);
  const started = Date.now();
  const r = await fleetctl(['start', '--block-attempts=1', 'stuck'], { env: { FLEETCTL_ENDPOINT: `unix://${f.socket}` } });
  const took = Date.now() - started;
  t.same(r, {
    code: 1,
    stdout: '',
    stderr:
      'Error waiting for units: timed out waiting for unit stuck.service to report state launched\n' +
      'Error waiting for unit states, exit status: timed out waiting for unit stuck.service to report state launched\n',
  });
  t.ok(took >= 2000, `one attempt is 2 s (took ${took} ms)`);
  t.equal((await f.registry.getUnit('stuck.service'))!.desiredState, 'launched', 'the desired state stays set');
});

t.test('start fails when systemd reports the unit failed, or it never becomes active', async (t) => {
  const etcd = await startEtcd(t);
  const f = await startApi(t, { etcd });
  const p = await addMachine(t, f.registry, M1, '198.18.0.11');
  for (const [name, active, sub] of [['crash.service', 'failed', 'failed'], ['oneshot.service', 'inactive', 'dead']] as const) {
    await submitUnit(f.registry, name, HELLO.replace('Hello', name), 'loaded');
    await scheduleUnit(f.registry, name, M1);
    await publishState(f.registry, p, name, { activeState: active, subState: sub });
  }
  const env = { FLEETCTL_ENDPOINT: `unix://${f.socket}` };
  const crash = await fleetctl(['start', 'crash'], { env });
  t.equal(crash.code, 1);
  t.equal(crash.stdout, 'Unit crash.service launched on 113f16a7.../198.18.0.11\n');
  t.match(crash.stderr, /^Error waiting for units: Failed to find an active unit crash\.service within [0-9.]+s, err: systemd reports loaded\/failed\/failed\nError waiting for systemd unit states, err: Failed to find an active unit crash\.service within/);
  const oneshot = await fleetctl(['start', 'oneshot'], { env });
  t.equal(oneshot.code, 1, 'not active after one attempt: fails like fleet instead of blocking forever');
  t.match(oneshot.stderr, /Failed to find an active unit oneshot\.service within [0-9.]+s, err: systemd reports loaded\/inactive\/dead/);
});
