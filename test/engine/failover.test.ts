/**
 * Killing the engine leader in the middle of scheduling 500 units, five times: the kill hits right before or
 * right after one of its schedule transactions leaves (dead, frozen like SIGSTOP, partitioned and healed, or its
 * etcd client closed under it: streams opened before keep its lease alive, but it cannot write, so it must resign).
 * At every watch response no unit has two schedule entries or an entry that disagrees with its target; no unit
 * is lost, moved or unscheduled; the last leader places all 500.
 */
import t from 'tap';
import type { ITxnRequest } from 'etcd3';
import { startEtcd } from '../harness/etcd.js';
import { Fixture, ScheduleObserver, sleep, unitSpec, waitFor, type EngineHandle } from './helpers.js';
import type { UnitSpec } from '../../lib/registry/index.js';

const etcd = await startEtcd(t);

type Mode = 'dead' | 'frozen' | 'partitioned' | 'closed';

interface Round {
  readonly units: number;
  readonly mode: Mode;
  /** Which of the leader's schedule transactions the kill hits (1 = its first). */
  readonly nth: number;
  /** Kill before the transaction is sent, or just after (in flight, outcome unknown to the leader). */
  readonly when: 'before' | 'after';
}

const rounds: Round[] = [
  { units: 150, mode: 'dead', nth: 1, when: 'after' },
  { units: 120, mode: 'frozen', nth: 2, when: 'before' },
  { units: 100, mode: 'partitioned', nth: 1, when: 'after' },
  { units: 80, mode: 'frozen', nth: 1, when: 'after' },
  { units: 50, mode: 'closed', nth: 2, when: 'after' },
];

function isScheduleWrite(req: ITxnRequest): boolean {
  return (req.success ?? []).some((op) => 'request_txn' in op);
}

/** Kills the engine's connection around its nth schedule transaction; resolves once it did. */
function armKill(h: EngineHandle, r: Round): Promise<void> {
  return new Promise((resolve) => {
    const kv = h.client.kv;
    const txn = kv.txn.bind(kv);
    let n = r.nth;
    const kill = (): void => {
      if (r.mode === 'frozen') h.proxy.freeze('both');
      else if (r.mode === 'closed') h.client.close();
      else h.proxy.cut();
      resolve();
    };
    kv.txn = (req, opts) => {
      if (!isScheduleWrite(req) || --n !== 0) return txn(req, opts);
      if (r.when === 'before') kill();
      const p = txn(req, opts);
      if (r.when === 'after') setImmediate(kill);
      return p;
    };
  });
}

function specsFor(total: number): UnitSpec[] {
  const out: UnitSpec[] = [];
  for (let i = 0; i < 20; i++) {
    out.push(unitSpec(`app-${i}.service`));
    out.push(unitSpec(`app-${i}-sidekick.service`, { xfleet: [`MachineOf=app-${i}.service`] }));
  }
  for (let i = 0; i < 15; i++) out.push(unitSpec(`fast-${i}.service`, { xfleet: ['MachineMetadata=disk=ssd'] }));
  for (let i = 0; i < 5; i++) out.push(unitSpec(`excl-${i}.service`, { xfleet: ['Conflicts=excl-*.service'] }));
  for (let i = 0; out.length < total; i++) out.push(unitSpec(`web-${String(i).padStart(3, '0')}.service`));
  // interleave so every round has some of each kind
  return out.map((s, i) => ({ s, k: (i * 7919) % total })).sort((a, b) => a.k - b.k).map((x) => x.s);
}

