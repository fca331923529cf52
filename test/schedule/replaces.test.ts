import t from 'tap';
import { plan } from '../../lib/schedule/index.js';
import { brief, byMachine, machine, machines, settle, state, unit, violations } from './helpers.js';

const cases = [
  {
    name: "fleet's TestScheduleReplace: the new unit takes the machine, the replaced one moves to the other",
    s: state([unit('replace.0.service'), unit('replace.1.service'), unit('replace.2.service', { machineOf: ['replace.1.service'] }),
      unit('replace-kick0.service', { replaces: ['replace.0.service'] })], machines('m0', 'm1'), {
      'replace.0.service': 'm0', 'replace.1.service': 'm1', 'replace.2.service': 'm1',
    }),
    ops: ['move replace.0.service m0>m1', 'place replace-kick0.service m0'],
    pending: [],
    after: { m0: ['replace-kick0.service'], m1: ['replace.0.service', 'replace.1.service', 'replace.2.service'] },
  },
  {
    name: 'the new unit takes the machine even when it is the busiest',
    s: state([unit('old.service'), unit('x.service'), unit('new.service', { replaces: ['old.service'] })], machines('m1', 'm2', 'm3'), {
      'old.service': 'm1', 'x.service': 'm1',
    }),
    ops: ['move old.service m1>m2', 'place new.service m1'],
    pending: [],
    after: { m1: ['new.service', 'x.service'], m2: ['old.service'] },
  },
  {
    name: 'the replaced unit goes to the least-loaded other machine that can run it',
    s: state([unit('old.service', { metadata: { role: ['db'] } }), unit('a.service'), unit('b.service'), unit('new.service', { replaces: ['old.service'] })],
      [machine('m1', { role: 'db' }), machine('m2'), machine('m3', { role: 'db' }), machine('m4', { role: 'db' })],
      { 'old.service': 'm1', 'a.service': 'm3', 'b.service': 'm3' }),
    ops: ['move old.service m1>m4', 'place new.service m1'],
    pending: [],
    after: { m1: ['new.service'], m3: ['a.service', 'b.service'], m4: ['old.service'] },
  },
  {
    name: 'the replaced unit is unscheduled when no other machine can run it',
    s: state([unit('old.service', { metadata: { role: ['db'] } }), unit('new.service', { replaces: ['old.service'] })],
      [machine('m1', { role: 'db' }), machine('m2')], { 'old.service': 'm1' }),
    ops: ['unschedule old.service m1', 'place new.service m1'],
    pending: [['old.service', 'would be replaced by new.service on every eligible machine']],
    after: { m1: ['new.service'] },
  },
  {
    name: 'Replaces takes globs',
    s: state([unit('app@1.service'), unit('app-v2@1.service', { replaces: ['app@*.service'] })], machines('m1', 'm2'), { 'app@1.service': 'm2' }),
    ops: ['move app@1.service m2>m1', 'place app-v2@1.service m2'],
    pending: [],
    after: { m1: ['app@1.service'], m2: ['app-v2@1.service'] },
  },
  {
    name: 'circular Replaces are ignored',
    s: state([unit('a.service', { replaces: ['b.service'] }), unit('b.service', { replaces: ['a.service'] })], machines('m1'), { 'a.service': 'm1' }),
    ops: ['place b.service m1'],
    pending: [],
    after: { m1: ['a.service', 'b.service'] },
  },
  {
    name: 'followers of the replaced unit move with it',
    s: state([unit('old.service'), unit('side.service', { machineOf: ['old.service'] }), unit('new.service', { replaces: ['old.service'] })],
      machines('m1', 'm2'), { 'old.service': 'm1', 'side.service': 'm1' }),
    ops: ['move old.service m1>m2', 'move side.service m1>m2', 'place new.service m1'],
    pending: [],
    after: { m1: ['new.service'], m2: ['old.service', 'side.service'] },
  },
  {
    name: 'a unit the replaced one conflicts with can still take its machine',
    s: state([unit('old.service', { conflicts: ['new.service'] }), unit('new.service', { replaces: ['old.service'] })], machines('m1', 'm2'), { 'old.service': 'm1' }),
    ops: ['move old.service m1>m2', 'place new.service m1'],
    pending: [],
    after: { m1: ['new.service'], m2: ['old.service'] },
  },
  {
    name: 'a replaced unit is not placed where its replacement runs',
    s: state([unit('new.service', { replaces: ['old.service'] }), unit('x.service'), unit('old.service')], machines('m1', 'm2'), {
      'new.service': 'm1', 'x.service': 'm2',
    }),
    ops: ['place old.service m2'],
    pending: [],
    after: { m1: ['new.service'], m2: ['old.service', 'x.service'] },
  },
  {
    name: 'a replaced unit sharing a machine with its replacement moves off',
    s: state([unit('new.service', { replaces: ['old.service'] }), unit('old.service')], machines('m1', 'm2'), {
      'new.service': 'm1', 'old.service': 'm1',
    }),
    ops: ['move old.service m1>m2'],
    pending: [],
    after: { m1: ['new.service'], m2: ['old.service'] },
  },
  {
    name: 'two replacements of one unit: each takes a machine from it, it ends where neither runs',
    s: state([unit('old.service'), unit('n1.service', { replaces: ['old.service'] }), unit('n2.service', { replaces: ['old.service'] })],
      machines('m1', 'm2', 'm3'), { 'old.service': 'm1' }),
    ops: ['move old.service m1>m3', 'place n1.service m1', 'place n2.service m2'],
    pending: [],
    after: { m1: ['n1.service'], m2: ['n2.service'], m3: ['old.service'] },
  },
  {
    name: 'a unit every machine replaces stays pending',
    s: state([unit('old.service'), unit('n1.service', { replaces: ['old.service'] }), unit('n2.service', { replaces: ['old.service'] })],
      machines('m1', 'm2'), { 'old.service': 'm1' }),
    ops: ['unschedule old.service m1', 'place n1.service m1', 'place n2.service m2'],
    pending: [['old.service', 'would be replaced by n1.service and n2.service on every eligible machine']],
    after: { m1: ['n1.service'], m2: ['n2.service'] },
  },
  {
    name: 'Replaces cycles of any length are ignored',
    s: state([unit('a.service', { replaces: ['b.service'] }), unit('b.service', { replaces: ['c.service'] }), unit('c.service', { replaces: ['a.service'] })],
      machines('m1', 'm2'), { 'a.service': 'm1', 'b.service': 'm1' }),
    ops: ['place c.service m2'],
    pending: [],
    after: { m1: ['a.service', 'b.service'], m2: ['c.service'] },
  },
  {
    name: 'a chain of replacements: the moved unit prefers a machine where it displaces nothing',
    s: state([unit('c.service'), unit('b.service', { replaces: ['c.service'] }), unit('a.service', { replaces: ['b.service'] })],
      machines('m1', 'm2', 'm3'), { 'b.service': 'm1', 'c.service': 'm2' }),
    ops: ['move b.service m1>m3', 'place a.service m1'],
    pending: [],
    after: { m1: ['a.service'], m2: ['c.service'], m3: ['b.service'] },
  },
  {
    name: 'a replacement and its replaced unit already apart stay put',
    s: state([unit('old.service'), unit('new.service', { replaces: ['old.service'] })], machines('m1', 'm2'), {
      'old.service': 'm1', 'new.service': 'm2',
    }),
    ops: [],
    pending: [],
    after: { m1: ['old.service'], m2: ['new.service'] },
  },
];

