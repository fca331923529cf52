/**
 * Issue 10: the API bounds the memory and processes a client can make fleetd use. Request bodies buffered at
 * once are capped across all connections (excess: 503 with fleet's JSON error body, memory released); journal
 * streams (journalctl processes) are capped per fleetd (excess: 503), and a client that goes away stops its
 * journalctl.
 */
import t from 'tap';
import http from 'node:http';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Readable } from 'node:stream';
import { startEtcd } from '../harness/etcd.js';
import { HELLO, M1, addMachine, request, scheduleUnit, startApi, submitUnit } from '../api/fixture.js';
import type { JournalRequest } from '../../lib/api/schema.js';
import type { UnitInspector } from '../../fleetd/machine/inspector.js';
import { MAX_JOURNAL_STREAMS } from '../../fleetd/api/inspect.js';

const etcd = await startEtcd(t);

/** Peak resident set of a process, in MiB (VmHWM). */
function peakRssMiB(pid: number): number {
  const m = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

interface Sent {
  status: number;
  text: string;
  error?: string;
}

function put(socket: string, p: string, body: Buffer): Promise<Sent> {
  return new Promise((resolve) => {
    const req = http.request({ socketPath: socket, method: 'PUT', path: p, agent: false, headers: { 'Content-Type': 'application/json', 'Content-Length': body.length } });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString() }));
      res.on('error', (err) => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString(), error: err.message }));
    });
    req.on('error', (err) => resolve({ status: 0, text: '', error: err.message }));
    req.end(body);
  });
}

// The stated bound: 60 bodies of 7 MiB (420 MiB) must not make fleetd's API process peak above this.
const RSS_BOUND_MIB = 300;

t.test('60 concurrent 7 MiB bodies: bounded memory, JSON 503 for the excess, serving afterwards', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fleet-api-bounds-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const socket = path.join(dir, 'api.sock');
  const child = path.join(path.dirname(fileURLToPath(import.meta.url)), 'api-server-child.js');
  const proc = spawn(process.execPath, [child], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, TEST_ETCD: etcd.endpoint, TEST_PREFIX: `/fleet-api-bounds-${process.pid}/`, TEST_SOCKET: socket },
  });
  t.teardown(() => {
    if (proc.exitCode === null) proc.kill('SIGKILL');
  });
  await new Promise<void>((resolve, reject) => {
    let buf = '';
    proc.stdout!.on('data', (c: Buffer) => {
      buf += c.toString();
      if (buf.includes('\n')) resolve();
    });
    proc.on('exit', (code) => reject(new Error(`child exited ${code}`)));
  });
  const before = peakRssMiB(proc.pid!);
  const value = 'x'.repeat(7 * 1024 * 1024 - 100);
  const body = Buffer.from(JSON.stringify({ options: [{ section: 'Unit', name: 'Description', value }] }));
  const answers = await Promise.all(Array.from({ length: 60 }, (_, i) => put(socket, `/fleet/v1/units/big-${i}.service`, body)));
  const peak = peakRssMiB(proc.pid!);
  t.ok(peak < RSS_BOUND_MIB, `peak RSS ${peak.toFixed(0)} MiB (was ${before.toFixed(0)} MiB before) < ${RSS_BOUND_MIB} MiB`);
  // Bodies let in reach etcd, which refuses values this large (503 "unable to communicate with etcd"); the
  // others must be refused by the body budget before they are buffered.
  const busy = answers.filter((a) => a.status === 503 && /request bodies/.test(a.text));
  t.ok(busy.length >= 30, `${busy.length} of 60 refused by the body budget`);
  for (const a of answers) {
    t.match(JSON.parse(a.text), { error: { code: a.status, message: String } }, `${a.status}: fleet JSON error body`);
  }
  t.match(busy[0]?.text, /fleetd is busy: request bodies being processed would exceed 25165824 bytes; retry later/);
  t.same(answers.filter((a) => a.status === 0), [], 'every client got an answer');
  const ok = await request({ socket }, 'PUT', '/fleet/v1/units/after.service', { body: { options: [{ section: 'Service', name: 'ExecStart', value: '/bin/true' }] } });
  t.equal(ok.status, 201, `a normal request afterwards works: ${ok.text}`);
  t.equal((await request({ socket }, 'GET', '/fleet/v1/units')).status, 200);
  proc.kill('SIGTERM');
  await new Promise((r) => proc.on('exit', r));
});

/** A journal that follows forever until aborted; counts what is running. */
class FollowInspector implements UnitInspector {
  running = 0;
  started = 0;
  async status(unit: string) {
    return { text: `${unit}\n`, exitCode: 0 };
  }
  journal(_unit: string, _req: JournalRequest, signal: AbortSignal): Readable {
    this.started++;
    this.running++;
    const r = new Readable({ read() {} });
    r.push('first line\n');
    signal.addEventListener('abort', () => {
      this.running--;
      r.destroy();
    });
    return r;
  }
}

/** Opens a journal follow stream and resolves once its headers arrived; `close` drops the connection. */
function follow(socket: string, p: string): Promise<{ status: number; text: () => Promise<string>; close: () => void }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath: socket, method: 'GET', path: p, agent: false });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', () => undefined);
      const ended = new Promise<string>((r) => res.on('end', () => r(Buffer.concat(chunks).toString())));
      resolve({ status: res.statusCode ?? 0, text: () => ended, close: () => req.destroy() });
    });
    req.on('error', reject);
    req.end();
  });
}

