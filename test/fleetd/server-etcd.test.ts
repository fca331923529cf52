/**
 * FleetServer on an etcd client it is given (ServerHooks.etcd), as a process running many hollow fleetds may
 * share one: it registers through that client and, stopping, leaves the client open for its owner.
 */
import t from 'tap';
import { startEtcd } from '../harness/etcd.js';
import { defaultConfig } from '../../fleetd/config.js';
import { FleetServer } from '../../fleetd/server.js';
import { MemoryUnitManager } from '../../fleetd/agent/memory-unit-manager.js';
import { Registry } from '../../lib/registry/index.js';

const etcd = await startEtcd(t);

t.test('a given etcd client is used and not closed', async (t) => {
  const client = etcd.newClient();
  const prefix = `/server-etcd-${Date.now()}/`;
  const server = new FleetServer(
    {
      ...defaultConfig(),
      // nothing listens there: every etcd call must go through the given client
      etcdServers: ['http://127.0.0.1:9'],
      etcdKeyPrefix: prefix,
      disableEngine: true,
      apiSocket: '',
      apiListen: '',
      unitsDirectory: '/nonexistent/server-etcd/units/',
      machineIdFile: '/nonexistent/server-etcd/machine-id',
    },
    { etcd: client, unitManager: async () => new MemoryUnitManager(), machineId: 'shared-1', instance: 'shared-1' },
  );
  t.teardown(() => server.stop({ keepUnits: true }));
  await server.start();
  const observer = new Registry(etcd.client, prefix);
  t.same((await observer.listMachines()).map((m) => m.id), ['shared-1'], 'registered through the given client');
  await server.stop();
  t.same(await observer.listMachines(), [], 'left the cluster on stop');
  t.equal(await client.get('anything').string(), null, 'the given client still works after the stop');
});
