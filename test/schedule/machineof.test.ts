import t from 'tap';
import { plan } from '../../lib/schedule/index.js';
import { brief, byMachine, machine, machines, settle, state, unit, violations } from './helpers.js';

const cases = [
  {
    name: 'a follower goes where its target is, even onto the busiest machine',
    s: state([unit('x.service'), unit('db.service'), unit('side.service', { machineOf: ['db.service'] })], machines('m1', 'm2'), {
      'x.service': 'm2', 'db.service': 'm2',
    }),
    ops: ['place side.service m2'],
    pending: [],
  },
  {
    name: 'targets are placed before followers whatever their names',
    s: state([unit('a-side.service', { machineOf: ['z-db.service'] }), unit('z-db.service')], machines('m1', 'm2')),
    ops: ['place z-db.service m1', 'place a-side.service m1'],
    pending: [],
  },
  {
    name: 'chains: c follows b follows a',
    s: state([unit('c.service', { machineOf: ['b.service'] }), unit('b.service', { machineOf: ['a.service'] }), unit('a.service'), unit('x.service')],
      machines('m1', 'm2'), { 'x.service': 'm1' }),
    ops: ['place a.service m2', 'place b.service m2', 'place c.service m2'],
    pending: [],
  },
  {
    name: 'several peers on one machine',
    s: state([unit('a.service'), unit('b.service'), unit('c.service', { machineOf: ['a.service', 'b.service'] })], machines('m1', 'm2'), {
      'a.service': 'm2', 'b.service': 'm2',
    }),
    ops: ['place c.service m2'],
    pending: [],
  },
  {
    name: 'peers on different machines',
    s: state([unit('a.service'), unit('b.service'), unit('c.service', { machineOf: ['a.service', 'b.service'] })], machines('m1', 'm2'), {
      'a.service': 'm1', 'b.service': 'm2',
    }),
    ops: [],
    pending: [['c.service', 'MachineOf peers a.service and b.service are on different machines']],
  },
  {
    name: 'the peer is not submitted',
    s: state([unit('side.service', { machineOf: ['db.service'] })], machines('m1')),
    ops: [],
    pending: [['side.service', 'MachineOf peer db.service is not scheduled']],
  },
  {
    name: 'the peer is inactive',
    s: state([unit('db.service', {}, 'inactive'), unit('side.service', { machineOf: ['db.service'] })], machines('m1')),
    ops: [],
    pending: [['side.service', 'MachineOf peer db.service is not scheduled']],
  },
  {
    name: 'the peer itself cannot be placed',
    s: state([unit('db.service', { metadata: { role: ['db'] } }), unit('side.service', { machineOf: ['db.service'] })], machines('m1')),
    ops: [],
    pending: [['db.service', 'no machine satisfies MachineMetadata role=db'], ['side.service', 'MachineOf peer db.service is not scheduled']],
  },
  {
    name: "the target's machine cannot run the follower",
    s: state([unit('db.service'), unit('side.service', { machineOf: ['db.service'], metadata: { disk: ['ssd'] } })], machines('m1')),
    ops: ['place db.service m1'],
    pending: [['side.service', 'MachineOf peer db.service is on m1, which cannot run it: lacks MachineMetadata disk=ssd (has no disk)']],
  },
  {
    name: 'bidirectional MachineOf can never be placed',
    s: state([unit('a.service', { machineOf: ['b.service'] }), unit('b.service', { machineOf: ['a.service'] }), unit('c.service', { machineOf: ['a.service'] })],
      machines('m1')),
    ops: [],
    pending: [
      ['a.service', 'MachineOf cycle a.service -> b.service -> a.service can never be placed'],
      ['b.service', 'MachineOf cycle b.service -> a.service -> b.service can never be placed'],
      ['c.service', 'MachineOf peer a.service is not scheduled'],
    ],
  },
  {
    name: 'a unit that names itself in MachineOf',
    s: state([unit('a.service', { machineOf: ['a.service'] })], machines('m1')),
    ops: [],
    pending: [['a.service', 'MachineOf cycle a.service -> a.service can never be placed']],
  },
  {
    name: 'scheduled units on a MachineOf cycle are unscheduled',
    s: state([unit('a.service', { machineOf: ['b.service'] }), unit('b.service', { machineOf: ['a.service'] })], machines('m1'), {
      'a.service': 'm1', 'b.service': 'm1',
    }),
    ops: ['unschedule a.service m1', 'unschedule b.service m1'],
    pending: [
      ['a.service', 'MachineOf cycle a.service -> b.service -> a.service can never be placed'],
      ['b.service', 'MachineOf cycle b.service -> a.service -> b.service can never be placed'],
    ],
  },
  {
    name: 'MachineOf a global unit: any machine running it',
    s: state([unit('agent.service', { global: true, metadata: { role: ['edge'] } }), unit('side.service', { machineOf: ['agent.service'] })],
      [machine('m1'), machine('m2', { role: 'edge' }), machine('m3', { role: 'edge' })]),
    ops: ['place side.service m2'],
    pending: [],
  },
  {
    name: 'MachineOf a global unit that runs nowhere',
    s: state([unit('agent.service', { global: true, metadata: { role: ['edge'] } }), unit('side.service', { machineOf: ['agent.service'] })],
      machines('m1')),
    ops: [],
    pending: [['side.service', 'MachineOf peer agent.service is not scheduled']],
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

t.test('followers move with their target when its machine dies, chains included', async (t) => {
  const us = [unit('a.service'), unit('b.service', { machineOf: ['a.service'] }), unit('c.service', { machineOf: ['b.service'] }), unit('x.service'), unit('y.service')];
  const s = state(us, machines('m1', 'm3'), { 'a.service': 'm2', 'b.service': 'm2', 'c.service': 'm2', 'x.service': 'm1', 'y.service': 'm1' });
  const p = plan(s);
  t.same(brief(p.ops), ['move a.service m2>m3', 'move b.service m2>m3', 'move c.service m2>m3']);
  t.match(p.ops[1]!.reason, /^machine m2 went away; with MachineOf peer a\.service$/);
});

t.test('followers move with a target that must leave a live machine', async (t) => {
  const s = state(
    [unit('db.service', { metadata: { role: ['db'] } }), unit('side.service', { machineOf: ['db.service'] }), unit('z.service')],
    [machine('m1', { role: 'web' }), machine('m2', { role: 'db' })],
    { 'db.service': 'm1', 'side.service': 'm1', 'z.service': 'm1' },
  );
  const p = plan(s);
  t.same(brief(p.ops), ['move db.service m1>m2', 'move side.service m1>m2']);
  t.equal(p.ops[1]!.reason, 'moves with MachineOf peer db.service (machine m1 can no longer run it: lacks MachineMetadata role=db (has role=web))');
  t.same(byMachine(settle(s).schedule), { m1: ['z.service'], m2: ['db.service', 'side.service'] });
});

t.test('a follower is unscheduled when its target can go nowhere', async (t) => {
  const s = state([unit('db.service', { metadata: { role: ['db'] } }), unit('side.service', { machineOf: ['db.service'] })],
    [machine('m1', { role: 'web' })], { 'db.service': 'm1', 'side.service': 'm1' });
  const p = plan(s);
  t.same(brief(p.ops), ['unschedule db.service m1', 'unschedule side.service m1']);
  t.same(p.pending.map((x) => x.reason), ['no machine satisfies MachineMetadata role=db', 'MachineOf peer db.service is not scheduled']);
});

t.test('a scheduled follower whose target sits elsewhere joins it', async (t) => {
  const s = state([unit('db.service'), unit('side.service', { machineOf: ['db.service'] })], machines('m1', 'm2'), {
    'db.service': 'm2', 'side.service': 'm1',
  });
  t.same(brief(plan(s).ops), ['move side.service m1>m2']);
});
