import t from 'tap';
import { Term } from '../../fleetd/engine/term.js';
import type { JobRecord, MachineRecord } from '../../lib/registry/index.js';
import { NO_REQUIREMENTS } from '../../lib/unit/index.js';
import { plan } from '../../lib/schedule/index.js';
import { ManualClock } from '../../lib/clock.js';
import { ReconcileLoop } from '../../lib/reconcile.js';

const fence = { key: '/p/engine/leader', createRevision: '7' };
const machine = (id: string): MachineRecord => ({ id, publicIP: '', metadata: {}, version: 'x', disableEngine: false });
const job = (name: string, machineId: string): JobRecord => ({ name, hash: 'a'.repeat(40), global: false, desiredState: 'launched', machineId });

function termWith(settleMs: number, startedAt: number): Term {
  const clock = new ManualClock(startedAt);
  const term = new Term(fence, settleMs, startedAt, () => new ReconcileLoop({ clock, pass: async () => undefined, intervalMs: 1000, backoff: { firstMs: 100, factor: 2, maxMs: 1000 } }));
  term.noteJobs(new Map([['u.service', job('u.service', 'gone')]]), new Set());
  term.noteMachines(new Map([['live', machine('live')]]));
  term.rebuilt('u.service', { hash: 'a'.repeat(40), unit: { name: 'u.service', hash: 'a'.repeat(40), desiredState: 'launched', requirements: NO_REQUIREMENTS } });
  return term;
}

t.test('a machine missing at the start of a term keeps its units until the settle time ends', async (t) => {
  const start = 1_000_000;
  const term = termWith(5000, start);
  const early = (await term.clusterState(start + 100, 0)).state;
  t.same(plan(early).ops, [], 'no move while machines may still be re-registering');
  t.match(plan(early).pending[0]?.reason ?? '', /lost, moving in 5s/);
  const later = termWith(5000, start);
  t.match(plan((await later.clusterState(start + 5001, 0)).state).ops, [{ kind: 'move', unit: 'u.service', to: 'live' }], 'moved after the settle time');
});

t.test('without a settle time a missing machine loses its units at once (fleet behaviour)', async (t) => {
  const term = termWith(0, 1_000_000);
  t.match(plan((await term.clusterState(1_000_100, 0)).state).ops, [{ kind: 'move', unit: 'u.service', to: 'live' }]);
});

t.test('machine_lost_grace still applies on top of a settled term', async (t) => {
  const term = termWith(5000, 1_000_000);
  const s = (await term.clusterState(1_000_000 + 60_000, 10_000)).state;
  t.same(plan(s).ops, [], 'lost 60 s into the term: the grace of 10 s runs from then');
});
