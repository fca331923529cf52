/**
 * Child process of the socket-activation tests (startActivated in fixture.ts): serves the API on the fds a
 * systemd-style env hands it, with TEST_API_TOKEN as api_token when set.
 */
import { Registry, openEtcd } from '../../lib/registry/index.js';
import { defaultConfig } from '../../fleetd/config.js';
import { createApiServer } from '../../fleetd/api/server.js';

const registry = new Registry(openEtcd({ endpoints: [process.env.TEST_ETCD!] }), process.env.TEST_PREFIX);
const server = createApiServer({
  registry,
  config: { ...defaultConfig(), apiSocket: '/nonexistent/dir/must-not-be-used.sock', apiListen: '', apiToken: process.env.TEST_API_TOKEN ?? '' },
  machineId: 'child',
  version: 'activated',
});
await server.listen();
process.stdout.write(JSON.stringify({ listeners: server.listeners.map((l) => ({ kind: l.kind, activated: l.activated })), env: process.env.LISTEN_FDS ?? null }) + '\n');
process.on('SIGTERM', () => {
  void server.close().then(() => {
    void registry.close({ client: true });
    process.exit(0);
  });
});
