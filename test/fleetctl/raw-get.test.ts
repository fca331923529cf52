/**
 * fleetctl's GET over node:net (fleetctl/client/raw-get.ts, the quick path's; issue 13). The parser on its own:
 * Content-Length and chunked bodies whole and fed a byte at a time, bodies framed by the end of the connection,
 * and what it leaves to node:http. Then the client with `rawGets` against servers that write exact bytes: for
 * each answer (Content-Length, chunked, truncated, an error status, not JSON, a refused connection, a missing
 * socket, no answer, a body that stalls) the result or error is the one the node:http path gives, and the plain
 * answers were read over node:net (one request, `Connection: close`), the odd ones sent again over node:http.
 */
import t, { type Test } from 'tap';
import net from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { HttpFleetClient } from '../../fleetctl/client/http.js';
import { parseResponse, rawGet, rawGetPossible, type ParseResult } from '../../fleetctl/client/raw-get.js';
import { errorMessage } from '../../lib/errors.js';

const BODY = JSON.stringify({ machines: [{ id: 'a'.repeat(32), primaryIP: '198.18.0.11', metadata: { region: 'eu' } }] });
const head = (status: string, headers: string[]): string => `HTTP/1.1 ${status}\r\n${headers.map((h) => `${h}\r\n`).join('')}\r\n`;
const withLength = (status: string, body: string): string => head(status, ['Content-Type: application/json', `Content-Length: ${Buffer.byteLength(body)}`]) + body;
const chunked = (body: string, size: number): string => {
  let out = head('200 OK', ['Content-Type: application/json', 'Transfer-Encoding: chunked']);
  for (let i = 0; i < body.length; i += size) out += `${Buffer.byteLength(body.slice(i, i + size)).toString(16)}\r\n${body.slice(i, i + size)}\r\n`;
  return `${out}0\r\n\r\n`;
};

const done = (r: ParseResult): { status: number; body: string } | string => (r.kind === 'done' ? { status: r.answer.status, body: r.answer.body.toString() } : r.kind);

t.test('the parser reads Content-Length, chunked and connection-framed bodies, whole or a byte at a time', async (t) => {
  for (const [what, text] of [
    ['content-length', withLength('200 OK', BODY)],
    ['chunked, 7-byte chunks', chunked(BODY, 7)],
    ['chunked, one chunk', chunked(BODY, 10_000)],
  ] as const) {
    const bytes = Buffer.from(text);
    t.same(done(parseResponse(bytes, false)), { status: 200, body: BODY }, `${what}: whole`);
    for (let n = 0; n < bytes.length; n++) {
      const r = parseResponse(bytes.subarray(0, n), false);
      if (r.kind !== 'incomplete') {
        t.fail(`${what}: ${n} of ${bytes.length} bytes gave ${r.kind}`);
        break;
      }
      if (parseResponse(bytes.subarray(0, n), true).kind !== 'bad') {
        t.fail(`${what}: ${n} of ${bytes.length} bytes and the connection closed is not left to node:http`);
        break;
      }
    }
  }
  const noLength = Buffer.from(head('200 OK', ['Content-Type: application/json']) + BODY);
  t.equal(parseResponse(noLength, false).kind, 'incomplete', 'no length: the body runs to the end of the connection');
  t.same(done(parseResponse(noLength, true)), { status: 200, body: BODY });
  t.same(done(parseResponse(Buffer.from(head('204 No Content', [])), false)), { status: 204, body: '' }, '204 has no body');
  const r = parseResponse(Buffer.from(head('500 Internal Server Error', ['X-A: 1', 'x-a: 2', 'Content-Length: 2']) + '{}'), false);
  t.same(r.kind === 'done' ? r.answer.headers['x-a'] : undefined, '1, 2', 'a repeated header is joined as node:http joins it');
});

