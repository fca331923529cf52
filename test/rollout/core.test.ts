/**
 * The rollout core (lib/rollout/core.ts) as tables: batching within max-unavailable, the minimum healthy time, a
 * crash after 2 s, the deadline, pause/resume/abort, rollback order, a machine that left, a unit changed by someone
 * else. Pure: a simulated cluster of observed unit states, no etcd.
 */
import t from 'tap';
import { stepRollout, type RolloutStep } from '../../lib/rollout/core.js';
import type { ObservedUnit, RolloutControl, RolloutSpec, RolloutStatus } from '../../lib/rollout/types.js';

const OLD = 'a'.repeat(40);
const NEW = 'b'.repeat(40);

function spec(n: number, o: Partial<RolloutSpec> = {}): RolloutSpec {
  return {
    id: 'r1',
    units: Array.from({ length: n }, (_, i) => ({ name: `web@${i + 1}.service`, from: OLD, to: NEW })),
    maxUnavailable: 1,
    minHealthyMs: 10_000,
    deadlineMs: 60_000,
    rollback: true,
    createdAt: '2026-12-05T12:00:00.000Z',
    ...o,
  };
}

type Behaviour = 'ok' | 'fails' | 'crashes-after-2s' | 'never-starts';

/** A cluster: each unit runs its job's text; a new text behaves as told, starting 1 s after its swap. */
class Sim {
  readonly jobs = new Map<string, string>();
  readonly swappedAt = new Map<string, number>();
  readonly machines = new Map<string, string | undefined>();
  status: RolloutStatus | undefined;
  control: RolloutControl | undefined;
  now = 0;
  minActive = Infinity;
  swapLog: string[] = [];

  constructor(
    readonly s: RolloutSpec,
    readonly behaviour: (unit: string) => Behaviour = () => 'ok',
  ) {
    for (const u of s.units) {
      this.jobs.set(u.name, u.from);
      this.machines.set(u.name, `m-${u.name}`);
    }
  }

  observed(): Map<string, ObservedUnit> {
    const out = new Map<string, ObservedUnit>();
    for (const u of this.s.units) {
      const hash = this.jobs.get(u.name);
      const machineId = this.machines.get(u.name);
      const since = this.swappedAt.get(u.name);
      let activeState = 'active';
      if (machineId === undefined) {
        out.set(u.name, { ...(hash ? { hash } : {}) });
        continue;
      }
      if (since !== undefined) {
        const age = this.now - since;
        const b = hash === NEW ? this.behaviour(u.name) : 'ok';
        if (age < 1000) activeState = 'activating';
        else if (b === 'fails') activeState = 'failed';
        else if (b === 'never-starts') activeState = 'activating';
        else if (b === 'crashes-after-2s' && age >= 3000) activeState = 'activating';
      }
      out.set(u.name, { ...(hash ? { hash } : {}), machineId, state: { hash: hash ?? OLD, activeState, subState: activeState === 'active' ? 'running' : 'start' } });
    }
    return out;
  }

  step(): RolloutStep {
    const obs = this.observed();
    const active = [...obs.values()].filter((o) => o.state?.activeState === 'active').length;
    this.minActive = Math.min(this.minActive, active);
    const r = stepRollout(this.s, this.status, this.control, obs, this.now);
    for (const sw of r.swaps) {
      t.equal(this.jobs.get(sw.name), sw.from, `swap of ${sw.name} from its current text`);
      this.jobs.set(sw.name, sw.to);
      this.swappedAt.set(sw.name, this.now);
      this.swapLog.push(`${sw.name}>${sw.to === NEW ? 'new' : 'old'}`);
    }
    // what etcd gives back: the JSON round trip
    this.status = JSON.parse(JSON.stringify(r.status)) as RolloutStatus;
    return r;
  }

  /** Steps every 200 ms until the rollout is finished or `maxMs` passed. */
  run(maxMs = 600_000): RolloutStatus {
    while (this.now <= maxMs) {
      const r = this.step();
      if (r.wakeAt === undefined) return this.status!;
      this.now += 200;
    }
    return this.status!;
  }
}

t.test('six units, max-unavailable 1: one at a time, each healthy for 10 s before the next; all end on the new text', async (t) => {
  const sim = new Sim(spec(6));
  const end = sim.run();
  t.equal(end.phase, 'succeeded');
  t.ok(end.finishedAt !== undefined);
  t.equal(sim.minActive, 5, 'never fewer than 5 active');
  t.same([...sim.jobs.values()], Array(6).fill(NEW));
  t.same(sim.swapLog, [1, 2, 3, 4, 5, 6].map((i) => `web@${i}.service>new`), 'in spec order');
  const starts = [1, 2, 3, 4, 5, 6].map((i) => end.units[`web@${i}.service`]!.since!);
  for (let i = 1; i < 6; i++) t.ok(starts[i]! - starts[i - 1]! >= 11_000, `unit ${i + 1} waited for unit ${i} to be healthy 10 s`);
});

