import t from 'tap';
import { plan, type SchedUnit } from '../../lib/schedule/index.js';
import { brief, machine, settle, state, unit, violations } from './helpers.js';

const ROLES = ['web', 'db', 'cache'];
const ms = Array.from({ length: 200 }, (_, i) =>
  machine(`${(0x10000000 + i * 7919).toString(16)}${'0'.repeat(24)}`, { role: ROLES[i % 3]!, region: i % 2 ? 'eu' : 'us' }));

const us: SchedUnit[] = [];
for (let i = 0; i < 1900; i++) us.push(unit(`app-${i}.service`));
for (let i = 0; i < 300; i++) us.push(unit(`db-${i}.service`, { metadata: { role: ['db'], region: i % 2 ? ['eu'] : ['eu', 'us'] } }));
for (let i = 0; i < 250; i++) us.push(unit(`web@${i}.service`, { conflicts: ['web@*.service'] }));
for (let i = 0; i < 300; i++) us.push(unit(`side-${i}.service`, { machineOf: [`app-${i * 3}.service`] }));
for (let i = 0; i < 60; i++) us.push(unit(`pin-${i}.service`, { machineId: ms[(i * 13) % ms.length]!.id.slice(0, 8) }));
for (let i = 0; i < 40; i++) us.push(unit(`v2-app-${i}.service`, { replaces: [`app-${i}.service`] }));
for (let i = 0; i < 145; i++) us.push(unit(`off-${i}.service`, {}, 'inactive'));
for (let i = 0; i < 5; i++) us.push(unit(`agent-${i}.service`, { global: true, metadata: i < 2 ? {} : { role: [ROLES[i % 3]!] } }));

t.test(`${ms.length} machines x ${us.length} units`, async (t) => {
  // Everything but the replacements first, so that they have something to replace.
  const initial = settle(state(us.filter((u) => !u.name.startsWith('v2-')), ms));
  t.same(violations(initial.next, initial.schedule, initial.plan), []);
  const webByName = Array.from({ length: 250 }, (_, i) => `web@${i}.service`).sort();
  t.same(initial.plan.pending.map((p) => p.unit), webByName.slice(200), 'only the web@ units beyond one per machine are pending');
  t.ok(initial.plan.pending.every((p) => p.reason === 'conflicts with web@0.service, web@1.service, web@10.service and 197 more on every eligible machine'));
  t.equal(Object.keys(initial.schedule).length, 1900 + 300 + 200 + 300 + 60);
  t.same(plan(initial.next).ops, [], 'idempotent');

  const plain = settle(state(us.filter((u) => u.name.startsWith('app-')), ms));
  const loads = new Map(ms.map((m) => [m.id, 0]));
  for (const m of Object.values(plain.schedule)) loads.set(m, loads.get(m)! + 1);
  t.equal(Math.max(...loads.values()) - Math.min(...loads.values()), 1, 'unconstrained units spread evenly');

  const withV2 = settle({ ...initial.next, units: us });
  t.same(violations(withV2.next, withV2.schedule, withV2.plan), []);
  for (let i = 0; i < 40; i++) {
    t.equal(withV2.schedule[`v2-app-${i}.service`], initial.schedule[`app-${i}.service`], `v2-app-${i} took its machine`);
  }
  t.equal(withV2.plan.ops.filter((o) => o.kind === 'move').length, 40 + 14, 'each replaced unit (and its MachineOf follower) moved once');
  t.same(plan(withV2.next).ops, []);

  const dead = new Set(ms.slice(50, 60).map((m) => m.id));
  const shrunk = settle({ ...withV2.next, machines: ms.filter((m) => !dead.has(m.id)) });
  t.same(violations(shrunk.next, shrunk.schedule, shrunk.plan), []);
  const changed = Object.keys(withV2.schedule).filter((u) => shrunk.schedule[u] !== withV2.schedule[u]);
  t.ok(changed.every((u) => dead.has(withV2.schedule[u]!)), 'only units of the dead machines moved');
  t.ok(changed.length > 100);
  t.same(brief(plan(shrunk.next).ops), []);

  const grown = plan({ ...shrunk.next, machines: [...ms.filter((m) => !dead.has(m.id)), machine('f'.repeat(32), { role: 'web' })] });
  t.ok(grown.ops.every((o) => o.kind === 'place'), 'a joining machine moves nothing');
  const firstPendingWeb = shrunk.plan.pending.map((p) => p.unit).filter((u) => u.startsWith('web@'))[0];
  t.same(grown.ops.map((o) => o.unit), [firstPendingWeb], 'it takes the first pending web@ unit');
});