t.test('the parser leaves to node:http what it does not fully understand', async (t) => {
  for (const [what, text] of [
    ['HTTP/2', `HTTP/2 200\r\nContent-Length: 2\r\n\r\n{}`],
    ['a 1xx answer', `HTTP/1.1 100 Continue\r\n\r\n${withLength('200 OK', '{}')}`],
    ['a folded header', `HTTP/1.1 200 OK\r\nX-A: 1\r\n  2\r\nContent-Length: 2\r\n\r\n{}`],
    ['two Content-Lengths', head('200 OK', ['Content-Length: 2', 'Content-Length: 2']) + '{}'],
    ['Content-Length and chunked', head('200 OK', ['Content-Length: 2', 'Transfer-Encoding: chunked']) + '2\r\n{}\r\n0\r\n\r\n'],
    ['gzip transfer coding', head('200 OK', ['Transfer-Encoding: gzip, chunked']) + '0\r\n\r\n'],
    ['a chunk extension', head('200 OK', ['Transfer-Encoding: chunked']) + '2;x=y\r\n{}\r\n0\r\n\r\n'],
    ['a trailer', head('200 OK', ['Transfer-Encoding: chunked']) + '2\r\n{}\r\n0\r\nX-T: 1\r\n\r\n'],
    ['more bytes than Content-Length', head('200 OK', ['Content-Length: 1']) + '{}'],
    ['a negative Content-Length', head('200 OK', ['Content-Length: -1']) + '{}'],
    ['a huge head', head('200 OK', [`X-Big: ${'x'.repeat(9000)}`, 'Content-Length: 2']) + '{}'],
  ] as const) {
    t.equal(parseResponse(Buffer.from(text), true).kind, 'bad', what);
  }
  t.notOk(rawGetPossible({ hostHeader: 'h', path: '/a b', headers: {} }), 'a path with a space');
  t.notOk(rawGetPossible({ hostHeader: 'h', path: '/a', headers: { Authorization: 'Bearer x\r\nX-Evil: 1' } }), 'a header value with CR LF');
  t.ok(rawGetPossible({ hostHeader: '127.0.0.1:80', path: '/fleet/v1/machines?alt=json', headers: { Accept: 'application/json' } }));
});

interface Served {
  endpoint: string;
  requests: string[];
}

/** A TCP server that answers every request with `answer` (written as is), or with nothing for 'silent'. */
/** Listens on a loopback port; at teardown the server closes and drops the connections in `open`. */
async function listenOnLoopback(t: Test, srv: net.Server, open: ReadonlySet<net.Socket>): Promise<net.AddressInfo> {
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  t.teardown(
    () =>
      new Promise<void>((r) => {
        for (const c of open) c.destroy();
        srv.close(() => r());
      }),
  );
  return srv.address() as net.AddressInfo;
}

async function rawServer(t: Test, answer: string | ((req: number) => string | 'silent' | 'stall-body')): Promise<Served> {
  const requests: string[] = [];
  const open = new Set<net.Socket>();
  const srv = net.createServer((c) => {
    open.add(c);
    c.on('close', () => open.delete(c));
    c.on('error', () => undefined);
    let buf = '';
    c.on('data', (d) => {
      buf += d.toString('latin1');
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      requests.push(buf.slice(0, end));
      buf = buf.slice(end + 4);
      const a = typeof answer === 'string' ? answer : answer(requests.length);
      if (a === 'silent') return;
      if (a === 'stall-body') {
        c.write(head('200 OK', ['Content-Length: 100']) + '{"machines"');
        return;
      }
      c.end(a);
    });
  });
  const addr = await listenOnLoopback(t, srv, open);
  return { endpoint: `http://127.0.0.1:${addr.port}`, requests };
}

const tcpClient = (endpoint: string, rawGets: boolean, timeoutMs = 5000): HttpFleetClient =>
  new HttpFleetClient({ endpoint: { kind: 'tcp', url: new URL(endpoint), tls: false, display: endpoint }, requestTimeoutMs: timeoutMs, rawGets, token: 'tok' });

