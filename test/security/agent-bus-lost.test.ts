/**
 * A fleetd whose connection to systemd goes away and does not come back (the machine is going down, or D-Bus is
 * gone for good) leaves the cluster before it exits: its machine record disappears at once, so the engine moves
 * its units now instead of after agent_ttl. In-process fleetd on a real etcd, with an in-memory unit manager that
 * reports the lost connection, and a system bus address that nothing answers.
 */
import t from 'tap';
import { FleetServer } from '../../fleetd/server.js';
import { defaultConfig } from '../../fleetd/config.js';
import { MemoryUnitManager } from '../../fleetd/agent/memory-unit-manager.js';
import { openEtcd, Registry } from '../../lib/registry/index.js';
import { startEtcd } from '../harness/etcd.js';

t.test('systemd unreachable for good: fleetd revokes its machine lease, then reports the fatal error', async (t) => {
  const etcd = await startEtcd(t);
  const saved = process.env.DBUS_SYSTEM_BUS_ADDRESS;
  process.env.DBUS_SYSTEM_BUS_ADDRESS = 'unix:path=/nonexistent/agent-bus-lost/system_bus_socket';
  t.teardown(() => {
    if (saved === undefined) delete process.env.DBUS_SYSTEM_BUS_ADDRESS;
    else process.env.DBUS_SYSTEM_BUS_ADDRESS = saved;
  });
  const manager = new MemoryUnitManager();
  const id = 'a'.repeat(32);
  const server = new FleetServer(
    {
      ...defaultConfig(),
      etcdServers: [etcd.endpoint],
      agentTtl: 60,
      disableEngine: true,
      apiSocket: '',
      apiListen: '',
      publicIp: '127.0.0.1',
      unitsDirectory: '/nonexistent/agent-bus-lost/units/',
      machineIdFile: '/nonexistent/agent-bus-lost/machine-id',
    },
    { unitManager: async () => manager, machineId: id, instance: 'agent-bus-lost' },
  );
  t.teardown(() => server.stop({ keepUnits: true }));
  const registry = new Registry(openEtcd({ endpoints: [etcd.endpoint] }));
  t.teardown(() => registry.close());
  await server.start();
  t.ok(await registry.getMachine(id), 'registered');

  const fatal = new Promise<{ reason: string; registered: boolean }>((resolve) => {
    server.on('fatal', (reason) => {
      void registry.getMachine(id).then((m) => resolve({ reason, registered: m !== undefined }));
    });
  });
  const lostAt = Date.now();
  manager.emit('disconnected', new Error('bus closed'));
  const outcome = await fatal;
  const tookMs = Date.now() - lostAt;
  t.match(outcome.reason, /lost the connection to systemd/);
  t.notOk(outcome.registered, 'the machine record was gone before fleetd reported the fatal error (and exits)');
  t.ok(tookMs < 60_000 / 4, `within ${tookMs} ms, not after agent_ttl (60 s)`);
});
