import { existsSync } from 'node:fs';
import t from 'tap';
import { pidAlive, startEtcd } from '../harness/etcd.js';
import { Registry } from '../../lib/registry/index.js';
import { machine, waitFor } from './helpers.js';

t.test('startEtcd gives a working etcd and stop leaves nothing behind', async (t) => {
  const etcd = await startEtcd(t);
  t.match(etcd.endpoint, /^http:\/\/127\.0\.0\.1:\d+$/);
  t.same(etcd.clientUrls, [etcd.endpoint]);
  await etcd.client.put('k').value('v');
  t.equal(await etcd.client.get('k').string(), 'v');
  const pid = etcd.pid;
  t.ok(pidAlive(pid));
  t.ok(existsSync(etcd.dataDir));
  await etcd.stop();
  t.notOk(pidAlive(pid), 'etcd process gone');
  t.notOk(existsSync(etcd.dataDir), 'data dir removed');
  await etcd.stop();
});

t.test('two instances run side by side on their own ports', async (t) => {
  const [a, b] = await Promise.all([startEtcd(t), startEtcd(t)]);
  t.not(a.clientPort, b.clientPort);
  await a.client.put('where').value('a');
  t.equal(await b.client.get('where').string(), null);
});

t.test('restart keeps data; pause stalls requests until resume', async (t) => {
  const etcd = await startEtcd(t);
  await etcd.client.put('k').value('v');
  const pid = etcd.pid;
  await etcd.restart();
  t.not(etcd.pid, pid);
  t.notOk(pidAlive(pid));
  const c = etcd.newClient({ requestTimeoutMs: 500 });
  t.equal(await waitFor('etcd back', () => c.get('k').string().catch(() => undefined)), 'v');

  etcd.pause();
  await t.rejects(c.get('k').string(), 'paused etcd does not answer');
  etcd.resume();
  t.equal(await waitFor('etcd answering', () => c.get('k').string().catch(() => undefined)), 'v');
});

t.test('a paused etcd makes a registered machine lose its presence', async (t) => {
  const etcd = await startEtcd(t);
  const reg = new Registry(etcd.newClient({ requestTimeoutMs: 500 }));
  const p = await reg.registerMachine(machine('m'), 2);
  t.teardown(() => p.close().catch(() => undefined));
  let lost = false;
  p.onLost(() => (lost = true));
  etcd.pause();
  await waitFor('loss', () => (lost ? true : undefined), 10000);
  etcd.resume();
  await waitFor('re-registration', () => p.reregister().then(() => true, () => undefined), 20000);
  t.ok(p.alive);
  t.same((await reg.listMachines()).map((m) => m.id), ['m']);
});
