import t from 'tap';
import { plan, type ScheduleOptions } from '../../lib/schedule/index.js';
import { brief, machine, machines, settle, state, unit, violations } from './helpers.js';

const NOW = 1_700_000_000_000;

const lossCases: { name: string; options: ScheduleOptions | undefined; ops: string[]; pending: string[][] }[] = [
  {
    name: 'no grace: units of a lost machine move at once, to the least loaded machines',
    options: undefined,
    ops: ['move a.service m3>m2', 'move b.service m3>m1'],
    pending: [],
  },
  {
    name: 'a machine missing from lostMachines counts as lost long ago',
    options: { graceMs: 60_000, now: NOW, lostMachines: {} },
    ops: ['move a.service m3>m2', 'move b.service m3>m1'],
    pending: [],
  },
  {
    name: 'within the grace period units stay, pending with the time left',
    options: { graceMs: 60_000, now: NOW, lostMachines: { m3: NOW - 15_500 } },
    ops: [],
    pending: [['a.service', 'machine m3 lost, moving in 45s'], ['b.service', 'machine m3 lost, moving in 45s']],
  },
  {
    name: 'when the grace period is over they move',
    options: { graceMs: 60_000, now: NOW, lostMachines: { m3: NOW - 60_000 } },
    ops: ['move a.service m3>m2', 'move b.service m3>m1'],
    pending: [],
  },
];

for (const c of lossCases) {
  t.test(c.name, async (t) => {
    const s = state([unit('a.service'), unit('b.service'), unit('x.service')], machines('m1', 'm2'),
      { 'a.service': 'm3', 'b.service': 'm3', 'x.service': 'm1' }, c.options);
    const p = plan(s);
    t.same(brief(p.ops), c.ops);
    t.same(p.pending.map((x) => [x.unit, x.reason]), c.pending);
    for (const op of p.ops) t.match(op.reason, /^machine m3 went away; /);
    const { plan: p1, next } = settle(s);
    t.same(violations(s, next.schedule, p1), []);
    t.same(plan(next).ops, []);
  });
}

t.test('the grace countdown rounds up to whole seconds', async (t) => {
  const s = state([unit('a.service')], machines('m1'), { 'a.service': 'm9' }, { graceMs: 30_000, now: NOW, lostMachines: { m9: NOW - 29_999 } });
  t.same(plan(s).pending, [{ unit: 'a.service', reason: 'machine m9 lost, moving in 1s' }]);
});

t.test('units held on a lost machine count nowhere and block nothing', async (t) => {
  const s = state([unit('a.service', { conflicts: ['b.service'] }), unit('b.service')], machines('m1'), { 'a.service': 'm9' },
    { graceMs: 30_000, now: NOW, lostMachines: { m9: NOW } });
  t.same(brief(plan(s).ops), ['place b.service m1']);
});

t.test('a follower waits for a target held on a lost machine', async (t) => {
  const s = state([unit('db.service'), unit('side.service', { machineOf: ['db.service'] })], machines('m1'), { 'db.service': 'm9' },
    { graceMs: 30_000, now: NOW, lostMachines: { m9: NOW } });
  t.same(plan(s).pending, [
    { unit: 'db.service', reason: 'machine m9 lost, moving in 30s' },
    { unit: 'side.service', reason: 'MachineOf peer db.service is on lost machine m9' },
  ]);
});

t.test('a machine that comes back within the grace period keeps its units', async (t) => {
  const s = state([unit('a.service')], machines('m1', 'm9'), { 'a.service': 'm9' }, { graceMs: 30_000, now: NOW, lostMachines: { m9: NOW - 100_000 } });
  t.same(plan(s), { ops: [], pending: [] });
});

t.test('a machine joining moves nothing', async (t) => {
  const us = Array.from({ length: 12 }, (_, i) => unit(`u${String(i).padStart(2, '0')}.service`));
  const first = settle(state(us, machines('m1', 'm2', 'm3')));
  t.same(plan({ ...first.next, machines: machines('m1', 'm2', 'm3', 'm0') }).ops, []);
});

t.test('a machine joining takes the next new unit', async (t) => {
  const first = settle(state([unit('a.service'), unit('b.service')], machines('m1', 'm2')));
  const grown = { ...first.next, units: [...first.next.units, unit('c.service')], machines: machines('m1', 'm2', 'm3') };
  t.same(brief(plan(grown).ops), ['place c.service m3']);
});

