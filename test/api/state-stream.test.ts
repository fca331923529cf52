/**
 * `GET /fleet/v1/watch/state` and `/watch/units` (our extensions, fleetd/api/state-stream.ts): the current unit
 * states (units), then each change as one JSON line; filtered like the list; bounded in watchers, lifetime and
 * unread bytes; same auth as the rest.
 */
import { EventEmitter } from 'node:events';
import http from 'node:http';
import t from 'tap';
import { startEtcd } from '../harness/etcd.js';
import { waitFor } from '../harness/wait.js';
import type { FleetBackend } from '../../lib/api/backend.js';
import type { ApiUnitState } from '../../lib/api/schema.js';
import type { Ctx } from '../../fleetd/api/context.js';
import { StateStreams } from '../../fleetd/api/state-stream.js';
import { HELLO, M1, M2, addMachine, publishState, request, scheduleUnit, startApi, submitUnit, type Fixture } from './fixture.js';

const etcd = await startEtcd(t);

interface Stream {
  status: number;
  headers: http.IncomingHttpHeaders;
  lines: Record<string, unknown>[];
  /** The first line from `from` on that `pred` accepts (waits for it); its index and the line. */
  next(pred: (l: Record<string, unknown>) => boolean, from?: number): Promise<number>;
  ended: Promise<void>;
  close(): void;
}

function openStream(f: Pick<Fixture, 'socket'>, query = '', o: { tcp?: string; headers?: Record<string, string>; pause?: boolean; path?: string } = {}): Promise<Stream> {
  return new Promise((resolve, reject) => {
    const common = { method: 'GET', path: `${o.path ?? '/fleet/v1/watch/state'}${query}`, agent: false as const, headers: o.headers ?? {} };
    const req = o.tcp
      ? http.request({ ...common, host: o.tcp.split(':')[0], port: Number(o.tcp.split(':')[1]) })
      : http.request({ ...common, socketPath: f.socket });
    req.on('error', reject);
    req.on('response', (res) => {
      const lines: Record<string, unknown>[] = [];
      let buf = '';
      let body = '';
      res.setEncoding('utf8');
      const ended = new Promise<void>((done) => {
        res.on('close', done);
        res.on('error', () => done());
      });
      if (!o.pause) {
        res.on('data', (c: string) => {
          if (res.statusCode !== 200) return void (body += c);
          buf += c;
          let i: number;
          while ((i = buf.indexOf('\n')) >= 0) {
            lines.push(JSON.parse(buf.slice(0, i)) as Record<string, unknown>);
            buf = buf.slice(i + 1);
          }
        });
      }
      if (res.statusCode !== 200) res.on('end', () => lines.push(JSON.parse(body) as Record<string, unknown>));
      resolve({
        status: res.statusCode ?? 0,
        headers: res.headers,
        lines,
        ended,
        close: () => req.destroy(),
        next: (pred, from = 0) =>
          waitFor('a matching stream line', () => {
            const i = lines.findIndex((l, j) => j >= from && pred(l));
            return i >= 0 ? i : undefined;
          }, 10_000),
      });
    });
    req.end();
  });
}

const stateOf = (l: Record<string, unknown>): Record<string, unknown> | undefined => l.state as Record<string, unknown> | undefined;
const synced = (l: Record<string, unknown>): boolean => l.synced === true;

t.test('the current states first, then each change as one line', async (t) => {
  const f = await startApi(t, { etcd });
  const p1 = await addMachine(t, f.registry, M1, '198.18.0.11');
  await submitUnit(f.registry, 'a.service', HELLO, 'launched');
  await scheduleUnit(f.registry, 'a.service', M1);
  await publishState(f.registry, p1, 'a.service', { activeState: 'activating', subState: 'start' });

  const s = await openStream(f);
  t.teardown(() => s.close());
  t.equal(s.status, 200);
  t.equal(s.headers['content-type'], 'application/x-ndjson');
  const sync = await s.next(synced);
  t.equal(sync, 1, 'initial states, then synced');
  const listed = (await request(f, 'GET', '/fleet/v1/state')).json as { states: unknown[] };
  t.same(stateOf(s.lines[0]!), listed.states[0], 'as the list sends it');
  t.match(stateOf(s.lines[0]!), { name: 'a.service', machineID: M1, systemdActiveState: 'activating', systemdSubState: 'start' });

  await publishState(f.registry, p1, 'a.service', { activeState: 'active', subState: 'running' });
  const i = await s.next((l) => stateOf(l)?.systemdActiveState === 'active', sync);
  t.match(s.lines[i], { state: { name: 'a.service', machineID: M1, systemdSubState: 'running' } });

  await f.registry.deleteUnitState(p1, 'a.service');
  const r = await s.next((l) => l.removed !== undefined, i);
  t.same(s.lines[r], { removed: { name: 'a.service', machineID: M1 } }, 'a state that is gone is sent as removed');
});

