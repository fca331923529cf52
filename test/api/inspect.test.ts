import t from 'tap';
import http from 'node:http';
import { Readable } from 'node:stream';
import { startEtcd } from '../harness/etcd.js';
import { HttpPeerForwarder } from '../../fleetd/api/forward.js';
import type { JournalRequest } from '../../lib/api/schema.js';
import type { UnitInspector } from '../../fleetd/machine/inspector.js';
import { HELLO, M1, M2, addMachine, publishState, request, scheduleUnit, startApi, submitUnit } from './fixture.js';

const etcd = await startEtcd(t);

/** Inspects units of "its" machine; records what it was asked. Stands in for fleetd's systemd inspector. */
class RecordingInspector implements UnitInspector {
  calls: string[] = [];
  aborted = 0;
  constructor(private readonly machine: string) {}
  async status(unit: string) {
    this.calls.push(`status ${unit}`);
    return { text: `● ${unit} on ${this.machine}\n   Active: active (running)\n`, exitCode: unit.startsWith('dead') ? 3 : 0 };
  }
  journal(unit: string, req: JournalRequest, signal: AbortSignal): Readable {
    this.calls.push(`journal ${unit} ${req.lines} ${req.follow} ${req.output}`);
    let n = 0;
    const lines = Array.from({ length: req.lines }, (_, i) => `${this.machine} ${unit} line ${i + 1}\n`);
    const r = new Readable({
      read() {
        if (lines.length > 0) return void this.push(lines.shift());
        if (!req.follow) return void this.push(null);
        setTimeout(() => {
          if (!signal.aborted) this.push(`${unit} follow ${++n}\n`);
        }, 20);
      },
    });
    signal.addEventListener('abort', () => {
      this.aborted++;
      r.destroy();
    });
    return r;
  }
}

t.test('status and journal served locally for units on this machine', async (t) => {
  const insp = new RecordingInspector('m1');
  const f = await startApi(t, { etcd, machineId: M1, server: { inspector: insp } });
  const p1 = await addMachine(t, f.registry, M1, '127.0.0.1');
  await submitUnit(f.registry, 'hello.service', HELLO, 'launched');
  await submitUnit(f.registry, 'dead.service', HELLO.replace('Hello', 'Dead'), 'launched');
  await submitUnit(f.registry, 'idle.service', HELLO.replace('Hello', 'Idle'));
  await scheduleUnit(f.registry, 'hello.service', M1);
  await scheduleUnit(f.registry, 'dead.service', M1);
  await publishState(f.registry, p1, 'hello.service');

  const s = await request(f, 'GET', '/fleet/v1/units/hello.service/status');
  t.equal(s.status, 200);
  t.equal(s.text, '● hello.service on m1\n   Active: active (running)\n');
  t.equal(s.headers['fleet-exit-status'], '0');
  t.match(s.headers['content-type'], /^text\/plain/);
  t.equal((await request(f, 'GET', '/fleet/v1/units/dead.service/status')).headers['fleet-exit-status'], '3');

  const j = await request(f, 'GET', '/fleet/v1/units/hello.service/journal?lines=3&output=cat');
  t.equal(j.text, 'm1 hello.service line 1\nm1 hello.service line 2\nm1 hello.service line 3\n');
  t.same(insp.calls.slice(-1), ['journal hello.service 3 false cat']);

  t.same((await request(f, 'GET', '/fleet/v1/units/nope.service/status')).json, { error: { code: 404, message: 'unit does not exist' } });
  t.same((await request(f, 'GET', '/fleet/v1/units/idle.service/status')).json, {
    error: { code: 409, message: 'unit idle.service is not scheduled to any machine' },
  });
  for (const [q, msg] of [
    ['lines=-1', /invalid lines/],
    ['lines=abc', /invalid lines/],
    ['follow=maybe', /invalid follow/],
    ['output=rm%20-rf', /invalid output "rm -rf": expected one of short, /],
  ] as const) {
    const r = await request(f, 'GET', `/fleet/v1/units/hello.service/journal?${q}`);
    t.equal(r.status, 400, q);
    t.match(r.json, { error: { message: msg } }, q);
  }
  t.equal((await request(f, 'POST', '/fleet/v1/units/hello.service/status')).status, 405);
});

t.test('journal -f streams until the client goes away', async (t) => {
  const insp = new RecordingInspector('m1');
  const f = await startApi(t, { etcd, machineId: M1, server: { inspector: insp } });
  await addMachine(t, f.registry, M1, '127.0.0.1');
  await submitUnit(f.registry, 'hello.service', HELLO, 'launched');
  await scheduleUnit(f.registry, 'hello.service', M1);
  const got = await new Promise<string>((resolve, reject) => {
    const req = http.get({ socketPath: f.socket, path: '/fleet/v1/units/hello.service/journal?lines=1&follow=true' }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => {
        text += c.toString();
        if (text.includes('follow 3')) {
          req.destroy();
          resolve(text);
        }
      });
    });
    req.on('error', (e) => (e.message.includes('aborted') || e.message.includes('socket hang up') ? undefined : reject(e)));
  });
  t.match(got, /^m1 hello.service line 1\nhello.service follow 1\nhello.service follow 2\nhello.service follow 3\n/);
  for (let i = 0; i < 50 && insp.aborted === 0; i++) await new Promise((r) => setTimeout(r, 20));
  t.equal(insp.aborted, 1, 'the inspector was told to stop');
});

