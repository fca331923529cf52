/**
 * The scheduler honours an agent's refusal (SchedUnit.refusedBy, from fleetd/agent/host-units.ts via the registry):
 * a refused unit goes to another machine, leaves the machine that refused it, or stays pending with the reason;
 * a plan on the resulting state is empty (no reschedule loop).
 */
import t from 'tap';
import { plan, type ClusterState, type SchedUnit } from '../../lib/schedule/index.js';
import { NO_REQUIREMENTS } from '../../lib/unit/index.js';

const M1 = 'aaaa';
const M2 = 'bbbb';
const machines = [{ id: M1, metadata: {} }, { id: M2, metadata: {} }];
const unit = (refusedBy?: Record<string, string>, machineId?: string): SchedUnit => ({
  name: 'apt-daily.service',
  hash: 'a'.repeat(40),
  desiredState: 'launched',
  requirements: machineId === undefined ? NO_REQUIREMENTS : { ...NO_REQUIREMENTS, machineId },
  ...(refusedBy ? { refusedBy } : {}),
});

/** Applies a plan's ops to the schedule. */
function apply(state: ClusterState): ClusterState {
  const schedule = { ...state.schedule };
  for (const op of plan(state).ops) {
    if (op.kind === 'place') schedule[op.unit] = op.machineId;
    else if (op.kind === 'move') schedule[op.unit] = op.to;
    else delete schedule[op.unit];
  }
  return { ...state, schedule };
}

t.test('a new unit refused by one machine goes to the other', async (t) => {
  for (const [refuser, other] of [[M1, M2], [M2, M1]] as const) {
    const p = plan({ units: [unit({ [refuser]: 'exists on host' })], machines, schedule: {} });
    t.same(p.ops.map((o) => [o.kind, o.kind === 'place' ? o.machineId : '']), [['place', other]]);
  }
});

t.test('a placed unit leaves the machine that refused it, and stays away', async (t) => {
  const s0: ClusterState = { units: [unit({ [M1]: 'apt-daily.service is already a unit of this machine' })], machines, schedule: { 'apt-daily.service': M1 } };
  const p = plan(s0);
  t.equal(p.ops.length, 1);
  t.match(p.ops[0], { kind: 'move', from: M1, to: M2, reason: /refused it: apt-daily\.service is already a unit/ });
  const s1 = apply(s0);
  t.same(plan(s1).ops, [], 'no further op: no loop');
});

t.test('refused everywhere: unscheduled and pending with the reason; no loop', async (t) => {
  const s0: ClusterState = { units: [unit({ [M1]: 'x', [M2]: 'y' })], machines, schedule: { 'apt-daily.service': M2 } };
  const p = plan(s0);
  t.match(p.ops, [{ kind: 'unschedule', from: M2 }]);
  t.match(p.pending, [{ unit: 'apt-daily.service', reason: /refused by the agent of machine/ }]);
  const s1 = apply(s0);
  t.same(plan(s1).ops, []);
  t.match(plan(s1).pending, [{ reason: /refused by the agent of machine/ }]);
});

t.test('MachineID pinned to the refusing machine: pending with the agent\'s reason', async (t) => {
  const p = plan({ units: [unit({ [M1]: 'dbus.service is reserved' }, M1)], machines, schedule: {} });
  t.same(p.ops, []);
  t.match(p.pending, [{ reason: /refused it: dbus\.service is reserved/ }]);
});
