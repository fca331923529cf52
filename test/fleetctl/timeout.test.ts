import t from 'tap';
import { startEtcd } from '../harness/etcd.js';
import { HELLO, M1, addMachine, startApi, submitUnit } from '../api/fixture.js';
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
