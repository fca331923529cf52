import t from 'tap';
import { explain, UnknownUnitError } from '../../lib/schedule/index.js';
import { machine, machines, state, unit } from './helpers.js';

const verdicts = (e: ReturnType<typeof explain>): [string, boolean, string][] => e.machines.map((m) => [m.machineId, m.eligible, m.reason]);

t.test('a pending unit: every machine says why not', async (t) => {
  const s = state(
    [unit('web@1.service'), unit('n.service', { conflicts: ['web@*.service'], metadata: { role: ['web'] } })],
    [machine('m1', { role: 'web' }), machine('m2', { role: 'db' }), machine('m3')],
    { 'web@1.service': 'm1' },
  );
  const e = explain('n.service', s);
  t.equal(e.outcome, 'pending: conflicts with web@1.service on every eligible machine');
  t.equal(e.machineId, undefined);
  t.same(verdicts(e), [
    ['m1', false, 'conflicts with web@1.service'],
    ['m2', false, 'lacks MachineMetadata role=web (has role=db)'],
    ['m3', false, 'lacks MachineMetadata role=web (has no role)'],
  ]);
});

t.test('a unit placed by this plan: where it goes and what else could take it', async (t) => {
  const s = state([unit('a.service'), unit('b.service', { machineId: 'm2' }), unit('x.service')], machines('m1', 'm2', 'm3'), { 'x.service': 'm1' });
  const e = explain('a.service', s);
  t.equal(e.outcome, 'placed on m2: least-loaded eligible machine (load 0)');
  t.equal(e.machineId, 'm2');
  t.same(verdicts(e), [['m1', true, 'eligible'], ['m2', true, 'eligible; scheduled here'], ['m3', true, 'eligible']]);
  t.same(e.machines.map((m) => m.load), [1, 1, 0], 'loads after the plan, not counting the unit itself');
});

t.test('a unit that stays, and one that moves', async (t) => {
  const s = state([unit('a.service'), unit('b.service')], machines('m1', 'm2'), { 'a.service': 'm1', 'b.service': 'm9' });
  t.equal(explain('a.service', s).outcome, 'stays on m1');
  t.equal(explain('b.service', s).outcome, 'moves from m9 to m2: machine m9 went away; least-loaded eligible machine (load 0)');
});

t.test('MachineID and MachineOf verdicts', async (t) => {
  const s = state([unit('db.service', { machineId: 'm2' }), unit('side.service', { machineOf: ['db.service'] })], machines('m1', 'm2'));
  t.same(verdicts(explain('db.service', s)), [['m1', false, 'MachineID=m2 does not match'], ['m2', true, 'eligible; scheduled here']]);
  t.same(verdicts(explain('side.service', s)), [['m1', false, 'MachineOf peer db.service is not on this machine'], ['m2', true, 'eligible; scheduled here']]);
});

t.test('Replaces verdicts', async (t) => {
  const s = state([unit('new.service', { replaces: ['old.service'] }), unit('old.service')], machines('m1', 'm2'), { 'new.service': 'm1' });
  t.same(verdicts(explain('old.service', s)), [['m1', false, 'would be replaced by new.service'], ['m2', true, 'eligible; scheduled here']]);
  t.same(verdicts(explain('new.service', s)), [['m1', true, 'eligible; scheduled here'], ['m2', true, 'eligible, taking it over from old.service']]);
});

t.test('an inactive unit: not scheduled, but the verdicts still say where it could go', async (t) => {
  const e = explain('a.service', state([unit('a.service', { metadata: { role: ['db'] } }, 'inactive')], [machine('m1', { role: 'db' }), machine('m2')]));
  t.equal(e.outcome, 'not scheduled: desired state is inactive');
  t.same(verdicts(e), [['m1', true, 'eligible'], ['m2', false, 'lacks MachineMetadata role=db (has no role)']]);
});

t.test('a unit held on a lost machine', async (t) => {
  const s = state([unit('a.service')], machines('m1'), { 'a.service': 'm9' }, { graceMs: 10_000, now: 1000, lostMachines: { m9: 0 } });
  const e = explain('a.service', s);
  t.equal(e.outcome, 'pending: machine m9 lost, moving in 9s');
  t.equal(e.machineId, 'm9');
});

t.test('a global unit: where it runs and why not elsewhere', async (t) => {
  const s = state(
    [unit('a-agent.service', { global: true }), unit('g.service', { global: true, conflicts: ['a-agent.service'] }),
      unit('h.service', { global: true, metadata: { role: ['edge'] } }), unit('x.service')],
    [machine('m1', { role: 'edge' }), machine('m2')],
    { 'x.service': 'm1' },
  );
  const e = explain('h.service', s);
  t.equal(e.outcome, 'global unit: runs on 1 of 2 machines');
  t.same(verdicts(e), [['m1', true, 'runs here'], ['m2', false, 'machine lacks MachineMetadata role=edge']]);
  t.same(e.machines.map((m) => m.load), [2, 1]);
  t.same(verdicts(explain('g.service', s)), [
    ['m1', false, 'conflicts with global unit a-agent.service, which sorts first'],
    ['m2', false, 'conflicts with global unit a-agent.service, which sorts first'],
  ]);
});

t.test('explaining an unknown unit is an actionable error', async (t) => {
  t.throws(() => explain('nope.service', state([], machines('m1'))), UnknownUnitError);
  t.throws(() => explain('nope.service', state([], machines('m1'))), /nope\.service/);
});
