/**
 * Each scheduling constraint alone (lib/schedule/checkers.ts and globalRefusal in global.ts): one table per
 * checker, each row a small cluster, the unit asked about, and the misfit expected (undefined: allowed). Pure:
 * no root, no etcd. To add a constraint, add its checker to CHECKERS and a table here.
 */
import t, { type Test } from 'tap';
import {
  CHECKERS,
  conflicts,
  evictionKey,
  failed,
  firstMisfit,
  machineId,
  machineOf,
  metadata,
  refused,
  replacedBy,
  replaces,
  type CheckState,
  type Checker,
} from '../../lib/schedule/checkers.js';
import { Cluster } from '../../lib/schedule/cluster.js';
import { globalRefusal } from '../../lib/schedule/global.js';
import { ReplaceGraph } from '../../lib/schedule/replace-graph.js';
import type { SchedMachine, SchedUnit } from '../../lib/schedule/types.js';
import { machine, unit } from './helpers.js';

const M1 = 'aaaaaaaa1111111111111111111111111';
const M2 = 'bbbbbbbb2222222222222222222222222';

interface Row {
  readonly name: string;
  /** The unit asked about; it is never placed itself. */
  readonly unit: SchedUnit;
  /** Other units, and where they are: a machine id, or a list of machines for a global unit. */
  readonly placed?: readonly (readonly [SchedUnit, string | readonly string[]])[];
  readonly machines?: readonly SchedMachine[];
  /** Machine asked about; default M1. */
  readonly on?: string;
  /** [replacer, victim] takeovers already made in this plan. */
  readonly evicted?: readonly (readonly [string, string])[];
  readonly want: { readonly kind: string; readonly names: readonly string[]; readonly why: string } | undefined;
}

/** A cluster with the row's units placed, and the state the checkers read. */
function world(row: Row, reasons: boolean): { state: CheckState; cluster: Cluster } {
  const ms = row.machines ?? [machine(M1), machine(M2)];
  const all = [row.unit, ...(row.placed ?? []).map(([u]) => u)];
  const nonGlobal = new Map(all.filter((u) => !u.requirements.global).map((u) => [u.name, u]));
  const cluster = new Cluster(ms, new ReplaceGraph(nonGlobal), all.map((u) => u.name).sort());
  for (const [u, at] of row.placed ?? []) {
    if (typeof at === 'string') cluster.add(u, at);
    else for (const m of at) cluster.addGlobal(u, m);
  }
  const evicted = new Set((row.evicted ?? []).map(([r, v]) => evictionKey(r, v)));
  return { state: { cluster, evicted, conflicts: undefined, reasons }, cluster };
}

function table(t: Test, checker: Checker, rows: readonly Row[]): void {
  for (const row of rows) {
    const { state, cluster } = world(row, true);
    const slot = cluster.slot(row.on ?? M1)!;
    const got = checker(row.unit, slot, state);
    t.same(got === undefined ? undefined : { kind: got.kind, names: got.names, why: got.why }, row.want, row.name);
    // Without reasons: the same verdict, kind and names, and no reason string.
    const quiet = world(row, false);
    const q = checker(row.unit, quiet.cluster.slot(row.on ?? M1)!, quiet.state);
    t.same(q === undefined ? undefined : { kind: q.kind, names: q.names, why: q.why }, row.want && { ...row.want, why: '' }, `${row.name} (no reasons)`);
  }
}

t.test('refused: the agent of the machine refused the unit', async (t) => {
  table(t, refused, [
    { name: 'no refusal', unit: unit('a.service'), want: undefined },
    { name: 'refused elsewhere', unit: { ...unit('a.service'), refusedBy: { [M2]: 'bad name' } }, want: undefined },
    {
      name: 'refused here',
      unit: { ...unit('a.service'), refusedBy: { [M1]: 'bad name' } },
      want: { kind: 'refused', names: [M1], why: 'its agent refused it: bad name' },
    },
  ]);
});

