/**
 * The agent's presence policy (fleetd/agent/presence.ts) as a table: each rule (rejoin hold, moved away, presence
 * lost, StopOnDisconnect fence and its timing, adoption) is a row giving the presence state, the time, what is
 * scheduled and what runs here, and the tasks the agent then runs (agentTasks of the decision). No etcd, no
 * systemd, no timers: the time comes from a manual clock.
 */
import t from 'tap';
import { ManualClock } from '../../lib/clock.js';
import {
  AT_RISK_SHARE, atRisk, atRiskCheckMs, joined, lost, presencePolicy, REGISTERED, type PolicyInput, type PresenceState,
} from '../../fleetd/agent/presence.js';
import { agentTasks, type AgentState, type CurrentUnit, type DesiredUnit } from '../../fleetd/agent/tasks.js';

const H1 = '1'.repeat(40);
const H2 = '2'.repeat(40);
const TTL_S = 30;
const SETTLE_MS = 5000;
/** Units whose contents say StopOnDisconnect=true. */
const SOD = new Set(['sod.service']);

function units<U>(list: Array<[string, AgentState, string?]>, make: (name: string, state: AgentState, hash: string) => U): Map<string, U> {
  return new Map(list.map(([name, state, hash]) => [name, make(name, state, hash ?? H1)]));
}
const desired = (...l: Array<[string, AgentState, string?]>): Map<string, DesiredUnit> => units(l, (name, state, hash) => ({ name, hash, state }));
const current = (...l: Array<[string, AgentState, string?]>): Map<string, CurrentUnit> => units(l, (name, state, hash) => ({ name, hash, state }));

interface Row {
  readonly rule: string;
  readonly presence: PresenceState;
  /** ms since the presence's last keep-alive */
  readonly silentMs?: number;
  /** ms after the clock's start */
  readonly at?: number;
  readonly desired: Map<string, DesiredUnit>;
  readonly current: Map<string, CurrentUnit>;
  readonly adopted?: readonly string[];
  /** tasks as `kind unit` */
  readonly tasks: readonly string[];
  readonly held?: readonly string[];
  readonly fenced?: readonly string[];
  readonly adopt?: readonly string[];
  readonly holdEndsAt?: number;
}

const T0 = 1_000_000;
const rejoinedAtT0 = (movedAway: readonly string[] = []): PresenceState => joined(T0, SETTLE_MS, new Set(movedAway));
const RISK_MS = TTL_S * 1000 * AT_RISK_SHARE;

