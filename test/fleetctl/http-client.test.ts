/**
 * fleetctl's HTTP client against a server that closes a kept-alive connection just as the client reuses it
 * (what a fleetd restart does to a `fleetctl start` that is waiting): the request is sent again on a new
 * connection, once; a fresh connection that is reset is an error as before.
 */
import t, { type Test } from 'tap';
import net from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { HttpFleetClient } from '../../fleetctl/client/http.js';

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
