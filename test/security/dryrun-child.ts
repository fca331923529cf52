/**
 * Child process of the dry-run stall tests: one machine's fleetd pieces in one event loop (two machine presences
 * with a 2 s lease, the API on a unix socket, the engine), so a CPU-bound request shows up as lost leases.
 * It runs in its own process so that the parent can give up on a stalled request and kill it.
 *
 * Reports JSON lines on stdout: {"event":"ready"}, {"event":"lost","machine"}, {"event":"stall","ms"} for event
 * loop gaps over 500 ms, and {"event":"pass","pending":[...]} after each engine pass.
 */
import { Registry, openEtcd, type MachinePresence } from '../../lib/registry/index.js';
import { defaultConfig } from '../../fleetd/config.js';
import { createApiServer } from '../../fleetd/api/server.js';
import { Engine } from '../../fleetd/engine/engine.js';

const say = (o: object): void => {
  process.stdout.write(JSON.stringify(o) + '\n');
};

const registry = new Registry(openEtcd({ endpoints: [process.env.TEST_ETCD!] }), process.env.TEST_PREFIX);
const machines = (process.env.TEST_MACHINES ?? '').split(',').filter((m) => m !== '');
const presences: MachinePresence[] = [];
for (const [i, id] of machines.entries()) {
  const p = await registry.registerMachine({ id, publicIP: `198.18.0.${11 + i}`, metadata: {}, version: '1.0.0', disableEngine: false }, 2);
  p.onLost(() => say({ event: 'lost', machine: id }));
  presences.push(p);
}

let last = Date.now();
setInterval(() => {
  const now = Date.now();
  if (now - last > 500) say({ event: 'stall', ms: now - last });
  last = now;
}, 50);

const server = createApiServer({
  registry,
  config: { ...defaultConfig(), apiSocket: process.env.TEST_SOCKET!, apiListen: '' },
  machineId: machines[0] ?? 'child',
  version: '9.9.9-test',
  env: {},
});
await server.listen();

const engine = new Engine({ registry, machineId: machines[0] ?? 'child', leaseTtlSeconds: 2, reconcileIntervalMs: 500, machineLostGraceMs: 10_000 });
engine.on('pass', () => say({ event: 'pass', pending: engine.plan.pending }));
engine.start();
say({ event: 'ready' });

process.on('SIGTERM', () => {
  void (async () => {
    await engine.stop().catch(() => undefined);
    await server.close().catch(() => undefined);
    for (const p of presences) await p.close({ revoke: true }).catch(() => undefined);
    await registry.close({ client: true }).catch(() => undefined);
    process.exit(0);
  })();
});
