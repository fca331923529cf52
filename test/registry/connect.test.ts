import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { startEtcd } from '../harness/etcd.js';
import { EtcdRequestError, openEtcd, Registry, RegistryConfigError } from '../../lib/registry/index.js';
import { spec } from './helpers.js';
import { errorMessage } from '../../lib/errors.js';
import { readPages } from '../../lib/registry/etcd.js';
import type { Etcd3 } from 'etcd3';

/** Writes 3 keys below `prefix` and reads them back in pages of one key: two of them by plain range calls. */
async function pagedKeys(client: Etcd3, prefix: string): Promise<string[]> {
  for (let i = 0; i < 3; i++) await client.put(`${prefix}${i}`).value(String(i)).exec();
  const snap = await readPages(client, [{ prefix, pageKeys: 1 }]);
  return snap.kvs[0]!.map((kv) => kv.key.toString());
}

t.test('openEtcd refuses unusable settings', async (t) => {
  t.throws(() => openEtcd({ endpoints: [] }), RegistryConfigError);
  t.throws(() => openEtcd({ endpoints: ['127.0.0.1:2379'] }), RegistryConfigError);
  t.throws(() => openEtcd({ endpoints: ['ftp://127.0.0.1:2379'] }), RegistryConfigError);
  t.throws(() => openEtcd({ endpoints: ['http://127.0.0.1:2379'], tls: { cert: Buffer.from('x') } }), /both a certificate and a key/);
  t.throws(() => openEtcd({ endpoints: ['https://127.0.0.1:2379'], tls: { ca: '/nonexistent/ca.pem' } }), /cannot read etcd TLS CA file/);
  t.throws(() => openEtcd({ endpoints: ['http://127.0.0.1:2379'], requestTimeoutMs: 0 }), RegistryConfigError);
});

t.test('an unreachable etcd gives a transient EtcdRequestError within the timeout', async (t) => {
  const client = openEtcd({ endpoints: ['http://127.0.0.1:1'], requestTimeoutMs: 300 });
  t.teardown(() => client.close());
  const reg = new Registry(client);
  const started = Date.now();
  const err = await reg.listUnits().then(
    () => undefined,
    (e: unknown) => e,
  );
  t.type(err, EtcdRequestError);
  t.ok((err as EtcdRequestError).transient);
  t.match(errorMessage(err), /listing units.*etcd_servers/);
  t.ok(Date.now() - started < 10000);
});

t.test('TLS with client certificates', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fleet-tls-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const f = (n: string) => path.join(dir, n);
  const ssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'pipe' });
  ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=test-ca', '-keyout', f('ca.key'), '-out', f('ca.pem'));
  writeFileSync(f('ext.cnf'), 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n');
  ssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=127.0.0.1', '-keyout', f('node.key'), '-out', f('node.csr'));
  ssl('x509', '-req', '-in', f('node.csr'), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-CAcreateserial', '-days', '1', '-extfile', f('ext.cnf'), '-out', f('node.pem'));

  const etcd = await startEtcd(t, {
    tls: { certFile: f('node.pem'), keyFile: f('node.key'), caFile: f('ca.pem'), clientCertAuth: true },
  });
  t.match(etcd.endpoint, /^https:/);
  const reg = new Registry(etcd.client);
  await reg.createUnit(spec('tls.service'));
  t.equal((await reg.getUnit('tls.service'))?.name, 'tls.service');
  t.same(await pagedKeys(etcd.client, '/tls-pages/'), ['/tls-pages/0', '/tls-pages/1', '/tls-pages/2'], 'pages after the first (lean decoding) over TLS');

  const noCert = openEtcd({ endpoints: [etcd.endpoint], tls: { ca: f('ca.pem') }, requestTimeoutMs: 1000 });
  t.teardown(() => noCert.close());
  await t.rejects(new Registry(noCert).listUnits(), EtcdRequestError, 'a client without certificate is refused');
});

t.test('username/password authentication', async (t) => {
  const etcd = await startEtcd(t);
  await etcd.client.user('root').create('secret');
  await etcd.client.user('root').addRole('root');
  await etcd.client.auth.authEnable({});
  const authed = openEtcd({ endpoints: [etcd.endpoint], auth: { username: 'root', password: 'secret' } });
  t.teardown(() => authed.close());
  const reg = new Registry(authed);
  await reg.createUnit(spec('auth.service'));
  t.same((await reg.listUnits()).map((u) => u.name), ['auth.service']);
  t.same(await pagedKeys(authed, '/auth-pages/'), ['/auth-pages/0', '/auth-pages/1', '/auth-pages/2'], 'pages after the first (lean decoding) with a token');
  await t.rejects(new Registry(etcd.client).listUnits(), EtcdRequestError, 'anonymous access refused');
});
