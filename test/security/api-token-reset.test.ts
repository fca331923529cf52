/**
 * Issue 10: the API token must not be skippable. A client that writes one request without the token on TCP and
 * resets the connection right after must get nothing done: whether a request needs the token is decided by the
 * listener the connection came in on (unix socket, TCP, socket-activated fd of either family), never by a
 * property of the peer (a reset peer has no remoteAddress any more).
 */
import t from 'tap';
import net from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startEtcd } from '../harness/etcd.js';
import { HELLO, M1, addMachine, request, startActivated, startApi, submitUnit } from '../api/fixture.js';
import { dumpEtcd } from '../corpus/helpers.js';

const TOKEN = 'reset-me-not-token';
const TRIES = 40;
const etcd = await startEtcd(t);

function wait(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** One request without the token on a fresh TCP connection; the connection is reset as soon as it is written. */
function writeAndReset(hostPort: string, method: string, p: string, body?: string): Promise<void> {
  const [host, port] = hostPort.split(':');
  const head =
    `${method} ${p} HTTP/1.1\r\nHost: fleet\r\n` +
    (body !== undefined ? `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` : '') +
    '\r\n';
  return new Promise((resolve) => {
    const s = net.connect({ host: host!, port: Number(port) }, () => {
      s.write(head + (body ?? ''), () => {
        s.resetAndDestroy();
      });
    });
    s.on('error', () => undefined);
    s.on('close', () => resolve());
  });
}

t.test('reset-after-write requests without the token change nothing', async (t) => {
  const prefix = `/fleet-api-reset-${process.pid}/`;
  const f = await startApi(t, { etcd, prefix, tcp: true, config: { apiToken: TOKEN } });
  await addMachine(t, f.registry, M1, '198.18.0.11', { role: 'web' });
  for (let i = 0; i < TRIES; i++) await submitUnit(f.registry, `victim-${i}.service`, HELLO);
  const client = etcd.newClient();
  t.teardown(() => client.close());
  const before = await dumpEtcd(client, prefix);
  const unit = JSON.stringify({ desiredState: 'launched', options: [{ section: 'Service', name: 'ExecStart', value: '/usr/bin/id' }] });
  const launch = JSON.stringify({ desiredState: 'launched' });
  const patch = JSON.stringify([{ op: 'add', path: `/${M1}/metadata/owned`, value: 'yes' }]);
  const attacks: [string, string, (i: number) => string, string | undefined][] = [
    ['PUT (create)', 'PUT', (i) => `/fleet/v1/units/pwn-${i}.service`, unit],
    ['PUT (change state)', 'PUT', (i) => `/fleet/v1/units/victim-${i}.service`, launch],
    ['DELETE', 'DELETE', (i) => `/fleet/v1/units/victim-${i}.service`, undefined],
    ['PATCH machines', 'PATCH', () => '/fleet/v1/machines', patch],
    ['PUT (create, v1-alpha)', 'PUT', (i) => `/v1-alpha/units/alpha-${i}.service`, unit],
  ];
  for (const [, method, p, body] of attacks) {
    for (let i = 0; i < TRIES; i++) await writeAndReset(f.tcp!, method, p(i), body);
  }
  // Give any request that slipped through time to reach etcd.
  await wait(1000);
  const after = await dumpEtcd(client, prefix);
  const changed = Object.keys({ ...before.keys, ...after.keys }).filter((k) => JSON.stringify(before.keys[k]) !== JSON.stringify(after.keys[k]));
  t.same(changed, [], 'no key created, changed or deleted');
  t.equal(after.revision, before.revision, 'no write at all');
  t.equal((await request(f, 'GET', '/fleet/v1/units', { tcp: f.tcp!, headers: { Authorization: `Bearer ${TOKEN}` } })).status, 200, 'still serving');
});

t.test('TCP needs the token, the unix socket does not', async (t) => {
  const f = await startApi(t, { etcd, tcp: true, config: { apiToken: TOKEN } });
  for (const [method, p] of [
    ['GET', '/fleet/v1/units'],
    ['PUT', '/fleet/v1/units/x.service'],
    ['DELETE', '/fleet/v1/units/x.service'],
    ['PATCH', '/fleet/v1/machines'],
    ['POST', '/fleet/v1/plan'],
    ['GET', '/metrics'],
  ] as const) {
    const r = await request(f, method, p, { tcp: f.tcp!, ...(method === 'GET' || method === 'DELETE' ? {} : { body: {} }) });
    t.equal(r.status, 401, `${method} ${p} on TCP without the token: 401`);
    t.match(r.json, { error: { code: 401, message: /bearer token/ } });
  }
  t.equal((await request(f, 'GET', '/fleet/v1/units')).status, 200, 'unix socket: no token');
});

/** Starts the API in a child with systemd-style LISTEN_FDS: fd 3 a unix socket, fd 4 a TCP socket. */
t.test('socket activation: the unix fd is local, the TCP fd needs the token', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fleet-api-act-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const sock = path.join(dir, 'act.sock');
  const unixParent = net.createServer();
  await new Promise<void>((r) => unixParent.listen(sock, r));
  const tcpParent = net.createServer();
  await new Promise<void>((r) => tcpParent.listen(0, '127.0.0.1', r));
  const tcpAddr = `127.0.0.1:${(tcpParent.address() as net.AddressInfo).port}`;
  const prefix = `/fleet-api-act-${process.pid}/`;
  const f = await startApi(t, { etcd, prefix });
  await submitUnit(f.registry, 'seen.service', HELLO);
  const { proc, reported } = await startActivated(t, [unixParent, tcpParent], { TEST_ETCD: etcd.endpoint, TEST_PREFIX: prefix, TEST_API_TOKEN: TOKEN });
  t.same(reported, { listeners: [{ kind: 'unix', activated: true }, { kind: 'tcp', activated: true }], env: null });
  t.equal((await request({ socket: sock }, 'GET', '/fleet/v1/units')).status, 200, 'activated unix fd: no token');
  const none = await request({ socket: sock }, 'GET', '/fleet/v1/units', { tcp: tcpAddr });
  t.equal(none.status, 401, 'activated TCP fd: token required');
  const ok = await request({ socket: sock }, 'GET', '/fleet/v1/units', { tcp: tcpAddr, headers: { Authorization: `Bearer ${TOKEN}` } });
  t.equal(ok.status, 200, 'activated TCP fd with the token');
  for (let i = 0; i < TRIES; i++) await writeAndReset(tcpAddr, 'DELETE', '/fleet/v1/units/seen.service');
  await wait(500);
  t.ok(await f.registry.getUnit('seen.service'), 'reset DELETEs on the activated TCP fd did nothing');
  proc.kill('SIGTERM');
  await new Promise((r) => proc.on('exit', r));
});
