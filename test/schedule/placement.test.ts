import t from 'tap';
import { plan } from '../../lib/schedule/index.js';
import { brief, machine, machines, pendingNames, settle, state, unit, violations } from './helpers.js';

const M1 = 'a1b2c3d4e5f60718293a4b5c6d7e8f90';
const M2 = 'ffeeddccbbaa00112233445566778899';

const cases = [
  {
    name: 'units spread over machines, least loaded first, ties by machine id',
    s: state([unit('a.service'), unit('b.service'), unit('c.service'), unit('d.service')], machines('m2', 'm1', 'm3')),
    ops: ['place a.service m1', 'place b.service m2', 'place c.service m3', 'place d.service m1'],
    pending: [],
  },
  {
    name: 'existing load steers new units to emptier machines',
    s: state([unit('a.service'), unit('b.service'), unit('new.service')], machines('m1', 'm2'), {
      'a.service': 'm1', 'b.service': 'm1',
    }),
    ops: ['place new.service m2'],
    pending: [],
  },
  {
    name: 'a tie goes to the lowest machine id',
    s: state([unit('a.service'), unit('b.service'), unit('x.service')], machines('m9', 'm3', 'm5'), {
      'a.service': 'm3',
    }),
    ops: ['place b.service m5', 'place x.service m9'],
    pending: [],
  },
  {
    name: 'loaded and launched units are both placed; inactive ones are not',
    s: state([unit('a.service', {}, 'loaded'), unit('b.service', {}, 'inactive'), unit('c.service')], machines('m1', 'm2')),
    ops: ['place a.service m1', 'place c.service m2'],
    pending: [],
  },
  {
    name: 'MachineID with the full id',
    s: state([unit('a.service', { machineId: M2 })], [machine(M1), machine(M2)]),
    ops: [`place a.service ${M2}`],
    pending: [],
  },
  {
    name: 'MachineID with the 8-character short id',
    s: state([unit('a.service', { machineId: M2.slice(0, 8) })], [machine(M1), machine(M2)]),
    ops: [`place a.service ${M2}`],
    pending: [],
  },
  {
    name: 'MachineID with another prefix length matches nothing',
    s: state([unit('a.service', { machineId: M2.slice(0, 6) })], [machine(M1), machine(M2)]),
    ops: [],
    pending: [['a.service', `no machine matches MachineID=${M2.slice(0, 6)}`]],
  },
  {
    name: 'MachineID of a machine that is not live',
    s: state([unit('a.service', { machineId: 'gone' })], machines('m1')),
    ops: [],
    pending: [['a.service', 'no machine matches MachineID=gone']],
  },
  {
    name: 'MachineID ignores load',
    s: state([unit('a.service'), unit('b.service'), unit('c.service', { machineId: 'm1' })], machines('m1', 'm2'), {
      'a.service': 'm1', 'b.service': 'm1',
    }),
    ops: ['place c.service m1'],
    pending: [],
  },
  {
    name: 'MachineMetadata: values of one key are OR-ed',
    s: state([unit('a.service', { metadata: { role: ['db', 'cache'] } })],
      [machine('m1', { role: 'web' }), machine('m2', { role: 'cache' })]),
    ops: ['place a.service m2'],
    pending: [],
  },
  {
    name: 'MachineMetadata: keys are AND-ed',
    s: state([unit('a.service', { metadata: { role: ['db'], region: ['eu'] } })],
      [machine('m1', { role: 'db', region: 'us' }), machine('m2', { role: 'web', region: 'eu' }),
        machine('m3', { role: 'db', region: 'eu' })]),
    ops: ['place a.service m3'],
    pending: [],
  },
  {
    name: 'MachineMetadata: a machine without the key does not qualify',
    s: state([unit('a.service', { metadata: { disk: ['ssd'] } })], [machine('m1', {}), machine('m2', { role: 'ssd' })]),
    ops: [],
    pending: [['a.service', 'no machine satisfies MachineMetadata disk=ssd']],
  },
  {
    name: 'MachineMetadata compares exact strings',
    s: state([unit('a.service', { metadata: { role: ['DB'] } })], [machine('m1', { role: 'db' })]),
    ops: [],
    pending: [['a.service', 'no machine satisfies MachineMetadata role=DB']],
  },
  {
    name: 'MachineMetadata picks the least loaded among matching machines',
    s: state([unit('x.service'), unit('a.service', { metadata: { role: ['db'] } }), unit('b.service', { metadata: { role: ['db'] } })],
      [machine('m1', { role: 'db' }), machine('m2', { role: 'web' }), machine('m3', { role: 'db' })], { 'x.service': 'm1' }),
    ops: ['place a.service m3', 'place b.service m1'],
    pending: [],
  },
  {
    name: 'MachineID and MachineMetadata both apply',
    s: state([unit('a.service', { machineId: 'm1', metadata: { role: ['db'] } })], [machine('m1', { role: 'web' })]),
    ops: [],
    pending: [['a.service', 'MachineID=m1: machine m1 cannot run it: lacks MachineMetadata role=db (has role=web)']],
  },
  {
    name: 'no live machines',
    s: state([unit('a.service')], []),
    ops: [],
    pending: [['a.service', 'no live machines']],
  },
];