t.test('max-unavailable 2: two at a time, never more than two down', async (t) => {
  const sim = new Sim(spec(6, { maxUnavailable: 2, minHealthyMs: 0 }));
  const first = sim.step();
  t.same(first.swaps.map((s) => s.name), ['web@1.service', 'web@2.service']);
  t.equal(sim.run().phase, 'succeeded');
  t.equal(sim.minActive, 4);
});

t.test('a new text that fails: the first batch fails, it is rolled back, the others are never touched', async (t) => {
  const sim = new Sim(spec(6), () => 'fails');
  const end = sim.run();
  t.equal(end.phase, 'rolled-back');
  t.match(end.failure, { unit: 'web@1.service', machine: 'm-web@1.service', reason: /failed/ });
  t.same(sim.swapLog, ['web@1.service>new', 'web@1.service>old']);
  t.same([...sim.jobs.values()], Array(6).fill(OLD));
  t.equal(sim.minActive, 5);
});

t.test('a unit that crashes 2 s after starting is caught by the minimum healthy time', async (t) => {
  const sim = new Sim(spec(3), () => 'crashes-after-2s');
  const end = sim.run();
  t.equal(end.phase, 'rolled-back');
  t.match(end.failure, { unit: 'web@1.service', reason: /stopped being active 2(\.\d)?s after it started/ });
  t.same(sim.swapLog, ['web@1.service>new', 'web@1.service>old']);
});

t.test('not active within the deadline: fails; without rollback the rollout just stops', async (t) => {
  const sim = new Sim(spec(3, { deadlineMs: 5000, rollback: false }), () => 'never-starts');
  const end = sim.run();
  t.equal(end.phase, 'failed');
  t.match(end.failure, { unit: 'web@1.service', reason: /not active within 5s \(activating\/start\)/ });
  t.ok(end.finishedAt! >= 5000 && end.finishedAt! <= 5400, 'right after the deadline');
  t.same(sim.swapLog, ['web@1.service>new'], 'left on the new text, nothing else touched');
});

t.test('rollback order: the broken unit first, then the healthy ones, last replaced first, one at a time', async (t) => {
  const sim = new Sim(spec(5, { minHealthyMs: 1000 }), (u) => (u === 'web@4.service' ? 'fails' : 'ok'));
  const end = sim.run();
  t.equal(end.phase, 'rolled-back');
  t.same(sim.swapLog, [
    'web@1.service>new', 'web@2.service>new', 'web@3.service>new', 'web@4.service>new',
    'web@4.service>old', 'web@3.service>old', 'web@2.service>old', 'web@1.service>old',
  ]);
  t.same([...sim.jobs.values()], Array(5).fill(OLD));
  t.equal(sim.minActive, 4, 'the broken one plus one being put back');
});

t.test('pause: no new unit starts, the one in flight finishes; resume continues; abort stops for good', async (t) => {
  const sim = new Sim(spec(4, { minHealthyMs: 1000 }));
  sim.step();
  sim.control = 'pause';
  for (let i = 0; i < 100; i++) {
    sim.now += 200;
    sim.step();
  }
  t.equal(sim.status!.phase, 'paused');
  t.same(sim.swapLog, ['web@1.service>new']);
  t.equal(sim.status!.units['web@1.service']!.state, 'healthy', 'the unit in flight still became healthy');
  sim.control = 'resume';
  sim.now += 200;
  sim.step();
  t.equal(sim.status!.phase, 'running');
  t.same(sim.swapLog, ['web@1.service>new', 'web@2.service>new']);
  sim.control = 'abort';
  sim.now += 200;
  const r = sim.step();
  t.equal(sim.status!.phase, 'aborted');
  t.equal(r.wakeAt, undefined, 'finished');
  t.same(r.swaps, [], 'nothing is rolled back on abort');
  sim.control = 'resume';
  sim.now += 200;
  t.equal(sim.step().changed, false, 'a finished rollout never changes');
});

t.test('a machine that left: its unit is unavailable anyway, so it is replaced first and waited for on its new machine', async (t) => {
  const sim = new Sim(spec(3, { minHealthyMs: 0 }));
  sim.machines.set('web@3.service', undefined);
  const r = sim.step();
  t.same(r.swaps.map((s) => s.name), ['web@3.service'], 'only the unit that is down anyway');
  sim.now += 200;
  t.same(sim.step().swaps, [], 'waits for it');
  sim.machines.set('web@3.service', 'm-other');
  t.equal(sim.run().phase, 'succeeded');
  t.equal(sim.status!.units['web@3.service']!.machine, 'm-other');
});

