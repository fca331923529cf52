import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startEtcd } from '../harness/etcd.js';
import { HELLO, M1, M2, addMachine, startApi, submitUnit } from '../api/fixture.js';
import { fleetctl, simulateCluster } from './helpers.js';

const etcd = await startEtcd(t);

t.test('the API client follows nextPageToken', async (t) => {
  const f = await startApi(t, { etcd, config: { tokenLimit: 2 } });
  for (const n of ['a', 'b', 'c', 'd', 'e']) await submitUnit(f.registry, `${n}.service`, HELLO.replace('Hello', n));
  for (const [id, ip] of [[M1, '198.18.0.11'], [M2, '198.18.0.12'], ['3cafe000111122223333444455556666', '198.18.0.13']] as const) {
    await addMachine(t, f.registry, id, ip);
  }
  const env = { FLEETCTL_ENDPOINT: `unix://${f.socket}` };
  const files = await fleetctl(['list-unit-files', '--no-legend', '--fields=unit'], { env });
  t.equal(files.stdout, 'a.service\nb.service\nc.service\nd.service\ne.service\n');
  const machines = await fleetctl(['list-machines', '--no-legend', '--fields=ip'], { env });
  t.equal(machines.stdout, '198.18.0.11\n198.18.0.12\n198.18.0.13\n');
});

t.test('--driver=etcd drives the cluster through the registry with the same lines', async (t) => {
  const f = await startApi(t, { etcd });
  const machines = new Map([[M1, await addMachine(t, f.registry, M1, '198.18.0.11')]]);
  simulateCluster(t, f.registry, machines);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fleetctl-etcd-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(path.join(dir, 'hello.service'), HELLO);
  const env = { FLEETCTL_DRIVER: 'etcd', FLEETCTL_ENDPOINT: etcd.endpoint, FLEETCTL_ETCD_KEY_PREFIX: f.registry.prefix };
  const run = (...args: string[]) => fleetctl(args, { env, cwd: dir });
  t.same(await run('start', 'hello'), { code: 0, stdout: 'Unit hello.service inactive\nUnit hello.service launched on 113f16a7.../198.18.0.11\n', stderr: '' });
  t.same(await run('stop', 'hello'), { code: 0, stdout: 'Unit hello.service loaded on 113f16a7.../198.18.0.11\n', stderr: 'Successfully stopped units [hello.service].\n' });
  t.same(await run('cat', 'hello'), { code: 0, stdout: HELLO, stderr: '' });
  t.same(await run('destroy', 'hello'), { code: 0, stdout: 'Destroyed hello.service\n', stderr: '' });
  t.equal(await f.registry.getUnit('hello.service'), undefined);
  const bad = await run('submit', 'nope.service');
  t.same(bad, { code: 1, stdout: '', stderr: 'Error creating units: unable to find Unit(nope.service) in Registry or on filesystem\n' });
});
