/**
 * `fleetctl start` of many units (issue 13): units are submitted and targeted concurrently (at most
 * UNIT_CONCURRENCY requests at once), the waits read one list per poll for all units, and the output is what
 * one unit after another printed: same lines, same order, and a refusal found while reading unit k stops the
 * writes of the units after it. A stand-in API server counts the requests and the most under way at once.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t, { type Test } from 'tap';
import { runCli } from '../../fleetctl/cli.js';
import { UNIT_CONCURRENCY } from '../../fleetctl/create.js';
import { BufferOutput } from '../../fleetctl/output.js';

const M1 = 'abcdef0123456789abcdef0123456789';

interface Unit {
  name: string;
  options: unknown[];
  desiredState: string;
}

/** A stand-in fleet API: units reach their desired state at once, launched units are active; every answer takes 3 ms. */
interface StandIn {
  endpoint: string;
  units: Map<string, Unit>;
  counts: Map<string, number>;
  maxInFlight: () => number;
  /** the most target-state writes (PUT of an existing unit) under way at once */
  maxTargetsInFlight: () => number;
  /** the units whose target state was written, in the order the writes arrived */
  targetOrder: string[];
}

async function standIn(t: Test): Promise<StandIn> {
  const units = new Map<string, Unit>();
  const counts = new Map<string, number>();
  const targetOrder: string[] = [];
  let inFlight = 0;
  let most = 0;
  let targets = 0;
  let mostTargets = 0;
  const server = createServer((req, res) => {
    inFlight++;
    most = Math.max(most, inFlight);
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const target = req.method === 'PUT' && units.has(decodeURIComponent(/^\/fleet\/v1\/units\/(.+)$/.exec(new URL(req.url ?? '/', 'http://x').pathname)?.[1] ?? ''));
      if (target) {
        targetOrder.push((JSON.parse(body) as { name: string }).name);
        mostTargets = Math.max(mostTargets, ++targets);
      }
      setTimeout(() => {
        if (target) targets--;
        const url = new URL(req.url ?? '/', 'http://x');
        const one = /^\/fleet\/v1\/units\/(.+)$/.exec(url.pathname);
        const kind = `${req.method} ${one ? 'unit' : url.pathname.replace('/fleet/v1/', '')}`;
        counts.set(kind, (counts.get(kind) ?? 0) + 1);
        res.setHeader('content-type', 'application/json');
        const view = (u: Unit): object => ({ ...u, currentState: u.desiredState, ...(u.desiredState !== 'inactive' ? { machineID: M1 } : {}) });
        if (one && req.method === 'GET') {
          const u = units.get(decodeURIComponent(one[1]!));
          res.statusCode = u ? 200 : 404;
          res.end(JSON.stringify(u ? view(u) : { error: { code: 404, message: 'unit does not exist' } }));
        } else if (one && req.method === 'PUT') {
          const b = JSON.parse(body) as { name: string; options?: unknown[]; desiredState?: string };
          const had = units.get(b.name);
          units.set(b.name, { name: b.name, options: b.options ?? had?.options ?? [], desiredState: b.desiredState ?? had?.desiredState ?? 'inactive' });
          res.statusCode = had ? 204 : 201;
          res.end();
        } else if (url.pathname === '/fleet/v1/units') {
          res.end(JSON.stringify({ units: [...units.values()].map(view) }));
        } else if (url.pathname === '/fleet/v1/state') {
          const states = [...units.values()]
            .filter((u) => u.desiredState === 'launched')
            .map((u) => ({ name: u.name, machineID: M1, systemdLoadState: 'loaded', systemdActiveState: 'active', systemdSubState: 'running' }));
          res.end(JSON.stringify({ states }));
        } else if (url.pathname === '/fleet/v1/machines') {
          res.end(JSON.stringify({ machines: [{ id: M1, primaryIP: '10.0.0.1' }] }));
        } else {
          res.statusCode = 404;
          res.end(JSON.stringify({ error: { code: 404, message: 'not found' } }));
        }
        inFlight--;
      }, 3);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    units,
    counts,
    maxInFlight: () => most,
    maxTargetsInFlight: () => mostTargets,
    targetOrder,
  };
}

const dir = mkdtempSync(path.join(os.tmpdir(), 'fleetctl-start-many-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const N = 60;
const names = Array.from({ length: N }, (_, i) => `u${i + 1}.service`);
for (const n of names) writeFileSync(path.join(dir, n), `[Unit]\nDescription=${n}\n\n[Service]\nExecStart=/bin/sleep 1000\n`);

t.test('a 60-unit start: concurrent requests, one list per poll, the lines of one unit after another', async (t) => {
  const api = await standIn(t);
  const out = new BufferOutput();
  const code = await runCli({ argv: ['start', ...names.map((n) => path.join(dir, n))], env: { FLEETCTL_ENDPOINT: api.endpoint }, out });
  t.equal(code, 0, out.stderr);
  t.equal(out.stderr, '');
  const expected = [...names.map((n) => `Unit ${n} inactive`), ...names.map((n) => `Unit ${n} launched on abcdef01.../10.0.0.1`)];
  t.equal(out.stdout, expected.map((l) => `${l}\n`).join(''), 'fleet\'s lines, in argument order');
  t.same([...api.units.values()].map((u) => u.desiredState), names.map(() => 'launched'), 'every unit launched');
  const counts = Object.fromEntries(api.counts);
  t.equal(counts['GET unit'], 2 * N, 'one read per unit to create it and one to target it');
  t.equal(counts['PUT unit'], 2 * N, 'one write per unit to create it and one to target it');
  t.ok((counts['GET units'] ?? 0) <= 4 && (counts['GET state'] ?? 0) <= 2 && (counts['GET machines'] ?? 0) <= 1, `one list per poll for all units: ${JSON.stringify(counts)}`);
  t.ok(api.maxInFlight() > 1, `requests run concurrently (at most ${api.maxInFlight()} at once)`);
  t.ok(api.maxInFlight() <= UNIT_CONCURRENCY, `at most ${UNIT_CONCURRENCY} at once`);
  t.ok(api.maxTargetsInFlight() > 1, `units without [X-Fleet] options are targeted concurrently (at most ${api.maxTargetsInFlight()} at once)`);
});

t.test('units with [X-Fleet] options are targeted one after another in argument order, after every unit before them', async (t) => {
  const api = await standIn(t);
  const plain = names.slice(0, 20).map((n) => path.join(dir, n));
  const webs = ['web@4.service', 'web@2.service', 'web@3.service', 'web@1.service'];
  for (const w of webs) writeFileSync(path.join(dir, w), `[Service]\nExecStart=/bin/sleep 1000\n\n[X-Fleet]\nConflicts=web@*.service\n`);
  const out = new BufferOutput();
  const argv = ['start', ...plain, ...webs.map((w) => path.join(dir, w)), path.join(dir, names[20]!)];
  const code = await runCli({ argv, env: { FLEETCTL_ENDPOINT: api.endpoint }, out });
  t.equal(code, 0, out.stderr);
  t.same(api.targetOrder.slice(20), [...webs, names[20]], 'the conflicting units, and the unit after them, in argument order after the 20 before them');
  t.same([...api.targetOrder.slice(0, 20)].sort(), names.slice(0, 20).sort());
  t.ok(api.maxTargetsInFlight() > 1, 'the 20 plain units before them concurrently');
});

t.test('a refusal while reading unit k: the units before it are created, none after it, the same lines as one by one', async (t) => {
  const api = await standIn(t);
  const missing = path.join(dir, 'nowhere.service');
  const argv = ['start', ...names.slice(0, 20).map((n) => path.join(dir, n)), missing, ...names.slice(20, 40).map((n) => path.join(dir, n))];
  const out = new BufferOutput();
  const code = await runCli({ argv, env: { FLEETCTL_ENDPOINT: api.endpoint }, out });
  t.equal(code, 1);
  t.equal(out.stdout, '', 'nothing waited for');
  t.equal(out.stderr, 'Error creating units: unable to find Unit(nowhere.service) in Registry or on filesystem\n');
  t.same([...api.units.keys()].sort(), names.slice(0, 20).sort(), 'the 20 units before the missing one were created, none after it');
  t.equal(api.counts.get('PUT unit'), 20);
});

t.test('a unit named twice: handled one after another, as before', async (t) => {
  const api = await standIn(t);
  const file = path.join(dir, names[0]!);
  const out = new BufferOutput();
  const code = await runCli({ argv: ['start', file, file, path.join(dir, names[1]!)], env: { FLEETCTL_ENDPOINT: api.endpoint }, out });
  t.equal(code, 0, out.stderr);
  t.equal(out.stdout, [`Unit ${names[0]} inactive`, `Unit ${names[1]} inactive`, `Unit ${names[0]} launched on abcdef01.../10.0.0.1`, `Unit ${names[1]} launched on abcdef01.../10.0.0.1`].map((l) => `${l}\n`).join(''));
  t.equal(api.counts.get('PUT unit'), 4, 'each unit created once and targeted once (read concurrently, the second u1 would be written too)');
});