t.test('journal streams are capped; excess gets a JSON 503; a client going away stops its stream', async (t) => {
  const insp = new FollowInspector();
  const f = await startApi(t, { etcd, machineId: M1, server: { inspector: insp } });
  await addMachine(t, f.registry, M1, '127.0.0.1');
  await submitUnit(f.registry, 'hello.service', HELLO, 'launched');
  await scheduleUnit(f.registry, 'hello.service', M1);
  const p = '/fleet/v1/units/hello.service/journal?follow=true';
  const open = [];
  for (let i = 0; i < MAX_JOURNAL_STREAMS; i++) {
    const s = await follow(f.socket, p);
    t.equal(s.status, 200);
    open.push(s);
  }
  t.equal(insp.running, MAX_JOURNAL_STREAMS, `${MAX_JOURNAL_STREAMS} streams running`);
  const excess = await request(f, 'GET', p);
  t.equal(excess.status, 503, 'one more: 503');
  t.match(excess.json, { error: { code: 503, message: /journal streams/ } });
  t.equal(insp.started, MAX_JOURNAL_STREAMS, 'no journal started for the excess request');
  const nonFollow = await request(f, 'GET', '/fleet/v1/units/hello.service/journal');
  t.equal(nonFollow.status, 503, 'a plain journal request counts too');
  for (const s of open) s.close();
  for (let i = 0; i < 50 && insp.running > 0; i++) await new Promise((r) => setTimeout(r, 20));
  t.equal(insp.running, 0, 'every stream stopped when its client went away');
  const again = await follow(f.socket, p);
  t.equal(again.status, 200, 'slots are free again');
  again.close();
});

t.test('the real inspector: journalctl stops when the stream is aborted', async (t) => {
  const { LocalInspector } = await import('../../fleetd/machine/inspector.js');
  const abort = new AbortController();
  const stream = new LocalInspector().journal('fleet-api-bounds-none.service', { lines: 1, follow: true, output: 'short' }, abort.signal);
  let closed = false;
  const ended = new Promise<void>((r) =>
    stream.on('close', () => {
      closed = true;
      r();
    }),
  );
  stream.resume();
  await new Promise((r) => setTimeout(r, 500));
  t.notOk(closed, 'journalctl -f keeps running until aborted');
  abort.abort();
  await ended;
  t.pass('journalctl ended after abort');
});

t.test('list and plan requests served at once are capped; the excess gets a JSON 503', async (t) => {
  const { createApiServer, MAX_WHOLE_REGISTRY_REQUESTS } = await import('../../fleetd/api/server.js');
  const { defaultConfig } = await import('../../fleetd/config.js');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fleet-api-lists-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const socket = path.join(dir, 'api.sock');
  let release: () => void = () => undefined;
  const gate = new Promise<void>((r) => (release = r));
  let running = 0;
  const slow = async <T>(v: T): Promise<T> => {
    running++;
    await gate;
    running--;
    return v;
  };
  const server = createApiServer({
    backend: {
      listUnits: () => slow([]),
      getUnit: async () => undefined,
      putUnit: async () => true,
      setDesiredState: async () => undefined,
      destroyUnit: async () => false,
      listUnitStates: () => slow([]),
      listMachines: () => slow([]),
      setMachineMetadata: async () => undefined,
      clusterState: () => slow({ units: [], machines: [], schedule: {} }),
      requestRestart: async () => '00',
      getRestartRequest: async () => undefined,
      createRollout: async () => {
        throw new Error('not in this test');
      },
      getRollout: async () => undefined,
      listRollouts: async () => [],
      controlRollout: async () => undefined,
    },
    config: { ...defaultConfig(), apiSocket: socket, apiListen: '' },
    machineId: 'm',
    version: 'x',
    env: {},
  });
  await server.listen();
  t.teardown(() => server.close());
  const paths = ['/fleet/v1/units', '/fleet/v1/state', '/fleet/v1/machines'];
  const pending = Array.from({ length: MAX_WHOLE_REGISTRY_REQUESTS }, (_, i) => request({ socket }, 'GET', paths[i % paths.length]!));
  for (let i = 0; i < 100 && running < MAX_WHOLE_REGISTRY_REQUESTS; i++) await new Promise((r) => setTimeout(r, 20));
  t.equal(running, MAX_WHOLE_REGISTRY_REQUESTS, `${MAX_WHOLE_REGISTRY_REQUESTS} lists running`);
  const excess = await request({ socket }, 'GET', '/fleet/v1/units');
  t.equal(excess.status, 503);
  t.same(excess.json, { error: { code: 503, message: `fleetd is busy: ${MAX_WHOLE_REGISTRY_REQUESTS} list or plan requests are running; retry later` } });
  t.equal(excess.headers['retry-after'], '1');
  t.equal((await request({ socket }, 'GET', '/fleet/v1/units/x.service')).status, 404, 'single-unit requests still served');
  release();
  for (const a of await Promise.all(pending)) t.equal(a.status, 200);
  t.equal((await request({ socket }, 'GET', '/fleet/v1/units')).status, 200, 'served again once they finished');
});
