/**
 * Issue 10: answers fleetd's API gives before a handler runs carry fleet's JSON error body too: an `Expect:`
 * other than 100-continue (Node alone answers a bare 417), and a request whose headers never finish (408 after
 * the headers timeout, the slowloris bound). A request refused while its body is still arriving is read to its
 * end before the answer, so the client reads the answer instead of a connection reset; and after its last answer
 * fleetd closes lingering, so a client's late write does not fail.
 */
import t from 'tap';
import net from 'node:net';
import { startEtcd } from '../harness/etcd.js';
import { startApi } from '../api/fixture.js';
import { HEADERS_TIMEOUT_MS } from '../../fleetd/api/server.js';

const etcd = await startEtcd(t);
const f = await startApi(t, { etcd, tcp: true, config: { apiToken: 'tok' } });

/** Writes `data` on a fresh connection and returns all the server sends until it closes (or `waitMs`). */
function exchange(target: { path: string } | { host: string; port: number }, data: string, waitMs: number): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect(target);
    let out = '';
    const timer = setTimeout(() => s.destroy(), waitMs);
    s.on('data', (d: Buffer) => (out += d.toString('latin1')));
    s.on('error', () => undefined);
    s.on('close', () => {
      clearTimeout(timer);
      resolve(out);
    });
    s.write(data);
  });
}

function parse(text: string): { status: number; headers: Map<string, string>; body: unknown } {
  const m = /^HTTP\/1\.1 (\d{3}) [^\r]*\r\n((?:[^\r]+\r\n)*)\r\n([\s\S]*)$/.exec(text);
  if (!m) return { status: 0, headers: new Map(), body: text };
  const headers = new Map(m[2]!.split('\r\n').filter(Boolean).map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
  let body: unknown;
  try {
    body = JSON.parse(m[3]!.slice(0, Number(headers.get('content-length'))));
  } catch {
    body = m[3];
  }
  return { status: Number(m[1]), headers, body };
}

t.test('Expect: with an unknown value gets 417 with the JSON error body', async (t) => {
  const [host, port] = f.tcp!.split(':');
  for (const [what, target, auth] of [
    ['unix socket', { path: f.socket }, ''],
    ['TCP', { host: host!, port: Number(port) }, 'Authorization: Bearer tok\r\n'],
  ] as const) {
    const text = await exchange(target, `PUT /fleet/v1/units/e.service HTTP/1.1\r\nHost: x\r\n${auth}Expect: 200-ok\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}`, 3000);
    const a = parse(text);
    t.equal(a.status, 417, `${what}: 417`);
    t.match(a.headers.get('content-type'), /^application\/json/, `${what}: JSON`);
    t.same(a.body, { error: { code: 417, message: 'unsupported Expect header "200-ok": only 100-continue is supported' } }, `${what}: fleet error body`);
    t.match(a.headers.get('server'), /^fleetd\//);
  }
  t.notOk(await f.registry.getUnit('e.service'), 'nothing stored');
  const cont = parse(
    await exchange({ path: f.socket }, 'GET /fleet/v1/units HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n', 3000),
  );
  t.equal(cont.status, 100, '100-continue still works');
  const noToken = await exchange(
    { host: host!, port: Number(port) },
    'PUT /fleet/v1/units/e.service HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n',
    3000,
  );
  t.match(noToken, /^HTTP\/1\.1 401 /, 'TCP without the token: 401 at once, no invitation to send the body');
});

t.test('headers that never finish: 408 with the JSON error body', async (t) => {
  const text = await exchange({ path: f.socket }, 'GET /fleet/v1/units HTTP/1.1\r\nHost: x\r\nX-Slow: ', HEADERS_TIMEOUT_MS + 15_000);
  const a = parse(text);
  t.equal(a.status, 408, '408');
  t.match(a.body, { error: { code: 408, message: /request not received in time/ } });
});

t.test('a request refused while its body is still arriving: the rest is read, then the answer, no reset', async (t) => {
  const [host, port] = f.tcp!.split(':');
  const size = 2 * 1024 * 1024;
  const result = await new Promise<{ text: string; error?: string }>((resolve) => {
    // Half-open allowed: like an HTTP client, it keeps sending its body even after the server's answer arrived.
    const s = net.connect({ host: host!, port: Number(port), allowHalfOpen: true });
    let text = '';
    let error: string | undefined;
    const timer = setTimeout(() => s.destroy(), 10_000);
    s.on('data', (d: Buffer) => (text += d.toString('latin1')));
    s.on('error', (err) => (error = err.message));
    s.on('close', () => {
      clearTimeout(timer);
      resolve({ text, error });
    });
    // No token on TCP: refused (401) once the headers are in; half the body is sent now, the rest a moment later.
    s.write(`PUT /fleet/v1/units/r.service HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${size}\r\nConnection: close\r\n\r\n`);
    s.write(Buffer.alloc(size / 2, 0x20));
    setTimeout(() => s.end(Buffer.alloc(size / 2, 0x20)), 300);
  });
  t.equal(result.error, undefined, 'the connection was not reset under the client');
  const a = parse(result.text);
  t.equal(a.status, 401, '401');
  t.match(a.body, { error: { code: 401 } }, 'with the JSON error body');
});

t.test('after its last answer fleetd closes lingering: a client still writing is not reset', async (t) => {
  const result = await new Promise<{ text: string; error?: string }>((resolve) => {
    const s = net.connect({ path: f.socket, allowHalfOpen: true });
    let text = '';
    let error: string | undefined;
    const timer = setTimeout(() => s.destroy(), 10_000);
    s.on('data', (d: Buffer) => (text += d.toString('latin1')));
    s.on('error', (err) => (error = err.message));
    // fleetd has answered and sent its FIN; the client's last write (as Node's HTTP client's can be) comes now.
    s.on('end', () => s.end('\r\n'));
    s.on('close', () => {
      clearTimeout(timer);
      resolve({ text, error });
    });
    s.write('GET /fleet/v1/units HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  });
  t.equal(result.error, undefined, 'the late write did not fail');
  t.equal(parse(result.text).status, 200, 'the answer arrived');
});
