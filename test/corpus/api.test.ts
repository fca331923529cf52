/**
 * Bad requests against the HTTP API (createApiServer on a real etcd): the corpus in test/corpus/data/api,
 * generated giants, raw-socket header abuse, concurrent giant bodies, and requests without the token on TCP
 * (answered, or reset right after writing them: test/corpus/data/api/unauthenticated.json). Each gets the right 4xx with fleet's JSON error body and a
 * message saying what is wrong; etcd is not written to (store revision and every key unchanged); the server
 * keeps serving.
 */
import t, { type Test } from 'tap';
import http from 'node:http';
import net from 'node:net';
import { startEtcd } from '../harness/etcd.js';
import { HELLO, M1, addMachine, startApi, submitUnit } from '../api/fixture.js';
import { dumpEtcd, readJson } from './helpers.js';

interface RequestCase {
  id: string;
  method: string;
  path: string;
  status: number;
  match: string;
  body?: unknown;
  raw?: string;
  headers?: Record<string, string | string[]>;
}

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
}

const etcd = await startEtcd(t);
const f = await startApi(t, { etcd });
await submitUnit(f.registry, 'hello.service', HELLO);
await submitUnit(f.registry, 'web@.service', '[Service]\nExecStart=/bin/echo %i\n');
await addMachine(t, f.registry, M1, '198.18.0.11', { role: 'web' });
const client = etcd.newClient();

function send(method: string, path: string, body: Buffer | undefined, headers: Record<string, string | string[]> = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath: f.socket, method, path, headers, agent: false });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }));
    });
    // The server may answer (413) and close before a huge body is sent; the answer is what counts.
    req.on('error', (err: NodeJS.ErrnoException) => (err.code === 'EPIPE' || err.code === 'ECONNRESET' ? undefined : reject(err)));
    req.end(body);
  });
}

/** Writes `data` on a fresh connection to the unix socket and returns everything the server sends back. */
function rawExchange(data: string | Buffer): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect(f.socket);
    let out = '';
    s.on('data', (d: Buffer) => (out += d.toString('latin1')));
    s.on('error', () => resolve(out));
    s.on('close', () => resolve(out));
    s.write(data);
    setTimeout(() => s.end(), 300);
  });
}

/** The fleet error body for `status`, with a message matching `match`. */
function checkErrorBody(t: Test, what: string, a: { status: number; contentType: string | undefined; text: string }, status: number, match: RegExp): void {
  t.equal(a.status, status, `${what}: ${status}`);
  t.match(a.contentType ?? '', /^application\/json/, `${what}: JSON`);
  let body: unknown;
  try {
    body = JSON.parse(a.text);
  } catch {
    t.fail(`${what}: body is not JSON: ${a.text.slice(0, 200)}`);
    return;
  }
  t.match(body, { error: { code: status, message: String } }, `${what}: fleet's error body`);
  const message = (body as { error: { message: string } }).error.message;
  // fleet answers 404 and 405 of the router with an empty message (match ^$); everything else says what is wrong
  if (match.source !== '^$') t.ok(message.trim().length > 0, `${what}: a message`);
  t.match(message, match, `${what}: ${match.source.slice(0, 60)}`);
}

async function unchanged<T>(t: Test, what: string, fn: () => Promise<T>): Promise<T> {
  const before = await dumpEtcd(client, '');
  const out = await fn();
  t.same(await dumpEtcd(client, ''), before, `${what}: etcd unchanged`);
  return out;
}

const corpus = readJson<RequestCase[]>('api', 'requests.json');