for (const c of cases) {
  t.test(c.name, async (t) => {
    const p = plan(c.s);
    t.same(brief(p.ops), c.ops);
    t.same(p.pending.map((x) => [x.unit, x.reason]), c.pending);
    const { plan: p1, next } = settle(c.s);
    t.same(byMachine(next.schedule), c.after);
    t.same(violations(c.s, next.schedule, p1), []);
    t.same(plan(next).ops, [], 'planning the result again changes nothing');
  });
}

t.test('reasons say who replaced whom', async (t) => {
  const p = plan(state([unit('old.service'), unit('new.service', { replaces: ['old.service'] })], machines('m1', 'm2'), { 'old.service': 'm1' }));
  t.same(p.ops.map((o) => o.reason), [
    'replaced by new.service on m1; least-loaded eligible machine (load 0)',
    'takes the machine of old.service (Replaces)',
  ]);
});

t.test('a replacer displaced by machine loss does not evict anyone when another machine fits', async (t) => {
  const s = state([unit('old.service'), unit('x.service'), unit('y.service'), unit('new.service', { replaces: ['old.service'] })],
    machines('m1', 'm2'), { 'old.service': 'm1', 'x.service': 'm2', 'y.service': 'm2', 'new.service': 'm3' });
  t.same(brief(plan(s).ops), ['move new.service m3>m2']);
});

t.test('a replacer displaced by machine loss takes over as a last resort', async (t) => {
  const s = state([unit('old.service'), unit('new.service', { replaces: ['old.service'] })], machines('m1'), {
    'old.service': 'm1', 'new.service': 'm3',
  });
  const p = plan(s);
  t.same(brief(p.ops), ['unschedule old.service m1', 'move new.service m3>m1']);
  t.same(p.pending, [{ unit: 'old.service', reason: 'would be replaced by new.service on every eligible machine' }]);
});
