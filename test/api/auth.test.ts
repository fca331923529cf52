import t from 'tap';
import { startEtcd } from '../harness/etcd.js';
import { makeCerts } from './certs.js';
import { request, startApi } from './fixture.js';

const etcd = await startEtcd(t);

t.test('TCP with api_token: bearer token required on TCP, not on the unix socket', async (t) => {
  const f = await startApi(t, { etcd, tcp: true, config: { apiToken: 's3cret-token' } });
  t.ok(f.tcp, 'listening on TCP');
  const none = await request(f, 'GET', '/fleet/v1/units', { tcp: f.tcp! });
  t.equal(none.status, 401);
  t.equal(none.headers['www-authenticate'], 'Bearer realm="fleet"');
  t.same(none.json, { error: { code: 401, message: 'this API requires a bearer token (Authorization: Bearer <api_token>)' } });
  const wrong = await request(f, 'GET', '/fleet/v1/units', { tcp: f.tcp!, headers: { Authorization: 'Bearer nope' } });
  t.same(wrong.json, { error: { code: 401, message: 'invalid API token' } });
  const basic = await request(f, 'GET', '/fleet/v1/units', { tcp: f.tcp!, headers: { Authorization: 'Basic czNjcmV0LXRva2Vu' } });
  t.equal(basic.status, 401);
  const metrics = await request(f, 'GET', '/metrics', { tcp: f.tcp! });
  t.equal(metrics.status, 401, 'metrics too');
  const ok = await request(f, 'GET', '/fleet/v1/units', { tcp: f.tcp!, headers: { Authorization: 'Bearer s3cret-token' } });
  t.equal(ok.status, 200);
  t.equal((await request(f, 'GET', '/fleet/v1/units')).status, 200, 'unix socket relies on file permissions');
});

t.test('TCP without auth stays open like fleet (and says so in the log)', async (t) => {
  const f = await startApi(t, { etcd, tcp: true });
  t.equal((await request(f, 'GET', '/fleet/v1/machines', { tcp: f.tcp! })).status, 200);
});

t.test('TLS with client certificates (api_tls_*), combined with a token', async (t) => {
  const c = makeCerts(t);
  const f = await startApi(t, {
    etcd,
    tcp: true,
    config: { apiTlsCertfile: c.serverCert, apiTlsKeyfile: c.serverKey, apiTlsCafile: c.caCert, apiToken: 'tok' },
  });
  const tls = { ca: c.read(c.caCert), cert: c.read(c.clientCert), key: c.read(c.clientKey) };
  const ok = await request(f, 'GET', '/fleet/v1/units', { tcp: f.tcp!, https: tls, headers: { Authorization: 'Bearer tok' } });
  t.equal(ok.status, 200);
  t.equal(ok.headers.server, 'fleetd/9.9.9-test');
  const noToken = await request(f, 'GET', '/fleet/v1/units', { tcp: f.tcp!, https: tls });
  t.equal(noToken.status, 401, 'token still required with TLS');
  await t.rejects(request(f, 'GET', '/fleet/v1/units', { tcp: f.tcp!, https: { ca: tls.ca } }), 'no client certificate: handshake refused');
  await t.rejects(
    request(f, 'GET', '/fleet/v1/units', { tcp: f.tcp!, https: { ca: tls.ca, cert: c.read(c.strangerCert), key: c.read(c.strangerKey) } }),
    'certificate of another CA refused',
  );
  await t.rejects(request(f, 'GET', '/fleet/v1/units', { tcp: f.tcp! }), 'plain HTTP on the TLS port fails');
  t.equal((await request(f, 'GET', '/fleet/v1/units')).status, 200, 'unix socket stays plain');
});

t.test('TLS without client CA: server TLS only', async (t) => {
  const c = makeCerts(t);
  const f = await startApi(t, { etcd, tcp: true, config: { apiTlsCertfile: c.serverCert, apiTlsKeyfile: c.serverKey } });
  const r = await request(f, 'GET', '/fleet/v1/units', { tcp: f.tcp!, https: { ca: c.read(c.caCert) } });
  t.equal(r.status, 200);
});