t.test('corpus of bad requests', async (t) => {
  t.ok(corpus.length >= 30, `${corpus.length} requests`);
  for (const c of corpus) {
    const body = c.raw !== undefined ? Buffer.from(c.raw, 'utf8') : c.body !== undefined ? Buffer.from(JSON.stringify(c.body)) : undefined;
    const headers = c.headers ?? (c.body !== undefined ? { 'Content-Type': 'application/json' } : {});
    const a = await unchanged(t, c.id, () => send(c.method, c.path, body, headers));
    checkErrorBody(t, c.id, { status: a.status, contentType: a.headers['content-type'], text: a.text }, c.status, new RegExp(c.match));
    t.match(a.headers.server, /^fleetd\//, `${c.id}: Server header`);
  }
});

t.test('generated giants', async (t) => {
  const json = { 'Content-Type': 'application/json' };
  const cases: [string, string, string, Buffer, number, RegExp][] = [
    ['9 MiB body', 'PUT', '/fleet/v1/units/big.service', Buffer.from(JSON.stringify({ options: [{ section: 'Unit', name: 'Description', value: 'x'.repeat(9 * 1024 * 1024) }] })), 413, /request body exceeds 8388608 bytes/],
    ['5000 MachineOf peers', 'PUT', '/fleet/v1/units/peers.service', Buffer.from(JSON.stringify({ options: Array.from({ length: 5000 }, (_, i) => ({ section: 'X-Fleet', name: 'MachineOf', value: `p${i}.service` })) })), 400, /MachineOf has 5000 distinct values; at most 32/],
    ['450 Conflicts globs of 934 characters (the dry-run stall)', 'POST', '/fleet/v1/plan', Buffer.from(JSON.stringify({ units: [{ name: 'attack.service', options: Array.from({ length: 450 }, (_, i) => ({ section: 'X-Fleet', name: 'Conflicts', value: `*${'l*'.repeat(465)}x-${i}` })) }] })), 400, /attack\.service: \[X-Fleet\] Conflicts value .* is 934 characters long; at most 320/],
    ['100000 options, the last one bad', 'PUT', '/fleet/v1/units/many.service', Buffer.from(JSON.stringify({ options: [...Array.from({ length: 100_000 }, (_, i) => ({ section: 'Service', name: 'Environment', value: `A${i}=1` })), { section: 'Service', name: 'X', value: 'a\nb' }] })), 400, /cannot write option "X"/],
    ['JSON nested 100000 deep', 'PUT', '/fleet/v1/units/deep.service', Buffer.from(`${'['.repeat(100_000)}${']'.repeat(100_000)}`), 400, /^unable to decode body: invalid character '\[' exceeded max depth$/],
    ['JSON object nested 100000 deep', 'PUT', '/fleet/v1/units/deep.service', Buffer.from(`${'{"a":'.repeat(100_000)}1${'}'.repeat(100_000)}`), 400, /^unable to decode body: invalid character '\{' exceeded max depth$/],
    ['10001 units to plan', 'POST', '/fleet/v1/plan', Buffer.from(JSON.stringify({ units: Array.from({ length: 10_001 }, (_, i) => ({ name: `u${i}.service` })) })), 400, /too many units to plan at once \(limit 10000\)/],
    ['PATCH with 1000 ops, the last one bad', 'PATCH', '/fleet/v1/machines', Buffer.from(JSON.stringify([...Array.from({ length: 999 }, (_, i) => ({ op: 'add', path: `/m/metadata/k${i}`, value: 'v' })), { op: 'add', path: '/m/metadata/bad key', value: 'v' }])), 400, /machine metadata path invalid/],
    ['PATCH with 100000 ops', 'PATCH', '/fleet/v1/machines', Buffer.from(JSON.stringify(Array.from({ length: 100_000 }, (_, i) => ({ op: 'add', path: `/m/metadata/k${i}`, value: 'v' })))), 400, /too many operations in one request: 100000 \(limit 1000\)/],
    ['unit of 2 MiB from options', 'PUT', '/fleet/v1/units/big.service', Buffer.from(JSON.stringify({ options: [{ section: 'Unit', name: 'Description', value: 'x'.repeat(2 * 1024 * 1024) }] })), 400, /unit is \d+ bytes, more than the limit of 1048576 bytes/],
  ];
  for (const [what, method, p, body, status, match] of cases) {
    const t0 = Date.now();
    const a = await unchanged(t, what, () => send(method, p, body, json));
    checkErrorBody(t, what, { status: a.status, contentType: a.headers['content-type'], text: a.text }, status, match);
    t.ok(Date.now() - t0 < 30_000, `${what}: answered in ${Date.now() - t0} ms`);
  }
});

t.test('header abuse on the raw socket: JSON errors from the HTTP parser too', async (t) => {
  const PUT = 'PUT /fleet/v1/units/raw.service HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n';
  const cases: [string, string | Buffer, number, RegExp][] = [
    ['20 KB header', `GET /fleet/v1/units HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`, 431, /request headers are too large/],
    ['3000 headers', `GET /fleet/v1/units HTTP/1.1\r\nHost: x\r\n${Array.from({ length: 3000 }, (_, i) => `X-H${i}: v\r\n`).join('')}\r\n`, 431, /too large/],
    ['20 KB path', `GET /fleet/v1/units/${'a'.repeat(20_000)}.service HTTP/1.1\r\nHost: x\r\n\r\n`, 431, /too large/],
    ['header without colon', 'GET /fleet/v1/units HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n', 400, /^malformed HTTP request: /],
    ['control character in header value', 'GET /fleet/v1/units HTTP/1.1\r\nHost: x\r\nX-A: a\x01b\r\n\r\n', 400, /^malformed HTTP request: /],
    ['unknown method', 'BREW /fleet/v1/units HTTP/1.1\r\nHost: x\r\n\r\n', 400, /malformed HTTP request: Invalid method/],
    ['HTTP/9.9', 'GET /fleet/v1/units HTTP/9.9\r\nHost: x\r\n\r\n', 400, /Invalid HTTP version/],
    ['NUL in the path', 'GET /fleet/v1/units/\0 HTTP/1.1\r\nHost: x\r\n\r\n', 400, /malformed HTTP request/],
    ['space in the path', 'GET /fleet/v1/units/a b HTTP/1.1\r\nHost: x\r\n\r\n', 400, /malformed HTTP request/],
    ['Content-Length and Transfer-Encoding', `${PUT}Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`, 400, /malformed HTTP request/],
    ['Content-Length: abc', `${PUT}Content-Length: abc\r\n\r\n{}`, 400, /Content-Length/],
    ['two different Content-Lengths', `${PUT}Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}`, 400, /malformed HTTP request/],
    ['bad chunk size', `${PUT}Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n`, 400, /chunk size/],
    ['TLS hello on the plain socket', Buffer.from([0x16, 0x03, 0x01, 0x00, 0xa5, 0x01, 0x00, 0x00, 0xa1, 0x03, 0x03]), 400, /malformed HTTP request/],
    ['bare LF line ends and garbage', 'GET\n\n\n\0\0\0', 400, /malformed HTTP request/],
    ['two Content-Types', `${PUT}Content-Type: text/plain\r\nContent-Length: 2\r\n\r\n{}`, 415, /expected 1 Content-Type, got 2/],
    ['Expect: other than 100-continue', `${PUT}Expect: 200-ok\r\nContent-Length: 2\r\n\r\n{}`, 417, /unsupported Expect header "200-ok"/],
    ['Content-Type with parameters of the wrong type', 'PUT /fleet/v1/units/raw.service HTTP/1.1\r\nHost: x\r\nContent-Type: text/json; charset=utf-8\r\nContent-Length: 2\r\n\r\n{}', 415, /only acceptable Content-Type/],
  ];
  for (const [what, data, status, match] of cases) {
    const text = await unchanged(t, what, () => rawExchange(data));
    const m = /^HTTP\/1\.1 (\d{3}) [^\r]*\r\n((?:[^\r]+\r\n)*)\r\n([\s\S]*)$/.exec(text);
    t.ok(m, `${what}: an HTTP answer (${JSON.stringify(text.slice(0, 80))})`);
    if (!m) continue;
    const headers = new Map(m[2]!.split('\r\n').filter(Boolean).map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
    const len = Number(headers.get('content-length'));
    checkErrorBody(t, what, { status: Number(m[1]), contentType: headers.get('content-type'), text: m[3]!.slice(0, len) }, status, match);
    t.match(headers.get('server') ?? '', /^fleetd\//, `${what}: Server header`);
  }
});

t.test('concurrent giant bodies: the excess gets 503, nothing is stored', async (t) => {
  const body = Buffer.from(JSON.stringify({ options: [{ section: 'Unit', name: 'Description', value: 'x'.repeat(7 * 1024 * 1024 - 100) }] }));
  const json = { 'Content-Type': 'application/json' };
  const answers = await unchanged(t, '8 x 7 MiB at once', () => Promise.all(Array.from({ length: 8 }, (_, i) => send('PUT', `/fleet/v1/units/giant-${i}.service`, body, json))));
  t.ok(answers.some((a) => a.status === 503), 'some refused by the buffered-body budget');
  for (const a of answers) {
    const match = a.status === 503 ? /^fleetd is busy: request bodies being processed would exceed 25165824 bytes; retry later$/ : /unit is \d+ bytes, more than the limit/;
    checkErrorBody(t, `7 MiB body (${a.status})`, { status: a.status, contentType: a.headers['content-type'], text: a.text }, a.status === 503 ? 503 : 400, match);
    if (a.status === 503) t.equal(a.headers['retry-after'], '1', 'Retry-After');
  }
});

interface UnauthenticatedCase {
  id: string;
  method: string;
  path: string;
  body?: unknown;
}

t.test('requests without the token on TCP: 401, also when the connection is reset right after writing', async (t) => {
  const token = 'corpus-token';
  const g = await startApi(t, { etcd, prefix: f.registry.prefix, tcp: true, config: { apiToken: token } });
  const [host, port] = g.tcp!.split(':');
  const cases = readJson<UnauthenticatedCase[]>('api', 'unauthenticated.json');
  t.ok(cases.length >= 5, `${cases.length} requests`);
  const raw = (c: UnauthenticatedCase): string => {
    const body = c.body === undefined ? '' : JSON.stringify(c.body);
    const head = `${c.method} ${c.path} HTTP/1.1\r\nHost: x\r\n` + (body ? `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` : '');
    return `${head}\r\n${body}`;
  };
  const resetAfterWrite = (data: string): Promise<void> =>
    new Promise((resolve) => {
      const s = net.connect({ host: host!, port: Number(port) }, () => s.write(data, () => s.resetAndDestroy()));
      s.on('error', () => undefined);
      s.on('close', () => resolve());
    });
  for (const c of cases) {
    const answered = await unchanged(t, `${c.id} (answered)`, async () => {
      const text = await new Promise<string>((resolve) => {
        const s = net.connect({ host: host!, port: Number(port) });
        let out = '';
        s.on('data', (d: Buffer) => (out += d.toString('latin1')));
        s.on('error', () => resolve(out));
        s.on('close', () => resolve(out));
        s.end(raw(c));
      });
      return text;
    });
    t.match(answered, /^HTTP\/1\.1 401 /, `${c.id}: 401`);
    t.match(answered, /\{"error":\{"code":401,"message":"this API requires a bearer token/, `${c.id}: fleet error body`);
    await unchanged(t, `${c.id} (reset after write, 40 times)`, async () => {
      for (let i = 0; i < 40; i++) await resetAfterWrite(raw(c));
      await new Promise((r) => setTimeout(r, 300));
    });
  }
});

t.test('the server keeps serving', async (t) => {
  const list = await send('GET', '/fleet/v1/units', undefined);
  t.equal(list.status, 200);
  t.match(JSON.parse(list.text), { units: [{ name: 'hello.service' }, { name: 'web@.service' }] });
  const put = await send('PUT', '/fleet/v1/units/after.service', Buffer.from(JSON.stringify({ options: [{ section: 'Service', name: 'ExecStart', value: '/bin/true' }] })), {
    'Content-Type': 'application/json',
  });
  t.equal(put.status, 201, 'a good PUT after all that is stored');
  t.ok(await f.registry.getUnit('after.service'));
  t.equal((await send('GET', '/fleet/v1/machines', undefined)).status, 200);
});
