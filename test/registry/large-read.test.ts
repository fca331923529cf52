import t from 'tap';
import { createHash } from 'node:crypto';
import { startEtcd } from '../harness/etcd.js';
import { openEtcd, Registry } from '../../lib/registry/index.js';

t.test('a whole-prefix read larger than gRPC\'s 4 MiB default succeeds', async (t) => {
  const etcd = await startEtcd(t);
  const client = openEtcd({ endpoints: [etcd.endpoint] });
  t.teardown(() => client.close());
  const reg = new Registry(client);
  const filler = 'x'.repeat(100_000);
  for (let i = 0; i < 60; i++) {
    const text = `[Service]\nExecStart=/bin/true ${i} ${filler}\n`;
    const hash = createHash('sha1').update(text).digest('hex');
    await reg.createUnit({ name: `big-${i}.service`, text, hash, desiredState: 'inactive', global: false });
  }
  t.equal((await reg.listUnits()).length, 60);
  const texts = await client.getAll().prefix(`${reg.prefix}unit/`).strings();
  t.equal(Object.keys(texts).length, 60);
  t.ok(Object.values(texts).reduce((n, v) => n + v.length, 0) > 5 * 1024 * 1024, 'more than 5 MiB in one range response');
});
