/**
 * TLS files given for an endpoint that does not use TLS (http://, unix://) are not used: fleetctl says so on
 * stderr in one line naming the flags and the endpoint, instead of letting the operator believe the connection
 * is authenticated.
 */
import t from 'tap';
import { freePort, startEtcd } from '../harness/etcd.js';
import { startApi } from '../api/fixture.js';
import { fleetctl } from '../fleetctl/helpers.js';

const closed = `http://127.0.0.1:${await freePort()}`;

t.test('TLS flags with an http:// endpoint: one warning line naming the flags and the endpoint', async (t) => {
  const r = await fleetctl(['--ca-file=/etc/ssl/ca.pem', '--cert-file=/etc/ssl/c.pem', '--key-file=/etc/ssl/k.pem', 'list-units'], { env: { FLEETCTL_ENDPOINT: closed } });
  const lines = r.stderr.split('\n').filter((l) => l !== '');
  t.equal(lines.length, 2, 'the warning and the connection error');
  t.match(lines[0], /^WARNING: .*--ca-file.*--cert-file.*--key-file.* ignored.*http:\/\/127\.0\.0\.1:\d+.*TLS/);
  t.match(lines[1], /cannot reach/);

  const env = await fleetctl(['list-units'], { env: { FLEETCTL_ENDPOINT: closed, FLEETCTL_KEY_FILE: '/k.pem' } });
  t.match(env.stderr, /^WARNING: --key-file .*ignored.*http:\/\/127\.0\.0\.1/, 'also when set through FLEETCTL_KEY_FILE');
  t.notMatch(env.stderr, /--ca-file|--cert-file/, 'only the flags given are named');
});

t.test('TLS flags with a unix socket endpoint: the warning, and the command still works', async (t) => {
  const etcd = await startEtcd(t);
  const f = await startApi(t, { etcd });
  const r = await fleetctl(['--ca-file=/nonexistent/ca.pem', 'list-machines'], { env: { FLEETCTL_ENDPOINT: `unix://${f.socket}` } });
  t.equal(r.code, 0);
  t.equal(r.stdout, 'MACHINE\tIP\tMETADATA\n');
  t.match(r.stderr, new RegExp(`^WARNING: --ca-file .*ignored.*unix://${f.socket.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}.*\\n$`));
  t.equal(r.stderr.split('\n').length, 2, 'one line');
});

t.test('no warning when the endpoint uses TLS', async (t) => {
  const r = await fleetctl(['--ca-file=/nonexistent/ca.pem', 'list-units'], { env: { FLEETCTL_ENDPOINT: `https://127.0.0.1:${await freePort()}` } });
  t.notMatch(r.stderr, /WARNING/);
  t.equal(r.code, 1, 'the unreadable CA file is an error');
});
