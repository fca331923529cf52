import t from 'tap';
import { globalUnitsFor, plan } from '../../lib/schedule/index.js';
import { brief, machine, machines, settle, state, unit, violations } from './helpers.js';

const gcases = [
  {
    name: 'metadata must match',
    m: machine('m1', { role: 'web' }),
    globals: [unit('a.service', { global: true, metadata: { role: ['web'] } }), unit('b.service', { global: true, metadata: { role: ['db'] } })],
    others: [],
    run: ['a.service'],
    skipped: [['b.service', 'machine lacks MachineMetadata role=db']],
  },
  {
    name: 'two conflicting global units: the alphabetically first wins',
    m: machine('m1'),
    globals: [unit('z.service', { global: true, conflicts: ['a.service'] }), unit('a.service', { global: true })],
    others: [],
    run: ['a.service'],
    skipped: [['z.service', 'conflicts with global unit a.service, which sorts first']],
  },
  {
    name: 'the first one wins whichever side declares the conflict',
    m: machine('m1'),
    globals: [unit('b.service', { global: true }), unit('a.service', { global: true, conflicts: ['b.*'] })],
    others: [],
    run: ['a.service'],
    skipped: [['b.service', 'conflicts with global unit a.service, which sorts first']],
  },
  {
    name: 'a unit scheduled on the machine keeps a conflicting global unit off it',
    m: machine('m1'),
    globals: [unit('g.service', { global: true, conflicts: ['web@*.service'] }), unit('h.service', { global: true })],
    others: [unit('web@1.service')],
    run: ['h.service'],
    skipped: [['g.service', 'conflicts with web@1.service scheduled on this machine']],
  },
  {
    name: 'inactive global units do not run',
    m: machine('m1'),
    globals: [unit('g.service', { global: true }, 'inactive')],
    others: [],
    run: [],
    skipped: [['g.service', 'desired state is inactive']],
  },
  {
    name: 'a skipped global unit does not block later ones',
    m: machine('m1'),
    globals: [unit('a.service', { global: true, metadata: { x: ['1'] } }), unit('b.service', { global: true, conflicts: ['a.service'] })],
    others: [],
    run: ['b.service'],
    skipped: [['a.service', 'machine lacks MachineMetadata x=1']],
  },
];

for (const c of gcases) {
  t.test(`globalUnitsFor: ${c.name}`, async (t) => {
    const gp = globalUnitsFor(c.m, c.globals, c.others);
    t.same(gp.run, c.run);
    t.same(gp.skipped.map((x) => [x.unit, x.reason]), c.skipped);
  });
}

t.test('global units are never scheduled by the engine', async (t) => {
  const p = plan(state([unit('g.service', { global: true })], machines('m1', 'm2')));
  t.same(p, { ops: [], pending: [] });
});

t.test('a stale schedule entry of a global unit is removed', async (t) => {
  const p = plan(state([unit('g.service', { global: true })], machines('m1'), { 'g.service': 'm1' }));
  t.same(brief(p.ops), ['unschedule g.service m1']);
  t.equal(p.ops[0]!.reason, 'global units are not scheduled by the engine');
});

const lcases = [
  {
    name: 'global units count toward the load of machines that run them',
    s: state([unit('g.service', { global: true, metadata: { role: ['edge'] } }), unit('a.service'), unit('b.service')],
      [machine('m1', { role: 'edge' }), machine('m2'), machine('m3', { role: 'edge' })]),
    ops: ['place a.service m2', 'place b.service m1'],
  },
  {
    name: 'inactive global units do not count',
    s: state([unit('g.service', { global: true }, 'inactive'), unit('a.service')], machines('m1', 'm2')),
    ops: ['place a.service m1'],
  },
  {
    name: 'a global unit kept off a machine by a conflict does not count there',
    s: state([unit('g.service', { global: true, conflicts: ['x.service'] }), unit('x.service'), unit('y.service'), unit('a.service')],
      machines('m1', 'm2'), { 'x.service': 'm1', 'y.service': 'm2' }),
    ops: ['place a.service m1'],
  },
  {
    name: 'a new unit is not placed where a conflicting global unit runs',
    s: state([unit('g.service', { global: true, metadata: { role: ['edge'] } }), unit('a.service', { conflicts: ['g.service'] }), unit('x.service'), unit('y.service')],
      [machine('m1', { role: 'edge' }), machine('m2')], { 'x.service': 'm2', 'y.service': 'm2' }),
    ops: ['place a.service m2'],
  },
  {
    name: 'nor where a global unit that names it runs',
    s: state([unit('g.service', { global: true, conflicts: ['a.*'], metadata: { role: ['edge'] } }), unit('a.service'), unit('x.service'), unit('y.service')],
      [machine('m1', { role: 'edge' }), machine('m2')], { 'x.service': 'm2', 'y.service': 'm2' }),
    ops: ['place a.service m2'],
  },
  {
    name: 'a scheduled unit stays even when a conflicting global unit appears',
    s: state([unit('g.service', { global: true, conflicts: ['a.service'] }), unit('a.service')], machines('m1', 'm2'), { 'a.service': 'm1' }),
    ops: [],
  },
];

for (const c of lcases) {
  t.test(c.name, async (t) => {
    const p = plan(c.s);
    t.same(brief(p.ops), c.ops);
    const { plan: p1, next } = settle(c.s);
    t.same(violations(c.s, next.schedule, p1), []);
    t.same(plan(next).ops, []);
  });
}