t.test('a machine dying moves only its own units and their followers', async (t) => {
  const us = [];
  for (let i = 0; i < 40; i++) {
    const name = `u${String(i).padStart(2, '0')}.service`;
    us.push(unit(name, i % 5 === 4 ? { machineOf: [`u${String(i - 1).padStart(2, '0')}.service`] } : i % 7 === 0 ? { conflicts: ['u*7.service'] } : {}));
  }
  const ms = machines('m1', 'm2', 'm3', 'm4', 'm5');
  const first = settle(state(us, ms));
  t.same(first.plan.pending, []);
  const victims = Object.entries(first.schedule).filter(([, m]) => m === 'm3').map(([u]) => u).sort();
  t.ok(victims.length > 0);
  const after = settle({ ...first.next, machines: ms.filter((m) => m.id !== 'm3') });
  const changed = Object.keys(first.schedule).filter((u) => after.schedule[u] !== first.schedule[u]).sort();
  t.same(changed, victims);
  t.same(violations(after.next, after.schedule, after.plan), []);
  t.same(plan(after.next).ops, []);
});

t.test('a machine whose metadata changed gives up the units that need it', async (t) => {
  const s = state([unit('db.service', { metadata: { role: ['db'] } }), unit('web.service')],
    [machine('m1', { role: 'web' }), machine('m2', { role: 'db' })], { 'db.service': 'm1', 'web.service': 'm1' });
  const p = plan(s);
  t.same(brief(p.ops), ['move db.service m1>m2']);
  t.equal(p.ops[0]!.reason, 'machine m1 can no longer run it: lacks MachineMetadata role=db (has role=web); least-loaded eligible machine (load 0)');
});

t.test('a unit whose MachineID machine died stays pending', async (t) => {
  const p = plan(state([unit('a.service', { machineId: 'm3' })], machines('m1'), { 'a.service': 'm3' }));
  t.same(brief(p.ops), ['unschedule a.service m3']);
  t.equal(p.ops[0]!.reason, 'machine m3 went away; no machine matches MachineID=m3');
  t.same(p.pending, [{ unit: 'a.service', reason: 'no machine matches MachineID=m3' }]);
});

t.test('schedule entries of destroyed units are removed', async (t) => {
  const p = plan(state([unit('a.service')], machines('m1'), { 'a.service': 'm1', 'gone.service': 'm1' }));
  t.same(brief(p.ops), ['unschedule gone.service m1']);
  t.equal(p.ops[0]!.reason, 'unit no longer exists');
});

t.test('ops come as unschedules, then moves, then placements', async (t) => {
  const s = state([unit('a.service', {}, 'inactive'), unit('b.service'), unit('c.service')], machines('m1'), { 'a.service': 'm1', 'b.service': 'm2' });
  t.same(brief(plan(s).ops), ['unschedule a.service m1', 'move b.service m2>m1', 'place c.service m1']);
});

t.test('from any schedule, one plan reaches a valid state that plans to nothing', async (t) => {
  let seed = 7;
  const rnd = (n: number): number => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed % n;
  };
  for (let round = 0; round < 25; round++) {
    const ms = Array.from({ length: 2 + rnd(5) }, (_, i) => machine(`m${i}`, rnd(2) ? { role: rnd(2) ? 'db' : 'web' } : {}));
    const us = Array.from({ length: 5 + rnd(25) }, (_, i) => {
      const name = `s${i}.service`;
      const pick = rnd(8);
      return unit(name, {
        conflicts: pick === 0 ? [`s${rnd(30)}.service`] : pick === 1 ? ['s1*.service'] : [],
        machineOf: pick === 2 && i > 0 ? [`s${rnd(i)}.service`] : [],
        metadata: pick === 3 ? { role: ['db'] } : {},
        replaces: pick === 4 ? [`s${rnd(30)}.service`] : [],
        global: pick === 5 && rnd(2) === 0,
      }, rnd(6) === 0 ? 'inactive' : 'launched');
    });
    const messy: Record<string, string> = {};
    for (const u of us) if (rnd(2) === 0) messy[u.name] = `m${rnd(ms.length + 1)}`;
    let s = state(us, ms, messy);
    for (let step = 0; step < 3; step++) {
      const r = settle(s);
      t.same(violations(s, r.schedule, r.plan), [], `round ${round} step ${step}`);
      t.same(brief(plan(r.next).ops), [], `round ${round} step ${step} is converged`);
      const dead = ms[rnd(ms.length)]!.id;
      s = { ...r.next, machines: r.next.machines.filter((m) => m.id !== dead) };
    }
  }
});
