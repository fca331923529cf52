/** Child process of api-bounds.test.ts: a fleetd API on a unix socket, in a process of its own so its RSS can be measured. */
import { Registry, openEtcd } from '../../lib/registry/index.js';
import { defaultConfig } from '../../fleetd/config.js';
import { createApiServer } from '../../fleetd/api/server.js';

const registry = new Registry(openEtcd({ endpoints: [process.env.TEST_ETCD!] }), process.env.TEST_PREFIX);
const server = createApiServer({
  registry,
  config: { ...defaultConfig(), apiSocket: process.env.TEST_SOCKET!, apiListen: '' },
  machineId: 'child',
  version: 'bounds',
  env: {},
});
await server.listen();
process.stdout.write(JSON.stringify({ pid: process.pid }) + '\n');
process.on('SIGTERM', () => {
  void server.close().then(() => {
    void registry.close({ client: true });
    process.exit(0);
  });
});
