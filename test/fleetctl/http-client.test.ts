/**
 * fleetctl's HTTP client against a server that closes a kept-alive connection just as the client reuses it
 * (what a fleetd restart does to a `fleetctl start` that is waiting): the request is sent again on a new
 * connection, once; a fresh connection that is reset is an error as before. And against a server that answers
 * bodies of the wrong shape (not fleetd, broken, or hostile): every body goes through lib/api/decode.ts, so the
 * client reports the field that does not fit as an EndpointError, and fleetctl exits 1 with one line. A body that
 * never ends is refused at MAX_RESPONSE_BYTES instead of filling memory.
 */
import t, { type Test } from 'tap';
import net from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import http from 'node:http';
import { HttpFleetClient, MAX_RESPONSE_BYTES } from '../../fleetctl/client/http.js';
import { fleetctl } from './helpers.js';

const BODY = JSON.stringify({ machines: [{ id: 'a'.repeat(32), primaryIP: '198.18.0.11', metadata: {} }] });
const OK = `HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(BODY)}\r\nConnection: keep-alive\r\n\r\n${BODY}`;

/** Answers the first request of a connection; `dropSecond`: closes the connection when a second one arrives. */
async function server(t: Test, behaviour: (conn: number, req: number) => 'answer' | 'drop'): Promise<{ socket: string; connections: () => number }> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fleetctl-http-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const socket = path.join(dir, 'api.sock');
  let conns = 0;
  const open = new Set<net.Socket>();
  const srv = net.createServer((c) => {
    open.add(c);
    c.on('close', () => open.delete(c));
    const conn = ++conns;
    let reqs = 0;
    let buf = '';
    c.on('data', (d) => {
      buf += d.toString('latin1');
      while (buf.includes('\r\n\r\n')) {
        buf = buf.slice(buf.indexOf('\r\n\r\n') + 4);
        if (behaviour(conn, ++reqs) === 'drop') c.destroy();
        else c.write(OK);
      }
    });
    c.on('error', () => undefined);
  });
  await new Promise<void>((r) => srv.listen(socket, r));
  t.teardown(
    () =>
      new Promise<void>((r) => {
        for (const c of open) c.destroy();
        srv.close(() => r());
      }),
  );
  return { socket, connections: () => conns };
}

const client = (socket: string): HttpFleetClient =>
  new HttpFleetClient({ endpoint: { kind: 'unix', socketPath: socket, display: `unix://${socket}` }, requestTimeoutMs: 5000 });

t.test('a reused connection closed by the server is retried on a new one', async (t) => {
  const s = await server(t, (conn, req) => (conn === 1 && req === 2 ? 'drop' : 'answer'));
  const c = client(s.socket);
  t.teardown(() => c.close());
  t.equal((await c.machines()).length, 1, 'first call on a new connection');
  t.equal((await c.machines()).length, 1, 'second call: its kept-alive connection was dropped, the retry answered');
  t.equal(s.connections(), 2, 'the retry used a second connection');
});