t.test('failed: Reschedule=on-failure keeps the unit off machines where these contents failed', async (t) => {
  const resched = { reschedule: { attempts: 3, delaySec: 10 } };
  table(t, failed, [
    { name: 'no failure', unit: unit('a.service', resched), want: undefined },
    { name: 'failed elsewhere', unit: { ...unit('a.service', resched), failedOn: { [M2]: 1000 } }, want: undefined },
    {
      name: 'failed here',
      unit: { ...unit('a.service', resched), failedOn: { [M1]: 1000, [M2]: 2000 } },
      want: { kind: 'failed', names: [M1], why: 'it failed on this machine (Reschedule=on-failure)' },
    },
    { name: 'failed here, but the unit did not opt in', unit: { ...unit('a.service'), failedOn: { [M1]: 1000 } }, want: undefined },
  ]);
});

t.test('machineId: the full id or its 8-character prefix', async (t) => {
  table(t, machineId, [
    { name: 'no MachineID', unit: unit('a.service'), want: undefined },
    { name: 'full id', unit: unit('a.service', { machineId: M1 }), want: undefined },
    { name: 'short id', unit: unit('a.service', { machineId: 'aaaaaaaa' }), want: undefined },
    {
      name: 'other prefix length does not match',
      unit: unit('a.service', { machineId: 'aaaa' }),
      want: { kind: 'machineId', names: [], why: 'MachineID=aaaa does not match' },
    },
    {
      name: 'another machine',
      unit: unit('a.service', { machineId: 'bbbbbbbb' }),
      want: { kind: 'machineId', names: [], why: 'MachineID=bbbbbbbb does not match' },
    },
  ]);
});

t.test('metadata: every key with values, one value of each', async (t) => {
  const machines = [machine(M1, { role: 'web', region: 'eu' }), machine(M2)];
  table(t, metadata, [
    { name: 'no requirement', unit: unit('a.service'), machines, want: undefined },
    { name: 'a key with no values is no requirement', unit: unit('a.service', { metadata: { role: [] } }), machines, want: undefined },
    { name: 'one of the values', unit: unit('a.service', { metadata: { role: ['db', 'web'] } }), machines, want: undefined },
    {
      name: 'wrong value',
      unit: unit('a.service', { metadata: { role: ['db'], region: ['eu'] } }),
      machines,
      want: { kind: 'metadata', names: [], why: 'lacks MachineMetadata role=db (has role=web)' },
    },
    {
      name: 'missing key',
      unit: unit('a.service', { metadata: { disk: ['ssd'] } }),
      machines,
      want: { kind: 'metadata', names: [], why: 'lacks MachineMetadata disk=ssd (has no disk)' },
    },
  ]);
});

t.test('machineOf: every peer on this machine', async (t) => {
  const p = unit('p.service');
  const g = unit('g.service', { global: true });
  table(t, machineOf, [
    { name: 'peer here', unit: unit('a.service', { machineOf: ['p.service'] }), placed: [[p, M1]], want: undefined },
    {
      name: 'peer elsewhere',
      unit: unit('a.service', { machineOf: ['p.service'] }),
      placed: [[p, M2]],
      want: { kind: 'peer', names: ['p.service'], why: 'MachineOf peer p.service is not on this machine' },
    },
    {
      name: 'peer nowhere',
      unit: unit('a.service', { machineOf: ['p.service'] }),
      want: { kind: 'peer', names: ['p.service'], why: 'MachineOf peer p.service is not on this machine' },
    },
    { name: 'global peer running here', unit: unit('a.service', { machineOf: ['g.service'] }), placed: [[g, [M1, M2]]], want: undefined },
    {
      name: 'global peer not running here',
      unit: unit('a.service', { machineOf: ['g.service'] }),
      placed: [[g, [M2]]],
      want: { kind: 'peer', names: ['g.service'], why: 'MachineOf peer g.service is not on this machine' },
    },
  ]);
});

t.test('replaces: no second takeover of the same unit in one plan', async (t) => {
  const old = unit('old.service');
  const v2 = unit('v2.service', { replaces: ['old.service'] });
  table(t, replaces, [
    { name: 'replaces nothing', unit: unit('a.service'), placed: [[old, M1]], want: undefined },
    { name: 'victim here, first takeover', unit: v2, placed: [[old, M1]], want: undefined },
    { name: 'displaced elsewhere before', unit: v2, placed: [[old, M2]], evicted: [['v2.service', 'old.service']], want: undefined },
    {
      name: 'displaced once already',
      unit: v2,
      placed: [[old, M1]],
      evicted: [['v2.service', 'old.service']],
      want: { kind: 'protected', names: ['old.service'], why: 'runs old.service, which it already displaced once in this plan' },
    },
  ]);
});