const rows: Row[] = [
  {
    rule: 'registered, no hold: a unit no longer scheduled here is unloaded',
    presence: REGISTERED, desired: desired(['a.service', 'launched']), current: current(['a.service', 'launched'], ['old.service', 'launched']),
    tasks: ['unload old.service', 'reload'],
  },
  {
    rule: 'rejoin hold: a unit not scheduled here is kept until the hold ends',
    presence: rejoinedAtT0(), at: 0, desired: desired(), current: current(['old.service', 'launched']),
    tasks: [], held: ['old.service'], holdEndsAt: T0 + SETTLE_MS,
  },
  {
    rule: 'rejoin hold: scheduled units are acted on meanwhile',
    presence: rejoinedAtT0(), at: 100, desired: desired(['a.service', 'launched']), current: current(['a.service', 'loaded'], ['old.service', 'launched']),
    tasks: ['start a.service'], held: ['old.service'], holdEndsAt: T0 + SETTLE_MS,
  },
  {
    rule: 'rejoin hold, last ms: still held',
    presence: rejoinedAtT0(), at: SETTLE_MS - 1, desired: desired(), current: current(['old.service', 'launched']),
    tasks: [], held: ['old.service'], holdEndsAt: T0 + SETTLE_MS,
  },
  {
    rule: 'rejoin hold over: unloaded',
    presence: rejoinedAtT0(), at: SETTLE_MS, desired: desired(), current: current(['old.service', 'launched']),
    tasks: ['unload old.service', 'reload'],
  },
  {
    rule: 'moved away: a unit the engine placed elsewhere meanwhile is not held',
    presence: rejoinedAtT0(['moved.service']), at: 0, desired: desired(), current: current(['moved.service', 'launched'], ['old.service', 'launched']),
    tasks: ['unload moved.service', 'reload'], held: ['old.service'], holdEndsAt: T0 + SETTLE_MS,
  },
  {
    rule: 'presence lost: nothing is unloaded, moved away or not, and no hold end is set',
    presence: lost(rejoinedAtT0(['moved.service'])), at: SETTLE_MS * 10, silentMs: Infinity, desired: desired(['a.service', 'launched']),
    current: current(['a.service', 'launched'], ['moved.service', 'launched'], ['old.service', 'loaded']),
    tasks: [], held: ['moved.service', 'old.service'],
  },
  {
    rule: 'presence lost: StopOnDisconnect units are stopped (kept loaded), others keep running',
    presence: lost(REGISTERED), silentMs: Infinity, desired: desired(['sod.service', 'launched'], ['a.service', 'launched']),
    current: current(['sod.service', 'launched'], ['a.service', 'launched']),
    tasks: ['stop sod.service'], fenced: ['sod.service'],
  },
  {
    rule: 'presence lost: a StopOnDisconnect unit not running yet is loaded, not started',
    presence: lost(REGISTERED), silentMs: Infinity, desired: desired(['sod.service', 'launched']), current: current(),
    tasks: ['load sod.service', 'reload'],
  },
  {
    rule: `fence timing: keep-alives silent for exactly ${AT_RISK_SHARE} of the TTL: not yet`,
    presence: REGISTERED, silentMs: RISK_MS, desired: desired(['sod.service', 'launched']), current: current(['sod.service', 'launched']),
    tasks: [],
  },
  {
    rule: `fence timing: silent for more than ${AT_RISK_SHARE} of the TTL: stopped before the lease expires`,
    presence: REGISTERED, silentMs: RISK_MS + 1, desired: desired(['sod.service', 'launched']), current: current(['sod.service', 'launched']),
    tasks: ['stop sod.service'], fenced: ['sod.service'],
  },
  {
    rule: 'fence lifted: keep-alives succeed again, the StopOnDisconnect unit starts again',
    presence: REGISTERED, silentMs: 0, desired: desired(['sod.service', 'launched']), current: current(['sod.service', 'loaded']),
    tasks: ['start sod.service'],
  },
  {
    rule: 'adoption: a unit found running whose desired state is loaded is not stopped',
    presence: REGISTERED, desired: desired(['inst.service', 'loaded']), current: current(['inst.service', 'launched']), adopted: ['inst.service'],
    tasks: [], adopt: ['inst.service'],
  },
  {
    rule: 'no adoption after the first reconcile: the same unit is stopped',
    presence: REGISTERED, desired: desired(['inst.service', 'loaded']), current: current(['inst.service', 'launched']),
    tasks: ['stop inst.service'],
  },
  {
    rule: 'no adoption of other contents: replaced',
    presence: REGISTERED, desired: desired(['inst.service', 'loaded', H2]), current: current(['inst.service', 'launched']), adopted: ['inst.service'],
    tasks: ['unload inst.service', 'load inst.service', 'reload'],
  },
  {
    rule: 'adoption of a StopOnDisconnect unit fenced to loaded: kept running (adoption never stops a unit)',
    presence: lost(REGISTERED), silentMs: Infinity, desired: desired(['sod.service', 'launched']), current: current(['sod.service', 'launched']),
    adopted: ['sod.service'], tasks: [], fenced: ['sod.service'], adopt: ['sod.service'],
  },
];

t.test('presence policy table', async (t) => {
  for (const row of rows) {
    const clock = new ManualClock(T0);
    await clock.advance(row.at ?? 0);
    const input: PolicyInput = {
      presence: row.presence,
      live: { silentMs: row.silentMs ?? 0, ttlSeconds: TTL_S },
      now: clock.now(),
      desired: row.desired,
      current: row.current,
      adopted: new Set(row.adopted ?? []),
      stopOnDisconnect: (name) => SOD.has(name),
    };
    const d = presencePolicy(input);
    const tasks = agentTasks(d.desired, d.actOn).map((x) => (x.unit ? `${x.kind} ${x.unit}` : x.kind));
    t.same(tasks, row.tasks, `${row.rule}: tasks`);
    t.same([...d.held].sort(), row.held ?? [], `${row.rule}: held`);
    t.same(d.fenced, row.fenced ?? [], `${row.rule}: fenced`);
    t.same(d.adopt, row.adopt ?? [], `${row.rule}: adopted`);
    t.equal(d.holdEndsAt, row.holdEndsAt, `${row.rule}: hold end`);
    t.same(input.desired, row.desired, `${row.rule}: the input is not changed`);
  }
});

t.test('presence transitions and the at-risk check period', async (t) => {
  const clock = new ManualClock(T0);
  const p = joined(clock.now(), SETTLE_MS, new Set(['m.service']));
  t.same(p, { down: false, holdUntil: T0 + SETTLE_MS, movedAway: new Set(['m.service']) });
  const gone = lost(p);
  t.ok(gone.down);
  t.equal(gone.holdUntil, p.holdUntil, 'losing the presence keeps the hold');
  t.notOk(p.down, 'states are replaced, not changed');
  t.ok(atRisk(gone, { silentMs: 0, ttlSeconds: TTL_S }), 'unregistered: at risk whatever the keep-alives');
  t.notOk(atRisk(REGISTERED, { silentMs: 22_500, ttlSeconds: 30 }));
  t.ok(atRisk(REGISTERED, { silentMs: 22_501, ttlSeconds: 30 }));
  t.equal(atRiskCheckMs(30), 3000, 'a tenth of the TTL');
  t.equal(atRiskCheckMs(1), 100, 'at least 100 ms');
});
