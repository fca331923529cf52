import t from 'tap';
import { plan } from '../../lib/schedule/index.js';
import { brief, byMachine, machines, settle, state, unit, violations } from './helpers.js';

t.test('Conflicts globs follow Go path.Match', async (t) => {
  const table: [string, string, boolean][] = [
    ['conflict.*.service', 'conflict.1.service', true],
    ['conflict.*.service', 'conflict.service', false],
    ['web@*.service', 'web@1.service', true],
    ['a?c.service', 'abc.service', true],
    ['a?c.service', 'ac.service', false],
    ['db[0-9].service', 'db7.service', true],
    ['db[0-9].service', 'dbx.service', false],
    ['db[^0-9].service', 'dbx.service', true],
    ['a\\*.service', 'a*.service', true],
    ['a\\*.service', 'ab.service', false],
    ['*.service', 'x.socket', false],
    ['a.service', 'aXservice', false],
    ['[a.service', '[a.service', false],
  ];
  for (const [pattern, name, blocked] of table) {
    const s = state([unit(name), unit('n.service', { conflicts: [pattern] })], machines('m1'), { [name]: 'm1' });
    t.same(brief(plan(s).ops), blocked ? [] : ['place n.service m1'], `Conflicts=${pattern} vs ${name}`);
  }
});

const cases = [
  {
    name: "fleet's example: Conflicts=conflict.*.service on 5 units over 3 machines",
    s: state([1, 2, 3, 4, 5].map((i) => unit(`conflict.${i}.service`, { conflicts: ['conflict.*.service'] })), machines('m1', 'm2', 'm3')),
    ops: ['place conflict.1.service m1', 'place conflict.2.service m2', 'place conflict.3.service m3'],
    pending: [
      ['conflict.4.service', 'conflicts with conflict.1.service, conflict.2.service and conflict.3.service on every eligible machine'],
      ['conflict.5.service', 'conflicts with conflict.1.service, conflict.2.service and conflict.3.service on every eligible machine'],
    ],
  },
  {
    name: 'the new unit names the scheduled one',
    s: state([unit('web@1.service'), unit('x.service'), unit('new.service', { conflicts: ['web@1.service'] })], machines('m1', 'm2'), {
      'web@1.service': 'm1', 'x.service': 'm2',
    }),
    ops: ['place new.service m2'],
    pending: [],
  },
  {
    name: 'the scheduled unit names the new one',
    s: state([unit('web@1.service', { conflicts: ['new.*'] }), unit('x.service'), unit('new.service')], machines('m1', 'm2'), {
      'web@1.service': 'm1', 'x.service': 'm2',
    }),
    ops: ['place new.service m2'],
    pending: [],
  },
  {
    name: 'several globs on one line and on several lines',
    s: state([unit('a.service'), unit('b.service'), unit('c.service'), unit('n.service', { conflicts: ['a.service', 'b.*', 'c.service'] })],
      machines('m1', 'm2', 'm3', 'm4'), { 'a.service': 'm1', 'b.service': 'm2', 'c.service': 'm3' }),
    ops: ['place n.service m4'],
    pending: [],
  },
  {
    name: 'a unit never conflicts with itself',
    s: state([unit('web.service', { conflicts: ['web.*'] })], machines('m1')),
    ops: ['place web.service m1'],
    pending: [],
  },
  {
    name: 'conflicting with one unit everywhere',
    s: state([unit('web@1.service', { global: true }), unit('n.service', { conflicts: ['web@*.service'] })], machines('m1', 'm2')),
    ops: [],
    pending: [['n.service', 'conflicts with web@1.service on every eligible machine']],
  },
  {
    name: 'a machine with a conflict is skipped even if least loaded',
    s: state([unit('a.service', { conflicts: ['b.service'] }), unit('x.service'), unit('y.service'), unit('b.service')],
      machines('m1', 'm2'), { 'a.service': 'm1', 'x.service': 'm2', 'y.service': 'm2' }),
    ops: ['place b.service m2'],
    pending: [],
  },
  {
    name: 'conflicting units already together: the first by name stays, the other moves',
    s: state([unit('b.service', { conflicts: ['a.service'] }), unit('a.service')], machines('m1', 'm2'), {
      'a.service': 'm1', 'b.service': 'm1',
    }),
    ops: ['move b.service m1>m2'],
    pending: [],
  },
  {
    name: 'a malformed glob conflicts with nothing',
    s: state([unit('a.service'), unit('b.service', { conflicts: ['[a.service'] })], machines('m1'), { 'a.service': 'm1' }),
    ops: ['place b.service m1'],
    pending: [],
  },
];

for (const c of cases) {
  t.test(c.name, async (t) => {
    const p = plan(c.s);
    t.same(brief(p.ops), c.ops);
    t.same(p.pending.map((x) => [x.unit, x.reason]), c.pending);
    const { plan: p1, next } = settle(c.s);
    t.same(violations(c.s, next.schedule, p1), []);
    t.same(plan(next).ops, [], 'planning the result again changes nothing');
  });
}

t.test('a conflicting pair that is already apart stays apart', async (t) => {
  const s = state([unit('a.service', { conflicts: ['b.service'] }), unit('b.service')], machines('m1', 'm2', 'm3'), {
    'a.service': 'm1', 'b.service': 'm2',
  });
  t.same(plan(s).ops, []);
});

t.test('the reason for moving off a conflict names the conflicting unit', async (t) => {
  const s = state([unit('b.service', { conflicts: ['a.service'] }), unit('a.service')], machines('m1', 'm2'), {
    'a.service': 'm1', 'b.service': 'm1',
  });
  t.equal(plan(s).ops[0]!.reason, 'machine m1 can no longer run it: conflicts with a.service; least-loaded eligible machine (load 0)');
});

t.test('pending conflict units are placed once a machine joins, nothing else moves', async (t) => {
  const us = [1, 2, 3, 4].map((i) => unit(`conflict.${i}.service`, { conflicts: ['conflict.*.service'] }));
  const first = settle(state(us, machines('m1', 'm2')));
  t.same(first.plan.pending.map((x) => x.unit), ['conflict.3.service', 'conflict.4.service']);
  const grown = { ...first.next, machines: machines('m1', 'm2', 'm0') };
  t.same(brief(plan(grown).ops), ['place conflict.3.service m0']);
  t.same(byMachine(settle(grown).schedule), { m0: ['conflict.3.service'], m1: ['conflict.1.service'], m2: ['conflict.2.service'] });
});
