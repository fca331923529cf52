/**
 * Issue 10 item 3: one `POST /fleet/v1/plan` with 450 long Conflicts= globs against 20 launched units with long
 * names once held the API's event loop for 43 s; the machine's lease expired and its units moved. The same unit
 * submitted and started did the same to the engine. Here the API, the engine and two machine leases (2 s TTL)
 * share one event loop in a child process (dryrun-child.ts), as in fleetd; each attack must be answered within
 * 2 s (the issue asks for that bound) and no lease may be lost.
 */
import t, { type Test } from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startEtcd } from '../harness/etcd.js';
import { Registry } from '../../lib/registry/index.js';
import { parseUnitFile, serializeUnitFile, unitHash, type UnitOption } from '../../lib/unit/index.js';
import { M1, M2, request, submitUnit, type Answer } from '../api/fixture.js';
import { waitFor } from '../engine/helpers.js';

/** The bound for an answer. */
const ANSWER_MS = 2000;
/** How long a test waits for an answer at most, so a stalled child fails the test instead of hanging it. */
const GIVE_UP_MS = 8000;

interface ChildEvent {
  event: string;
  machine?: string;
  ms?: number;
  pending?: { unit: string; reason: string }[];
}

interface Child {
  proc: ChildProcess;
  events: ChildEvent[];
  socket: string;
}

async function startChild(t: Test, endpoint: string, prefix: string): Promise<Child> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'dryrun-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const socket = path.join(dir, 'fleet.sock');
  const script = fileURLToPath(new URL('./dryrun-child.js', import.meta.url));
  const proc = spawn(process.execPath, [script], {
    env: { ...process.env, TEST_ETCD: endpoint, TEST_PREFIX: prefix, TEST_SOCKET: socket, TEST_MACHINES: `${M1},${M2}` },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  t.teardown(async () => {
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise<void>((r) => proc.once('exit', () => r()));
    proc.kill('SIGTERM');
    const timer = setTimeout(() => proc.kill('SIGKILL'), 2000);
    await exited;
    clearTimeout(timer);
  });
  const events: ChildEvent[] = [];
  let buf = '';
  proc.stdout!.setEncoding('utf8');
  proc.stdout!.on('data', (chunk: string) => {
    buf += chunk;
    for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      try {
        events.push(JSON.parse(line) as ChildEvent);
      } catch {
        // not ours
      }
    }
  });
  await waitFor('the child to be ready', () => events.some((e) => e.event === 'ready'), 20000);
  return { proc, events, socket };
}

/** An answer, or undefined when none came within GIVE_UP_MS; with how long it took. */
async function timed(p: Promise<Answer>, giveUpMs = GIVE_UP_MS): Promise<{ answer: Answer | undefined; ms: number }> {
  const started = Date.now();
  let timer: NodeJS.Timeout | undefined;
  const answer = await Promise.race([p, new Promise<undefined>((r) => (timer = setTimeout(() => r(undefined), giveUpMs)))]);
  clearTimeout(timer);
  p.catch(() => undefined);
  return { answer, ms: Date.now() - started };
}

/** 20 long unit names (243 bytes; the limit is 255). */
const NAMES = Array.from({ length: 20 }, (_, i) => `${'l'.repeat(230)}-${String(i).padStart(2, '0')}.service`);

/** `count` distinct globs of about `length` characters that make a naive matcher work hard on NAMES. */
function hostileGlobs(count: number, length: number): string[] {
  const shapes = [
    (n: number): string => '*' + 'l*'.repeat(n) + 'x',
    (n: number): string => 'l' + '*l'.repeat(n) + '?x',
    (n: number): string => '*' + 'l?'.repeat(n) + 'z*',
    (n: number): string => '*[a-l]'.repeat(Math.floor((n * 2) / 5)) + 'q',
  ];
  return Array.from({ length: count }, (_, i) => {
    const tag = `-${i}`;
    const head = shapes[i % shapes.length]!(Math.floor((length - tag.length - 3) / 2));
    return (head + tag).slice(-length);
  });
}

function conflicts(globs: readonly string[]): UnitOption[] {
  return [{ section: 'Service', name: 'ExecStart', value: '/bin/sleep 1000' }, ...globs.map((g) => ({ section: 'X-Fleet', name: 'Conflicts', value: g }))];
}