t.test('a unit destroyed or replaced outside the rollout fails it without rollback', async (t) => {
  const sim = new Sim(spec(3));
  sim.step();
  sim.jobs.set('web@2.service', 'c'.repeat(40));
  sim.now += 200;
  sim.step();
  t.equal(sim.status!.phase, 'failed');
  t.match(sim.status!.failure, { unit: 'web@2.service', reason: /replaced outside the rollout/ });
  sim.jobs.delete('web@2.service');
  const s2 = new Sim(spec(2));
  s2.jobs.delete('web@1.service');
  s2.step();
  t.match(s2.status!.failure, { reason: /destroyed/ });
});

t.test('a status read back unchanged is not rewritten; the next wake is the end of the minimum healthy time at the latest', async (t) => {
  const sim = new Sim(spec(2));
  t.equal(sim.step().changed, true, 'the first status is written');
  sim.now += 100;
  t.equal(sim.step().changed, false, 'nothing happened');
  sim.now = 1000;
  const r = sim.step();
  t.equal(r.changed, true, 'active since now');
  t.equal(r.wakeAt, 1200, 'polls while in flight');
});

/** A global unit on machines: each runs its effective text (override or the unit's), 1 s to start. */
function globalRun(machines: string[], opts: { fails?: boolean; leaves?: string; maxUnavailable?: number } = {}) {
  const s = spec(0, { minHealthyMs: 1000, maxUnavailable: opts.maxUnavailable ?? 1 });
  const gs: RolloutSpec = { ...s, units: machines.map((m) => ({ name: 'g.service', machine: m, from: OLD, to: NEW })) };
  const effective = new Map(machines.map((m) => [m, OLD]));
  const swappedAt = new Map<string, number>();
  const gone = new Set<string>();
  let status: RolloutStatus | undefined;
  let minUp = Infinity;
  let commit: string | undefined;
  const log: string[] = [];
  for (let now = 0; now < 120_000; now += 200) {
    if (opts.leaves && now === 1400) gone.add(opts.leaves);
    const obs = new Map<string, ObservedUnit>();
    let up = 0;
    for (const m of machines) {
      if (gone.has(m)) {
        obs.set(m, { hash: effective.get(m)!, gone: true });
        continue;
      }
      const age = now - (swappedAt.get(m) ?? -10_000);
      const active = age >= 1000 && !(opts.fails && effective.get(m) === NEW);
      if (active) up++;
      obs.set(m, { hash: effective.get(m)!, machineId: m, state: { hash: effective.get(m)!, activeState: active ? 'active' : age < 1000 ? 'activating' : 'failed', subState: 'x' } });
    }
    minUp = Math.min(minUp, up + gone.size);
    const r = stepRollout(gs, status, undefined, obs, now);
    for (const sw of r.swaps) {
      t.equal(sw.name, 'g.service');
      effective.set(sw.machine!, sw.to);
      swappedAt.set(sw.machine!, now);
      log.push(`${sw.machine}>${sw.to === NEW ? 'new' : 'old'}`);
    }
    if (r.commit) commit = `${r.commit.name} ${r.commit.from === OLD && r.commit.to === NEW ? 'old>new' : '?'}`;
    status = JSON.parse(JSON.stringify(r.status)) as RolloutStatus;
    if (r.wakeAt === undefined) break;
  }
  return { status: status!, log, minUp, commit };
}

t.test('a global unit rolls machine by machine: one machine without it at a time, then the unit itself is committed', async (t) => {
  const r = globalRun(['m1', 'm2', 'm3']);
  t.equal(r.status.phase, 'succeeded');
  t.same(r.log, ['m1>new', 'm2>new', 'm3>new']);
  t.equal(r.minUp, 2, 'at most one machine without it');
  t.equal(r.commit, 'g.service old>new', 'the unit gets the new text once every machine runs it');
  t.same(Object.keys(r.status.units).sort(), ['m1', 'm2', 'm3'], 'progress per machine');
});

t.test('a global unit whose new text fails: rolled back on that machine, the others untouched, nothing committed', async (t) => {
  const r = globalRun(['m1', 'm2', 'm3'], { fails: true });
  t.equal(r.status.phase, 'rolled-back');
  t.match(r.status.failure, { unit: 'g.service', machine: 'm1' });
  t.same(r.log, ['m1>new', 'm1>old']);
  t.equal(r.commit, undefined);
});

t.test('a machine that leaves during a global rollout is skipped', async (t) => {
  const r = globalRun(['m1', 'm2', 'm3'], { leaves: 'm3' });
  t.equal(r.status.phase, 'succeeded');
  t.equal(r.status.units['m3']!.state, 'skipped');
  t.same(r.log, ['m1>new', 'm2>new']);
  t.equal(r.commit, 'g.service old>new');
});
