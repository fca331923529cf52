/**
 * fleetctl's HTTP client on fleetd's streams (fleetctl/client/state-watch.ts) against a stand-in server: a 200
 * that is not a stream (a server that ignores the path) or a 404 means no stream (the wait polls); a stream's
 * lines update the view, and a line that is not the stream's ends it (the wait then reopens or polls).
 */
import t, { type Test } from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import http from 'node:http';
import { HttpFleetClient } from '../../fleetctl/client/http.js';
import { STATE_STREAM, StreamedList } from '../../fleetctl/client/state-watch.js';

const M1 = 'a'.repeat(32);

/** The client, and the stand-in's socket in `sockets`. */
const sockets = new WeakMap<HttpFleetClient, string>();

async function standIn(t: Test, answer: (req: http.IncomingMessage, res: http.ServerResponse) => void): Promise<HttpFleetClient> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fleetctl-watch-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const socket = path.join(dir, 'api.sock');
  const srv = http.createServer(answer);
  await new Promise<void>((resolve) => srv.listen(socket, resolve));
  t.teardown(() => {
    srv.closeAllConnections();
    return new Promise<void>((resolve) => srv.close(() => resolve()));
  });
  const c = new HttpFleetClient({ endpoint: { kind: 'unix', socketPath: socket, display: `unix://${socket}` }, requestTimeoutMs: 5000 });
  t.teardown(() => c.close());
  sockets.set(c, socket);
  return c;
}

t.test('no stream: a 404, or a 200 that is not newline-delimited JSON', async (t) => {
  const c404 = await standIn(t, (_req, res) => {
    res.statusCode = 404;
    res.setHeader('Content-Type', 'application/json');
    res.end('{"error":{"code":404,"message":""}}');
  });
  t.equal(await c404.watchUnitStates(), undefined);
  t.equal(await c404.watchUnits(), undefined);
  const cJson = await standIn(t, (_req, res) => {
    res.setHeader('Content-Type', 'application/json');
    res.end('{"states":[]}');
  });
  t.equal(await cJson.watchUnitStates(), undefined);
});

t.test('a stream: initial entries, changes, removals, the filter in the query; a foreign line ends it', async (t) => {
  let res: http.ServerResponse | undefined;
  let url = '';
  const c = await standIn(t, (req, r) => {
    url = req.url ?? '';
    res = r;
    r.setHeader('Content-Type', 'application/x-ndjson');
    r.write(`{"state":{"name":"a.service","machineID":"${M1}","systemdActiveState":"activating"}}\n{"synced":true}\n`);
  });
  const w = (await c.watchUnitStates({ unitName: 'a.service' }))!;
  t.ok(w, 'a stream');
  t.equal(url, '/fleet/v1/watch/state?unitName=a.service');
  t.same([...w.entries.values()], [{ name: 'a.service', machineID: M1, systemdActiveState: 'activating' }]);
  const v0 = w.version;
  res!.write(`{"keepalive":true}\n{"state":{"name":"a.service","machineID":"${M1}","systemdActiveState":"active"}}\n`);
  await w.changed(v0);
  t.same([...w.entries.values()].map((s) => s.systemdActiveState), ['active']);
  const v1 = w.version;
  res!.write(`{"removed":{"name":"a.service","machineID":"${M1}"}}\n`);
  await w.changed(v1);
  t.equal(w.entries.size, 0, 'removed');
  t.ok(w.live);
  res!.write('not json\n');
  await w.changed(w.version);
  t.notOk(w.live, 'a line that is not the stream\'s ends it');
});

t.test('a stream that ends before its current states arrived is no stream', async (t) => {
  const c = await standIn(t, (_req, r) => {
    r.setHeader('Content-Type', 'application/x-ndjson');
    r.end('{"unit":{"name":"a.service","options":[],"desiredState":"launched"}}\n');
  });
  t.equal(await c.watchUnits('a.service'), undefined);
});

t.test('a stream that stays silent past the idle bound (no keep-alive lines: its server is gone) ends', async (t) => {
  let url = '';
  const c = await standIn(t, (req, r) => {
    url = req.url ?? '';
    r.setHeader('Content-Type', 'application/x-ndjson');
    r.write('{"synced":true}\n');
  });
  const socket = sockets.get(c)!;
  const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
    http.get({ socketPath: socket, path: '/fleet/v1/watch/state' }, resolve).on('error', reject);
  });
  const w = new StreamedList(STATE_STREAM, res, 200);
  t.equal(await w.ready(5000), true);
  t.equal(url, '/fleet/v1/watch/state');
  await w.changed(w.version);
  t.notOk(w.live, 'dropped after the idle bound');
});