t.test('another machine forwards to the hosting machine\'s TCP API, with the token, once', async (t) => {
  const onB = new RecordingInspector('m2');
  const onA = new RecordingInspector('m1');
  const b = await startApi(t, { etcd, machineId: M2, tcp: true, config: { apiToken: 'cluster-token' }, server: { inspector: onB } });
  const forwarder = new HttpPeerForwarder({ machineId: M1, port: 0, token: 'cluster-token', timeoutMs: 5000, peerUrl: (m) => (m.id === M2 ? `http://${b.tcp}` : undefined) });
  t.teardown(() => forwarder.close());
  const a = await startApi(t, { etcd, prefix: b.registry.prefix, machineId: M1, server: { inspector: onA, forwarder } });
  const pB = await addMachine(t, a.registry, M2, '127.0.0.1');
  await addMachine(t, a.registry, M1, '127.0.0.1');
  await submitUnit(a.registry, 'web.service', HELLO, 'launched');
  await submitUnit(a.registry, 'g.service', '[Service]\nExecStart=/bin/true\n[X-Fleet]\nGlobal=true\n', 'launched');
  await scheduleUnit(a.registry, 'web.service', M2);
  await publishState(a.registry, pB, 'g.service');

  const s = await request(a, 'GET', '/fleet/v1/units/web.service/status');
  t.equal(s.status, 200);
  t.equal(s.text, '● web.service on m2\n   Active: active (running)\n', 'answered by the machine running it');
  t.equal(s.headers['fleet-exit-status'], '0');
  t.same(onA.calls, []);
  t.same(onB.calls, ['status web.service']);

  const j = await request(a, 'GET', '/fleet/v1/units/web.service/journal?lines=2');
  t.equal(j.text, 'm2 web.service line 1\nm2 web.service line 2\n');

  const g = await request(a, 'GET', '/fleet/v1/units/g.service/status');
  t.equal(g.text, '● g.service on m2\n   Active: active (running)\n', 'a global unit on one machine needs no machineID');
  const gOnA = await request(a, 'GET', `/fleet/v1/units/g.service/status?machineID=${M1}`);
  t.equal(gOnA.text, '● g.service on m1\n   Active: active (running)\n', 'machineID picks the machine');
  const wrong = await request(a, 'GET', `/fleet/v1/units/web.service/status?machineID=${M1}`);
  t.equal(wrong.status, 409);

  const loop = await request(b, 'GET', `/fleet/v1/units/g.service/status?machineID=${M1}`, { headers: { 'fleet-forwarded-by': 'x' } });
  t.equal(loop.status, 502, 'never forwarded twice');
  t.match(loop.json, { error: { message: /request forwarded by x reached machine/ } });

  const noPeer = await startApi(t, { etcd, prefix: b.registry.prefix, machineId: M1 });
  const unreachable = await request(noPeer, 'GET', '/fleet/v1/units/web.service/status');
  t.equal(unreachable.status, 502, 'without api_listen the peer port is unknown');

  const badToken = new HttpPeerForwarder({ machineId: M1, port: 0, token: 'wrong', timeoutMs: 5000, peerUrl: () => `http://${b.tcp}` });
  t.teardown(() => badToken.close());
  const c = await startApi(t, { etcd, prefix: b.registry.prefix, machineId: M1, server: { forwarder: badToken } });
  t.equal((await request(c, 'GET', '/fleet/v1/units/web.service/status')).status, 401, 'the peer\'s answer is relayed');

  const dead = new HttpPeerForwarder({ machineId: M1, port: 1, timeoutMs: 2000 });
  t.teardown(() => dead.close());
  const d = await startApi(t, { etcd, prefix: b.registry.prefix, machineId: M1, server: { forwarder: dead } });
  const r = await request(d, 'GET', '/fleet/v1/units/web.service/status');
  t.equal(r.status, 502);
  t.match(r.json, { error: { message: new RegExp(`^cannot reach the API of machine ${M2} at http://127.0.0.1:1: `) } });
});

t.test('a fleetd without inspector answers 501 for its own units', async (t) => {
  const f = await startApi(t, { etcd, machineId: M1 });
  await addMachine(t, f.registry, M1, '127.0.0.1');
  await submitUnit(f.registry, 'hello.service', HELLO, 'launched');
  await scheduleUnit(f.registry, 'hello.service', M1);
  const r = await request(f, 'GET', '/fleet/v1/units/hello.service/status');
  t.equal(r.status, 501);
});