/** machines() as a comparable value: the list, or the error's class and message (the endpoint as <endpoint>). */
async function machines(c: HttpFleetClient): Promise<unknown> {
  try {
    return await c.machines();
  } catch (err) {
    return `${(err as Error).constructor.name}: ${errorMessage(err)}`.split(c.endpoint).join('<endpoint>');
  } finally {
    await c.close();
  }
}

t.test('answers and errors over node:net are those of node:http', async (t) => {
  const cases: { what: string; answer: string | ((req: number) => string | 'silent' | 'stall-body'); viaNet: boolean; timeoutMs?: number; expectAs?: string }[] = [
    { what: 'Content-Length body', answer: withLength('200 OK', BODY), viaNet: true },
    { what: 'chunked body', answer: chunked(BODY, 16), viaNet: true },
    { what: 'body to the end of the connection', answer: head('200 OK', ['Content-Type: application/json']) + BODY, viaNet: true },
    { what: 'a 500 with fleet error body', answer: withLength('500 Internal Server Error', JSON.stringify({ error: { code: 500, message: 'etcd is gone' } })), viaNet: true },
    { what: 'a 404 that is not JSON', answer: withLength('404 Not Found', 'no such page\n'), viaNet: true },
    { what: 'a 401', answer: withLength('401 Unauthorized', JSON.stringify({ error: { code: 401, message: 'bad token' } })), viaNet: true },
    { what: 'a body that is not JSON', answer: withLength('200 OK', '<html>'), viaNet: true },
    { what: 'a truncated body', answer: head('200 OK', ['Content-Length: 500']) + BODY, viaNet: false },
    { what: 'a truncated chunked body', answer: chunked(BODY, 16).slice(0, 80), viaNet: false },
    { what: 'a truncated head', answer: 'HTTP/1.1 200 OK\r\nContent-Le', viaNet: false },
    // node:http's path would fail on the first answer; the second try reads the whole one, as node:http reads it.
    { what: 'a truncated first time only', answer: (n) => (n === 1 ? head('200 OK', ['Content-Length: 500']) + BODY : withLength('200 OK', BODY)), viaNet: false, expectAs: withLength('200 OK', BODY) },
    { what: 'no answer at all', answer: () => 'silent', viaNet: true, timeoutMs: 300 },
    { what: 'a body that stalls', answer: () => 'stall-body', viaNet: true, timeoutMs: 300 },
  ];
  for (const c of cases) {
    const viaHttp = await rawServer(t, c.expectAs ?? c.answer);
    const expected = await machines(tcpClient(viaHttp.endpoint, false, c.timeoutMs));
    const viaRaw = await rawServer(t, c.answer);
    const got = await machines(tcpClient(viaRaw.endpoint, true, c.timeoutMs));
    t.same(got, expected, `${c.what}: same result as over node:http`);
    const first = viaRaw.requests[0] ?? '';
    t.match(first, /^GET \/fleet\/v1\/machines\?alt=json HTTP\/1\.1\r\n/, `${c.what}: the request line`);
    t.match(first, /\r\nAuthorization: Bearer tok(\r\n|$)/, `${c.what}: the token is sent`);
    t.match(first, /\r\nConnection: close(\r\n|$)/, `${c.what}: first sent over node:net`);
    t.equal(viaRaw.requests.length, c.viaNet ? 1 : 2, c.viaNet ? `${c.what}: answered over node:net` : `${c.what}: sent again over node:http`);
    if (!c.viaNet) t.match(viaRaw.requests[1] ?? '', /\r\nConnection: keep-alive(\r\n|$)/i, `${c.what}: the second time by node:http`);
  }
});