t.test('unitName and machineID filter the stream like the list', async (t) => {
  const f = await startApi(t, { etcd });
  const p1 = await addMachine(t, f.registry, M1, '198.18.0.11');
  const p2 = await addMachine(t, f.registry, M2, '198.18.0.12');
  for (const n of ['a.service', 'b.service']) await submitUnit(f.registry, n, HELLO, 'launched');
  await publishState(f.registry, p1, 'a.service');
  await publishState(f.registry, p2, 'b.service');

  const byUnit = await openStream(f, '?unitName=b.service');
  const byMachine = await openStream(f, `?machineID=${M1}`);
  t.teardown(() => (byUnit.close(), byMachine.close()));
  const su = await byUnit.next(synced);
  const sm = await byMachine.next(synced);
  t.same(byUnit.lines.slice(0, su).map((l) => stateOf(l)?.name), ['b.service']);
  t.same(byMachine.lines.slice(0, sm).map((l) => stateOf(l)?.machineID), [M1]);

  await publishState(f.registry, p1, 'a.service', { activeState: 'failed', subState: 'failed' });
  await publishState(f.registry, p2, 'b.service', { activeState: 'failed', subState: 'failed' });
  await byUnit.next((l) => stateOf(l)?.systemdActiveState === 'failed', su);
  await byMachine.next((l) => stateOf(l)?.systemdActiveState === 'failed', sm);
  t.same(byUnit.lines.slice(su + 1).filter((l) => l.state).map((l) => stateOf(l)?.name), ['b.service'], 'other units are not sent');
  t.same(byMachine.lines.slice(sm + 1).filter((l) => l.state).map((l) => stateOf(l)?.machineID), [M1], 'other machines are not sent');
});

t.test('at most maxWatchers streams; a client that goes away frees its slot', async (t) => {
  const f = await startApi(t, { etcd, server: { stateStreams: { maxWatchers: 2 } } });
  const a = await openStream(f);
  const b = await openStream(f);
  t.teardown(() => (a.close(), b.close()));
  await a.next(synced);
  await b.next(synced);
  const c = await openStream(f);
  t.equal(c.status, 503);
  t.equal(c.headers['retry-after'], '1');
  await c.ended;
  t.match(c.lines[0], { error: { code: 503, message: /2 unit state streams are open/ } });
  t.equal((await request(f, 'GET', '/fleet/v1/state')).status, 200, 'the list is still served');

  a.close();
  const d = await waitFor('a freed slot', async () => {
    const s = await openStream(f);
    if (s.status === 200) return s;
    await s.ended;
    return undefined;
  });
  t.teardown(() => d.close());
  await d.next(synced);
  t.pass('a new stream is served once a client went away');
});

t.test('a stream ends after its lifetime; keep-alive lines while nothing changes', async (t) => {
  const f = await startApi(t, { etcd, server: { stateStreams: { maxWatchMs: 600, keepaliveMs: 100 } } });
  const s = await openStream(f);
  await s.next(synced);
  await s.next((l) => l.keepalive === true);
  await s.ended;
  t.pass('the server ended the stream');
});

t.test('a client that does not read is dropped once its unsent bytes pass the bound', async (t) => {
  // The socket's queue is what a slow reader fills; a fake response shows it without filling kernel buffers.
  const states: ApiUnitState[] = [{ name: 'a.service', machineID: M1, systemdActiveState: 'activating' }];
  let onChange: () => void = () => undefined;
  const backend = {
    listUnitStates: async () => states.map((s) => ({ ...s })),
    watchUnitStates: async (cb: () => void) => {
      onChange = cb;
      return { close: async () => undefined };
    },
  } as unknown as FleetBackend;
  const streams = new StateStreams(backend, { maxUnsentBytes: 100 });
  const written: string[] = [];
  const res = Object.assign(new EventEmitter(), {
    statusCode: 0,
    destroyed: false,
    writableLength: 0,
    setHeader: () => undefined,
    flushHeaders: () => undefined,
    write(text: string) {
      written.push(text);
      return true;
    },
    end() {
      res.destroy();
    },
    destroy() {
      res.destroyed = true;
      res.emit('close');
    },
  });
  const served = streams.serve({ req: new EventEmitter(), res, query: new URLSearchParams() } as unknown as Ctx);
  await waitFor('synced', () => written.some((w) => w.includes('synced')));
  t.equal(streams.active, 1);
  res.writableLength = 101;
  states[0]!.systemdActiveState = 'active';
  onChange();
  await served;
  t.ok(res.destroyed, 'dropped');
  t.match(written.at(-1), /"systemdActiveState":"active"/, 'after the write that passed the bound');
  t.equal(streams.active, 0, 'its slot is free');
});

t.test('a TCP listener asks for the token as on every endpoint', async (t) => {
  const f = await startApi(t, { etcd, tcp: true, config: { apiToken: 'sekrit' } });
  const no = await openStream(f, '', { tcp: f.tcp! });
  await no.ended;
  t.equal(no.status, 401);
  const yes = await openStream(f, '', { tcp: f.tcp!, headers: { Authorization: 'Bearer sekrit' } });
  t.teardown(() => yes.close());
  t.equal(yes.status, 200);
  await yes.next(synced);
  t.equal((await request(f, 'POST', '/fleet/v1/watch/state')).status, 405);
});

t.test('GET /watch/units: the units as GET /units lists them, then each change', async (t) => {
  const f = await startApi(t, { etcd });
  await submitUnit(f.registry, 'a.service', HELLO, 'loaded');
  const s = await openStream(f, '', { path: '/fleet/v1/watch/units' });
  t.teardown(() => s.close());
  t.equal(s.status, 200);
  const sync = await s.next(synced);
  const listed = (await request(f, 'GET', '/fleet/v1/units')).json as { units: unknown[] };
  t.same(s.lines.slice(0, sync), [{ unit: listed.units[0] }], 'initial units as listed, then synced');
  await f.registry.setDesiredState('a.service', 'launched');
  const i = await s.next((l) => (l.unit as { desiredState?: string } | undefined)?.desiredState === 'launched', sync);
  t.match(s.lines[i], { unit: { name: 'a.service' } });
  await f.registry.destroyUnit('a.service');
  const r = await s.next((l) => l.removed !== undefined, i);
  t.same(s.lines[r], { removed: { name: 'a.service' } });
});