t.test('450 long Conflicts globs: a dry run, a submission and a unit written straight to etcd stall nothing', async (t) => {
  const etcd = await startEtcd(t);
  const prefix = `/dryrun-stall-${process.pid}/`;
  const registry = new Registry(etcd.newClient(), prefix);
  t.teardown(() => registry.close());
  for (const name of NAMES) await submitUnit(registry, name, '[Service]\nExecStart=/bin/sleep 1000\n', 'launched');
  const child = await startChild(t, etcd.endpoint, prefix);
  const placed = await waitFor('the 20 units to be scheduled', async () => {
    const units = await registry.listUnits();
    return units.filter((u) => u.machineId).length === NAMES.length ? units : undefined;
  }, 20000);
  const schedule = placed.map((u) => `${u.name}@${u.machineId}`).sort();

  const attack = hostileGlobs(450, 940);
  const body = { units: [{ name: 'attack.service', options: conflicts(attack) }] };
  t.ok(JSON.stringify(body).length > 400_000, `the body is ${JSON.stringify(body).length} bytes, as in the report`);

  await t.test('the dry run is refused at once, naming the option and its bound', async (t) => {
    const { answer, ms } = await timed(request(child, 'POST', '/fleet/v1/plan', { body }));
    t.ok(answer !== undefined && ms <= ANSWER_MS, `answered within ${ANSWER_MS} ms (took ${ms} ms)`);
    t.equal(answer?.status, 400);
    t.match(answer?.json, { error: { code: 400, message: /Conflicts.*at most \d+ are allowed/ } });
  });

  await t.test('a dry run at the bounds is answered within 2 s', async (t) => {
    const { MAX_X_FLEET_VALUES, MAX_X_FLEET_VALUE_LENGTH } = await import("../../lib/unit/index.js");
    const most = { units: [{ name: 'most.service', options: conflicts(hostileGlobs(MAX_X_FLEET_VALUES, MAX_X_FLEET_VALUE_LENGTH)) }] };
    const { answer, ms } = await timed(request(child, 'POST', '/fleet/v1/plan', { body: most }));
    t.ok(answer !== undefined && ms <= ANSWER_MS, `answered within ${ANSWER_MS} ms (took ${ms} ms)`);
    t.equal(answer?.status, 200, (answer?.text ?? '').slice(0, 300));
  });

  await t.test('submitting the unit is refused at once; nothing is written', async (t) => {
    const { answer, ms } = await timed(request(child, 'PUT', '/fleet/v1/units/attack.service', { body: { name: 'attack.service', desiredState: 'launched', options: conflicts(attack) } }));
    t.ok(answer !== undefined && ms <= ANSWER_MS, `answered within ${ANSWER_MS} ms (took ${ms} ms)`);
    t.equal(answer?.status, 400);
    t.match(answer?.json, { error: { code: 400, message: /Conflicts.*at most \d+ are allowed/ } });
    t.equal(await registry.getUnit('attack.service'), undefined, 'not stored');
  });

  await t.test('the unit written straight to etcd and started is unschedulable, with a reason', async (t) => {
    const file = { options: conflicts(attack) };
    const text = serializeUnitFile(file, 'direct.service');
    const started = Date.now();
    await registry.createUnit({ name: 'direct.service', text, hash: unitHash(file), desiredState: 'launched', global: false });
    const seen = await timed(
      waitFor('the engine to report direct.service', () => child.events.some((e) => e.pending?.some((p) => p.unit === 'direct.service')), GIVE_UP_MS).then(
        () => ({ status: 0, headers: {}, text: '', json: undefined }),
      ),
    );
    const ms = Date.now() - started;
    t.ok(seen.answer !== undefined && ms <= ANSWER_MS, `the engine's pass reports it within ${ANSWER_MS} ms (took ${ms} ms)`);
    const pending = child.events.flatMap((e) => e.pending ?? []).find((p) => p.unit === 'direct.service');
    t.match(pending?.reason, /Conflicts.*at most \d+ are allowed/, 'the reason names the option and the bound');
    const r = await timed(request(child, 'POST', '/fleet/v1/plan', { body: { units: [{ name: 'direct.service' }] } }));
    t.ok(r.answer !== undefined && r.ms <= ANSWER_MS, `a dry run of the stored unit is answered within ${ANSWER_MS} ms (took ${r.ms} ms)`);
  });

  await t.test('many units at the bounds: a dry run of them, then submitted and started, hold no loop', async (t) => {
    const { MAX_X_FLEET_VALUES, MAX_X_FLEET_VALUE_LENGTH } = await import('../../lib/unit/index.js');
    const { PLAN_DEADLINE_MS } = await import('../../fleetd/api/plan.js');
    const many = Array.from({ length: 120 }, (_, i) => ({
      name: `bounded-${i}.service`,
      options: conflicts(hostileGlobs(MAX_X_FLEET_VALUES, MAX_X_FLEET_VALUE_LENGTH).map((g) => `${g}-${i}`.slice(-MAX_X_FLEET_VALUE_LENGTH))),
      desiredState: 'launched',
    }));
    const { answer, ms } = await timed(request(child, 'POST', '/fleet/v1/plan', { body: { units: many } }), PLAN_DEADLINE_MS + 5000);
    t.ok(answer !== undefined, `the dry run is answered (${answer?.status} after ${ms} ms)`);
    t.ok(answer?.status === 200 || answer?.status === 503, `200, or 503 once the deadline passed (${answer?.status}: ${(answer?.text ?? '').slice(0, 200)})`);
    const stalls = child.events.filter((e) => e.event === 'stall' && (e.ms ?? 0) > 1000);
    t.same(stalls, [], 'the event loop did not stop for a second during the dry run');
    for (const u of many) {
      const r = await request(child, 'PUT', `/fleet/v1/units/${u.name}`, { body: u });
      if (r.status !== 201) t.fail(`${u.name}: ${r.status} ${r.text}`);
    }
    await waitFor('a pass with the new units', () => child.events.some((e) => e.event === 'pass' && (e.pending ?? []).length === 0), GIVE_UP_MS).catch(() => undefined);
    await new Promise((r) => setTimeout(r, 3000));
  });

  t.same(child.events.filter((e) => e.event === 'lost'), [], 'no machine lost its lease');
  t.same(child.events.filter((e) => e.event === 'stall' && (e.ms ?? 0) > 1000), [], 'the event loop never stopped for a second');
  t.same((await registry.listMachines()).map((m) => m.id), [M1, M2].sort(), 'both machines are still registered');
  const after = (await registry.listUnits()).filter((u) => NAMES.includes(u.name)).map((u) => `${u.name}@${u.machineId}`).sort();
  t.same(after, schedule, 'no unit moved');
});