t.test('a reset on a fresh connection is reported, not retried', async (t) => {
  const s = await server(t, () => 'drop');
  const c = client(s.socket);
  t.teardown(() => c.close());
  const err = await c.machines().then(() => undefined, (e: unknown) => e);
  t.match(err, { name: 'EndpointError', message: /^cannot reach the fleet API at unix:\/\// }, String(err));
  t.equal(s.connections(), 1, 'one attempt');
});

/** An HTTP server on a unix socket answering each request with `answer(path)` as JSON (status 200 unless given). */
async function jsonServer(t: Test, answer: (path: string, n: number) => { status?: number; body: unknown }): Promise<string> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fleetctl-json-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const socket = path.join(dir, 'api.sock');
  let n = 0;
  const srv = http.createServer((req, res) => {
    const a = answer(req.url ?? '', ++n);
    const text = JSON.stringify(a.body);
    res.writeHead(a.status ?? 200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
    res.end(text);
  });
  await new Promise<void>((r) => srv.listen(socket, r));
  t.teardown(() => new Promise<void>((r) => srv.close(() => r())));
  t.teardown(() => srv.closeAllConnections());
  return socket;
}

async function failure(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    (v) => new Error(`expected a failure, got ${JSON.stringify(v)}`),
    (e: unknown) => e,
  );
}

const ID = 'a'.repeat(32);

t.test('malformed bodies are refused naming the field', async (t) => {
  const cases: { what: string; path: RegExp; body: unknown; call: (c: HttpFleetClient) => Promise<unknown>; field: RegExp }[] = [
    { what: 'a machine id that is a number', path: /machines/, body: { machines: [{ id: 7 }] }, call: (c) => c.machines(), field: /machines page\.machines\[0\]\.id: expected a string, got number 7/ },
    { what: 'a units list that is a string', path: /units/, body: { units: 'all of them' }, call: (c) => c.units(), field: /units page\.units: expected an array/ },
    // (an option without a value is fine: fleetd leaves an empty value out)
    { what: 'a unit option value that is a number', path: /units/, body: { units: [{ name: 'a.service', options: [{ section: 'Service', name: 'ExecStart', value: 7 }] }] }, call: (c) => c.units(), field: /units\[0\]\.options\[0\]\.value: expected a string, got number 7/ },
    { what: 'an unknown desired state', path: /units\/a\.service/, body: { name: 'a.service', options: [], desiredState: 'exploded' }, call: (c) => c.unit('a.service'), field: /unit\.desiredState: expected one of inactive, loaded, launched/ },
    { what: 'a state that is null', path: /state/, body: { states: [null] }, call: (c) => c.unitStates(), field: /state page\.states\[0\]: expected an object, got null/ },
    { what: 'metadata that is not a string', path: /machines/, body: { machines: [{ id: ID, metadata: { role: ['web'] } }] }, call: (c) => c.machines(), field: /machines\[0\]\.metadata\.role: expected a string, got an array/ },
    { what: 'a plan op of an unknown kind', path: /plan/, body: { units: [], ops: [{ kind: 'explode', unit: 'a.service', reason: 'x' }], pending: [] }, call: (c) => c.plan([{ name: 'a.service' }]), field: /plan\.ops\[0\]\.kind: expected place, unschedule or move/ },
    { what: 'a page that is an array', path: /machines/, body: [], call: (c) => c.machines(), field: /machines page: expected an object, got an array/ },
  ];
  for (const k of cases) {
    const socket = await jsonServer(t, (p) => (k.path.test(p) ? { body: k.body } : { status: 404, body: { error: { code: 404, message: 'no' } } }));
    const c = client(socket);
    const err = await failure(k.call(c));
    await c.close();
    t.match(err, { name: 'EndpointError', message: /sent a malformed/ }, `${k.what}: ${String(err)}`);
    t.match(String((err as Error).message), k.field, `${k.what}: names the field`);
  }
});

t.test('a metadata key __proto__ stays a key', async (t) => {
  const socket = await jsonServer(t, () => ({ body: JSON.parse(`{"machines":[{"id":"${ID}","metadata":{"__proto__":{"polluted":"yes"}}}]}`) as unknown }));
  const c = client(socket);
  t.teardown(() => c.close());
  const err = await failure(c.machines());
  t.match(err, { name: 'EndpointError', message: /machines\[0\]\.metadata\.__proto__: expected a string, got an object/ });
  t.equal(({} as Record<string, unknown>)['polluted'], undefined, 'no prototype was touched');
});

t.test('a page token that comes back is refused instead of listing forever', async (t) => {
  const socket = await jsonServer(t, (_p, n) =>
    n <= 5 ? { body: { machines: [{ id: ID }], nextPageToken: 'AAEAAQ==' } } : { status: 500, body: { error: { code: 500, message: 'the test server gave up' } } },
  );
  const c = client(socket);
  t.teardown(() => c.close());
  const err = await failure(c.machines());
  t.match(err, { name: 'EndpointError', message: /sent the machines page token "AAEAAQ==" twice/ }, String(err));
});

t.test('fleetctl against a malformed server: one line, exit 1, no stack trace', async (t) => {
  const socket = await jsonServer(t, () => ({ body: { machines: [{ id: ID, primaryIP: 42 }] } }));
  const r = await fleetctl(['--endpoint', `unix://${socket}`, 'list-machines']);
  t.equal(r.code, 1, r.stderr);
  t.equal(r.stdout, '');
  t.match(r.stderr, /machines page\.machines\[0\]\.primaryIP: expected a string, got number 42/);
  t.notMatch(r.stderr, /\n\s+at /, 'no stack trace');
  t.equal(r.stderr.trim().split('\n').length, 1, 'one line');
});

t.test("bodies as fleet marshals them decode: omitted, null and empty fields, unknown fields dropped", async (t) => {
  const socket = await jsonServer(t, (p) => {
    if (p.includes('/machines')) return { body: { machines: [{ id: ID, metadata: null, extra: 1 }, { id: 'b'.repeat(32), primaryIP: '198.18.0.12', metadata: { role: 'web' } }] } };
    if (p.includes('/state')) return { body: {} };
    return { body: { units: [{ name: 'a.service', options: null, desiredState: 'launched', currentState: '', future: { x: 1 } }] } };
  });
  const c = client(socket);
  t.teardown(() => c.close());
  t.strictSame(await c.machines(), [{ id: ID }, { id: 'b'.repeat(32), primaryIP: '198.18.0.12', metadata: { role: 'web' } }]);
  t.strictSame(await c.unitStates(), []);
  t.strictSame(await c.units(), [{ name: 'a.service', options: [], desiredState: 'launched' }]);
});

t.test('terminal control characters from a hostile server are never printed', async (t) => {
  const ESC = '\u001b';
  // names, states, metadata: refused naming the field (fleetd never sends them; they could rewrite the screen or forge rows)
  const cases: { what: string; body: unknown; call: (c: HttpFleetClient) => Promise<unknown>; field: RegExp }[] = [
    { what: 'a unit name with an escape sequence', body: { units: [{ name: `a${ESC}[2J.service`, options: [] }] }, call: (c) => c.units(), field: /units\[0\]\.name: expected text without control characters/ },
    { what: 'a machine id with a newline', body: { machines: [{ id: `${ID}\nforged` }] }, call: (c) => c.machines(), field: /machines\[0\]\.id: expected text without control characters/ },
    { what: 'a metadata key with a C1 control', body: { machines: [{ id: ID, metadata: { 'ro\u009ble': 'web' } }] }, call: (c) => c.machines(), field: /machines\[0\]\.metadata: expected text without control characters/ },
    { what: 'an active state with an escape', body: { states: [{ name: 'a.service', systemdActiveState: `${ESC}]0;owned${ESC}\\` }] }, call: (c) => c.unitStates(), field: /states\[0\]\.systemdActiveState: expected text without control characters/ },
  ];
  for (const k of cases) {
    const socket = await jsonServer(t, () => ({ body: k.body }));
    const c = client(socket);
    const err = await failure(k.call(c));
    await c.close();
    t.match(String((err as Error).message), k.field, `${k.what}: ${JSON.stringify(String(err))}`);
    t.notOk(String((err as Error).message).includes(ESC), `${k.what}: the message itself carries no escape`);
  }
  // a metadata value is free text any API client may set: shown with its control characters escaped
  {
    const socket = await jsonServer(t, () => ({ body: { machines: [{ id: ID, metadata: { role: `web${ESC}[2J\u009b\nforged` } }] } }));
    const c = client(socket);
    const ms = await c.machines();
    await c.close();
    t.equal(ms[0]?.metadata?.['role'], 'web\\u001b[2J\\u009b\\u000aforged', 'metadata value escaped, its newline too');
  }
  // an error message is free text: printed, with its control characters made visible
  const socket = await jsonServer(t, () => ({ status: 500, body: { error: { code: 500, message: `boom${ESC}[31mred\u0007` } } }));
  const r = await fleetctl(['--endpoint', `unix://${socket}`, 'list-machines']);
  t.equal(r.code, 1);
  t.notOk((r.stdout + r.stderr).includes(ESC), `no raw escape printed: ${JSON.stringify(r.stderr)}`);
  t.match(r.stderr, /boom\\u001b\[31mred\\u0007/);
});

t.test('an answer that never ends is refused at the bound, with memory to spare', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fleetctl-endless-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const socket = path.join(dir, 'api.sock');
  let sent = 0;
  const chunk = Buffer.alloc(1024 * 1024, 0x20);
  const srv = http.createServer((_req, res) => {
    res.writeHead(200, { 'Content-Type': 'application/json' });
    const pump = (): void => {
      while (!res.destroyed && sent <= 4 * MAX_RESPONSE_BYTES) {
        sent += chunk.length;
        if (!res.write(chunk)) return void res.once('drain', pump);
      }
      res.end();
    };
    pump();
  });
  await new Promise<void>((r) => srv.listen(socket, r));
  t.teardown(() => new Promise<void>((r) => srv.close(() => r())));
  t.teardown(() => srv.closeAllConnections());
  const c = new HttpFleetClient({ endpoint: { kind: 'unix', socketPath: socket, display: `unix://${socket}` }, requestTimeoutMs: 60_000 });
  const err = await failure(c.machines());
  await c.close();
  t.match(err, { name: 'EndpointError', message: `sent an answer larger than ${MAX_RESPONSE_BYTES / 1024 / 1024} MiB; refusing it` });
  t.ok(sent < 2 * MAX_RESPONSE_BYTES, `the client stopped reading (${(sent / 1024 / 1024).toFixed(0)} MiB sent)`);
});

t.test("errors of fleet's routes are worded as fleet's client worded them; ours stay plain", async (t) => {
  const socket = await jsonServer(t, (p) =>
    p.includes('/restart/') ? { status: 409, body: { error: { code: 409, message: 'busy' } } }
      : p.includes('gone') ? { status: 409, body: { error: { code: 409, message: '' } } }
        : { status: 400, body: { error: { code: 400, message: 'cannot activate template "t@.service"' } } });
  const c = client(socket);
  t.teardown(() => c.close());
  t.match(await failure(c.setDesiredState('t@.service', 'launched')), { name: 'ApiRequestError', status: 400, message: 'googleapi: Error 400: cannot activate template "t@.service"' });
  t.match(await failure(c.destroyUnit('gone.service')), { message: 'googleapi: got HTTP response code 409 with body: {"error":{"code":409,"message":""}}' });
  t.match(await failure(c.requestRestart('a.service', ID)), { status: 409, message: 'busy' }, 'our own route: our message');
});