t.test('conflicts: both ways, sparing the units it replaces', async (t) => {
  const b = unit('b.service');
  table(t, conflicts, [
    { name: 'nothing here', unit: unit('a.service', { conflicts: ['b.service'] }), placed: [[b, M2]], want: undefined },
    {
      name: 'its glob names a unit here',
      unit: unit('a.service', { conflicts: ['b.*'] }),
      placed: [[b, M1]],
      want: { kind: 'conflict', names: ['b.service'], why: 'conflicts with b.service' },
    },
    {
      name: 'a unit here names it',
      unit: unit('a.service'),
      placed: [[unit('c.service', { conflicts: ['a.service'] }), M1]],
      want: { kind: 'conflict', names: ['c.service'], why: 'conflicts with c.service' },
    },
    {
      name: 'a global unit running here counts',
      unit: unit('a.service', { conflicts: ['g.service'] }),
      placed: [[unit('g.service', { global: true }), [M1]]],
      want: { kind: 'conflict', names: ['g.service'], why: 'conflicts with g.service' },
    },
    { name: 'never with itself', unit: unit('web@1.service', { conflicts: ['web@*.service'] }), want: undefined },
    {
      name: 'a unit it replaces is spared',
      unit: unit('a.service', { conflicts: ['b.service'], replaces: ['b.service'] }),
      placed: [[b, M1]],
      want: undefined,
    },
  ]);
});

t.test('replacedBy: a unit here replaces it', async (t) => {
  table(t, replacedBy, [
    { name: 'no replacer', unit: unit('old.service'), want: undefined },
    { name: 'replacer elsewhere', unit: unit('old.service'), placed: [[unit('v2.service', { replaces: ['old.*'] }), M2]], want: undefined },
    {
      name: 'replacer here',
      unit: unit('old.service'),
      placed: [[unit('v2.service', { replaces: ['old.*'] }), M1]],
      want: { kind: 'replacedBy', names: ['v2.service'], why: 'would be replaced by v2.service' },
    },
  ]);
});

t.test('firstMisfit asks the checkers in order: the first misfit gives the reason', async (t) => {
  t.same(CHECKERS, [refused, failed, machineId, metadata, machineOf, replaces, conflicts, replacedBy]);
  const row: Row = {
    name: 'refused, wrong id, conflicting',
    unit: { ...unit('a.service', { machineId: 'bbbbbbbb', conflicts: ['b.service'] }), refusedBy: { [M1]: 'no' } },
    placed: [[unit('b.service'), M1]],
    want: undefined,
  };
  const { state, cluster } = world(row, true);
  t.equal(firstMisfit(row.unit, cluster.slot(M1)!, state)?.kind, 'refused');
  t.equal(firstMisfit({ ...row.unit, refusedBy: {} }, cluster.slot(M1)!, state)?.kind, 'machineId');
  t.equal(firstMisfit(unit('a.service', { conflicts: ['b.service'] }), cluster.slot(M1)!, state)?.kind, 'conflict');
  t.equal(firstMisfit(unit('a.service'), cluster.slot(M1)!, state), undefined);
});

t.test('globalRefusal: where the agent runs a global unit', async (t) => {
  const m = machine(M1, { role: 'web' });
  const rows: [string, SchedUnit, SchedUnit[], SchedUnit[], string | undefined][] = [
    ['runs', unit('g.service', { global: true }), [unit('a.service')], [], undefined],
    [
      'metadata',
      unit('g.service', { global: true, metadata: { role: ['db'] } }),
      [],
      [],
      'machine lacks MachineMetadata role=db',
    ],
    [
      'a unit scheduled here conflicts',
      unit('g.service', { global: true }),
      [unit('a.service', { conflicts: ['g.*'] })],
      [],
      'conflicts with a.service scheduled on this machine',
    ],
    [
      'a global unit accepted first conflicts',
      unit('g.service', { global: true, conflicts: ['f.service'] }),
      [],
      [unit('f.service', { global: true })],
      'conflicts with global unit f.service, which sorts first',
    ],
  ];
  for (const [name, g, others, accepted, want] of rows) t.equal(globalRefusal(g, m, { others, accepted }), want, name);
});