for (const c of cases) {
  t.test(c.name, async (t) => {
    const p = plan(c.s);
    t.same(brief(p.ops), c.ops);
    t.same(p.pending.map((x) => [x.unit, x.reason]), c.pending);
    for (const op of p.ops) t.ok(op.reason.length > 0, `${op.unit} has a reason`);
    const { plan: p1, next } = settle(c.s);
    t.same(violations(c.s, next.schedule, p1), []);
    t.same(plan(next).ops, [], 'planning the result again changes nothing');
  });
}

t.test('placement reasons name the rule that chose the machine', async (t) => {
  const p = plan(state([unit('a.service'), unit('b.service', { machineId: 'm2' })], machines('m1', 'm2')));
  t.same(p.ops.map((o) => o.reason), ['least-loaded eligible machine (load 0)', 'required by MachineID=m2']);
});

t.test('the order of inputs does not change the plan', async (t) => {
  const us = ['e', 'b', 'a', 'd', 'c'].map((n) => unit(`${n}.service`, { conflicts: n === 'c' ? ['a.service'] : [] }));
  const ms = machines('m3', 'm1', 'm2');
  const p1 = plan(state(us, ms));
  const p2 = plan(state([...us].reverse(), [...ms].reverse()));
  t.same(p2, p1);
  t.same(pendingNames(p1), []);
});

t.test('inactive units are unscheduled and never pending', async (t) => {
  const p = plan(state([unit('a.service', {}, 'inactive'), unit('b.service', {}, 'inactive')], machines('m1'), { 'a.service': 'm1' }));
  t.same(brief(p.ops), ['unschedule a.service m1']);
  t.equal(p.ops[0]!.reason, 'desired state is inactive');
  t.same(p.pending, []);
});

t.test('plan is pure: frozen input, same answer twice', async (t) => {
  const freeze = <T>(o: T): T => {
    if (o && typeof o === 'object') {
      for (const v of Object.values(o)) freeze(v);
      Object.freeze(o);
    }
    return o;
  };
  const s = freeze(state([unit('a.service', { conflicts: ['b*'] }), unit('b.service'), unit('c.service', { machineOf: ['a.service'] })],
    machines('m1', 'm2'), { 'b.service': 'm1', 'x.service': 'm2' }, { graceMs: 1000, now: 5, lostMachines: { m3: 0 } }));
  const p = plan(s);
  t.same(plan(s), p);
  t.same(brief(p.ops), ['unschedule x.service m2', 'place a.service m2', 'place c.service m2']);
});