t.test('a refused connection and a missing socket are worded as over node:http, without a second try', async (t) => {
  const refused = net.createServer();
  await new Promise<void>((r) => refused.listen(0, '127.0.0.1', r));
  const refusedPort = (refused.address() as net.AddressInfo).port;
  await new Promise<void>((r) => refused.close(() => r()));
  const endpoint = `http://127.0.0.1:${refusedPort}`;
  t.same(await machines(tcpClient(endpoint, true)), await machines(tcpClient(endpoint, false)), 'connection refused');
  t.match(await machines(tcpClient(endpoint, true)), /connection refused \(is fleetd running\?\)/);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fleetctl-raw-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const socket = path.join(dir, 'none.sock');
  const unix = (rawGets: boolean): HttpFleetClient => new HttpFleetClient({ endpoint: { kind: 'unix', socketPath: socket, display: `unix://${socket}` }, requestTimeoutMs: 5000, rawGets });
  t.same(await machines(unix(true)), await machines(unix(false)), 'no such socket');
  t.match(await machines(unix(true)), /no such socket \(is fleetd running\?\)/);
});

t.test('over a unix socket the Host header is the one node:http sends', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fleetctl-raw-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const socket = path.join(dir, 'api.sock');
  const requests: string[] = [];
  const srv = net.createServer((c) => {
    c.on('error', () => undefined);
    c.once('data', (d) => {
      requests.push(d.toString('latin1'));
      c.end(withLength('200 OK', BODY));
    });
  });
  await new Promise<void>((r) => srv.listen(socket, r));
  t.teardown(() => new Promise<void>((r) => srv.close(() => r())));
  const results: unknown[] = [];
  for (const rawGets of [false, true]) {
    results.push(await machines(new HttpFleetClient({ endpoint: { kind: 'unix', socketPath: socket, display: `unix://${socket}` }, requestTimeoutMs: 5000, rawGets })));
  }
  t.same(results[1], results[0], 'the same machines');
  t.match(results[1], [{ id: 'a'.repeat(32), primaryIP: '198.18.0.11' }]);
  const hosts = requests.map((r) => /\r\nHost: ([^\r]*)/i.exec(r)?.[1]);
  t.same(hosts, ['domain-sock', 'domain-sock']);
  t.match(requests[1], /\r\nConnection: close\r\n/);
});

t.test('rawGet itself: bodies written a byte at a time, and the size bound', async (t) => {
  /** A server that writes `text` in pieces of `step` bytes, one per event loop turn, then closes (or not). */
  async function trickle(text: string, step: number, keepOpen = false): Promise<number> {
    const open = new Set<net.Socket>();
    const srv = net.createServer((c) => {
      open.add(c);
      c.on('error', () => undefined);
      c.once('data', async () => {
        const b = Buffer.from(text);
        for (let i = 0; i < b.length && !c.destroyed; i += step) {
          c.write(b.subarray(i, i + step));
          await new Promise((r) => setImmediate(r));
        }
        if (!keepOpen) c.end();
      });
    });
    return (await listenOnLoopback(t, srv, open)).port;
  }
  const get = async (port: number, maxBodyBytes = 1 << 20): Promise<unknown> => {
    const r = await rawGet({ target: { host: '127.0.0.1', port }, hostHeader: `127.0.0.1:${port}`, path: '/x', headers: {}, timeoutMs: 5000, maxBodyBytes });
    return r !== undefined && 'status' in r ? { status: r.status, body: r.body.toString() } : r;
  };
  t.same(await get(await trickle(chunked(BODY, 5), 1)), { status: 200, body: BODY }, 'chunked, one byte per write');
  t.same(await get(await trickle(withLength('200 OK', BODY), 3)), { status: 200, body: BODY }, 'Content-Length, three bytes per write');
  // The server keeps the connection open: the answer must be seen complete from its framing alone.
  t.same(await get(await trickle(chunked(BODY, 5), 1, true)), { status: 200, body: BODY }, 'chunked, one byte per write, connection kept open');
  t.same(await get(await trickle(withLength('200 OK', BODY), 3, true)), { status: 200, body: BODY }, 'Content-Length, connection kept open');
  const big = 'x'.repeat(2048);
  t.same(await get(await trickle(head('200 OK', []) + big, 512), 1024), { kind: 'too-large' }, 'a connection-framed body past the bound is refused');
  t.equal(await get(await trickle(withLength('200 OK', big), 512), 1024), undefined, 'a Content-Length past the bound is left to node:http');
});