t.test('the leader killed mid-scheduling, five times: never two machines, nothing lost, the last leader finishes', async (t) => {
  const f = new Fixture(etcd, t);
  for (let i = 1; i <= 8; i++) await f.addMachine(`m${i}`, i <= 4 ? { disk: 'ssd' } : {});
  const obs = await ScheduleObserver.start(f.client, f.prefix, t);
  const specs = specsFor(500);
  t.equal(specs.length, 500);
  let engines = 0;
  const spawn = (): Promise<EngineHandle> => f.startEngine(`e${engines++}`, { leaseTtlSeconds: 2, reconcileIntervalMs: 1000 });
  for (let i = 0; i < 3; i++) await spawn();

  let created = 0;
  const frozen: EngineHandle[] = [];
  const dead: EngineHandle[] = [];
  const killed: EngineHandle[] = [];
  for (const [i, r] of rounds.entries()) {
    // the round's units queue up while there is no leader (from round 2 on, the previous one was just killed)
    const batch = specs.slice(created, created + r.units);
    created += r.units;
    const creating = f.createUnits(batch, 8);
    const leader = await f.waitLeader(15000, killed[killed.length - 1]);
    t.notOk(dead.includes(leader), `round ${i + 1}: a live engine leads (${leader.id}${killed.includes(leader) ? ', back from an earlier round' : ''})`);
    const hit = armKill(leader, r);
    await creating;
    const struck = await Promise.race([hit.then(() => true), sleep(8000).then(() => false)]);
    t.ok(struck, `round ${i + 1}: ${leader.id} ${r.mode} ${r.when} its schedule transaction #${r.nth} left`);
    if (!struck) leader.proxy.cut();
    killed.push(leader);
    if (r.mode === 'frozen') frozen.push(leader);
    if (r.mode === 'dead' || r.mode === 'closed') dead.push(leader);
    await spawn();
    // a frozen engine wakes up once a successor leads: its held write reaches etcd late
    const thawLater = r.mode === 'frozen' || r.mode === 'partitioned';
    if (thawLater) {
      void f.waitLeader(15000, leader).then(async () => {
        await sleep(300);
        if (r.mode === 'frozen') leader.proxy.thaw();
        else leader.proxy.restore();
      });
    }
  }

  await waitFor('all 500 units placed', () => obs.placed().size === 500, 30000);
  await sleep(500);
  await obs.catchUp();
  t.same(obs.violations, [], 'at every observed revision: one schedule entry per unit, on its target machine');
  t.equal(obs.placements, 500, 'each unit placed exactly once');
  t.equal(obs.moves, 0, 'no unit moved');
  t.equal(obs.unschedules, 0, 'no unit unscheduled');

  const units = await f.registry.listUnits();
  const entries = new Map((await f.registry.listSchedule()).map((e) => [e.name, e]));
  t.equal(entries.size, 500);
  const wrong = units.filter((u) => {
    const e = entries.get(u.name);
    return !e || e.machineId !== u.machineId || e.hash !== u.hash || e.desiredState !== u.desiredState;
  });
  t.same(wrong.map((u) => u.name), [], 'every schedule entry says what its job says');
  const placed = obs.placed();
  for (let i = 0; i < 20; i++) t.equal(placed.get(`app-${i}-sidekick.service`), placed.get(`app-${i}.service`), `sidekick ${i} with its app`);
  for (let i = 0; i < 15; i++) t.ok(['m1', 'm2', 'm3', 'm4'].includes(placed.get(`fast-${i}.service`)!), `fast-${i} on an ssd machine`);
  t.equal(new Set([0, 1, 2, 3, 4].map((i) => placed.get(`excl-${i}.service`))).size, 5, 'conflicting units on five machines');
  const load = new Map<string, number>();
  for (const m of placed.values()) load.set(m, (load.get(m) ?? 0) + 1);
  const loads = [...load.values()];
  t.ok(Math.max(...loads) - Math.min(...loads) <= 2, `balanced: ${JSON.stringify(Object.fromEntries([...load].sort()))}`);

  t.equal(f.leaders().length, 1, 'one leader at the end');
  const fenced = frozen.reduce((n, h) => n + h.engine.stats.fencedWrites, 0);
  t.comment(`fenced writes of frozen leaders: ${fenced}; passes per engine: ${f.engines.map((h) => `${h.id}=${h.engine.stats.reconciles}`).join(' ')}`);
});
