/**
 * A registry in memory, beside the real one (registry.ts) as a fake, as fleet keeps registry/fake.go: it
 * implements the calls the agent makes (fleetd/agent/ports.ts, AgentRegistry) so the real Agent can be tested
 * without etcd (test/agent/agent.test.ts). The test plays the engine: it schedules units to machines, places
 * jobs, and reads the unit states agents published. Watches deliver whole snapshots, after the change, as the
 * real watches do; `unreachable` makes every call fail as with etcd gone.
 */
import { unitHash } from '../unit/hash.js';
import { parseUnitFile } from '../unit/parse.js';
import { compareStrings } from '../compare.js';
import {
  EtcdRequestError, FencedError, InvalidKeyError, PresenceLostError, UnitNotFoundError, UnitNotGlobalError, UnitTextNotFoundError,
} from './errors.js';
import { checkFence, checkHash, checkMachineId, checkUnitName } from './keys.js';
import type { RestartRequest } from './restart.js';
import type {
  ChangeListener, Fence, GlobalUnitEntry, ScheduledState, ScheduleEntry, UnitFailure, UnitRefusal, UnitState, WatchHandle, WatchInfo,
} from './types.js';

/** What a lease-bound write is made through (MachinePresence, or a test's stand-in). */
export interface FakePresence {
  readonly machineId: string;
  readonly alive: boolean;
}

export interface FakeRegistryStats {
  /** unit states written (publishUnitState, or one each of publishUnitStates) */
  publishes: number;
  /** calls that wrote unit states: each stands for one etcd request */
  publishRequests: number;
  deletes: number;
  refusals: number;
  failures: number;
  /** unit texts asked for */
  textReads: number;
  /** calls that read unit texts: each stands for one etcd request (Registry chunks at MAX_OPS_PER_TXN hashes) */
  textRequests: number;
}

interface FakeWatch {
  /** calls the listener with the current snapshot */
  readonly deliver: (reason: WatchInfo['reason']) => void | Promise<void>;
  closed: boolean;
}

export class FakeRegistry {
  /** etcd is gone: every call rejects with an EtcdRequestError */
  unreachable = false;
  /** The engine leader's fence as it holds now: a fenced write with another one fails (FencedError). */
  leaderFence: Fence | undefined;
  readonly stats: FakeRegistryStats = { publishes: 0, publishRequests: 0, deletes: 0, refusals: 0, failures: 0, textReads: 0, textRequests: 0 };
  private revision = 1;
  private readonly texts = new Map<string, string>();
  /** unit name -> machine its job is placed on */
  private readonly targets = new Map<string, string>();
  /** machine -> its schedule */
  private readonly schedules = new Map<string, Map<string, ScheduleEntry>>();
  private readonly globals = new Map<string, GlobalUnitEntry>();
  private readonly restarts = new Map<string, RestartRequest>();
  /** global unit -> machine -> the hash that machine runs instead (setGlobalMachineHash) */
  private readonly machineHashes = new Map<string, Map<string, string>>();
  /** `machine/unit` -> published state */
  private readonly states = new Map<string, UnitState>();
  private readonly refused = new Map<string, UnitRefusal>();
  /** `machine/unit` -> recorded failure (not lease-bound, as in etcd) */
  private readonly failed = new Map<string, UnitFailure>();
  private readonly watches = new Set<FakeWatch>();

  // ---- the test's side (the engine and fleetctl) ----

  /** Stores a unit's contents; returns their hash, as fleetctl submit would. */
  addUnitText(name: string, text: string): string {
    const hash = unitHash(parseUnitFile(text, name));
    this.texts.set(hash, text);
    return hash;
  }

  /** Places the unit's job on `machineId` and writes the schedule entry there (moving it off any other machine). */
  schedule(machineId: string, name: string, hash: string, desiredState: ScheduledState): void {
    for (const [m, s] of this.schedules) if (m !== machineId) s.delete(name);
    this.targets.set(name, machineId);
    this.scheduleOf(machineId).set(name, { name, hash, desiredState });
    this.changed();
  }

  /** Takes the unit off every machine's schedule; with `placedOn`, its job now targets that machine. */
  unschedule(name: string, placedOn?: string): void {
    for (const s of this.schedules.values()) s.delete(name);
    if (placedOn === undefined) this.targets.delete(name);
    else this.targets.set(name, placedOn);
    this.changed();
  }

  /** Submits a global unit (its per-machine overrides stay), or removes it (destroy, no longer global: they go). */
  setGlobal(entry: GlobalUnitEntry | { name: string; remove: true }): void {
    if ('remove' in entry) {
      this.globals.delete(entry.name);
      this.machineHashes.delete(entry.name);
    } else {
      this.globals.set(entry.name, entry);
    }
    this.changed();
  }

  /**
   * As Registry.setGlobalMachineHash. A unit is global while setGlobal holds an entry for it; it exists (not global)
   * while a machine's schedule or a target names it. A fenced write needs `fence` to equal leaderFence.
   */
  async setGlobalMachineHash(name: string, machineId: string, hash: string | null, fence?: Fence): Promise<void> {
    checkUnitName(name);
    checkMachineId(machineId);
    if (hash !== null) checkHash(hash);
    if (fence !== undefined) checkFence(fence);
    this.reach(`setting the hash of ${name} on ${machineId}`);
    if (fence !== undefined && (fence.key !== this.leaderFence?.key || fence.createRevision !== this.leaderFence.createRevision)) {
      throw new FencedError(fence.key, fence.createRevision, fence.key === this.leaderFence?.key ? this.leaderFence.createRevision : undefined);
    }
    if (hash === null) {
      if (this.machineHashes.get(name)?.delete(machineId)) this.changed();
      return;
    }
    if (!this.texts.has(hash)) throw new UnitTextNotFoundError(hash);
    if (!this.globals.has(name)) {
      const exists = this.targets.has(name) || [...this.schedules.values()].some((s) => s.has(name));
      throw exists ? new UnitNotGlobalError(name) : new UnitNotFoundError(name);
    }
    let m = this.machineHashes.get(name);
    if (!m) this.machineHashes.set(name, (m = new Map()));
    m.set(machineId, hash);
    this.changed();
  }

  /** The state a machine published for a unit, if any. */
  unitState(machineId: string, name: string): UnitState | undefined {
    return this.states.get(`${machineId}/${name}`);
  }

  /** Every published state of a machine, by unit name. */
  unitStates(machineId: string): Map<string, UnitState> {
    const out = new Map<string, UnitState>();
    for (const s of this.states.values()) if (s.machineId === machineId) out.set(s.name, s);
    return out;
  }

  /** The machine's lease expired: its unit states and refusals go with it. */
  expireMachine(machineId: string): void {
    for (const [k, s] of this.states) if (s.machineId === machineId) this.states.delete(k);
    for (const k of [...this.refused.keys()]) if (k.startsWith(`${machineId}/`)) this.refused.delete(k);
  }

  /** The failure the machine's agent recorded for the unit, if any. */
  failure(machineId: string, name: string): UnitFailure | undefined {
    return this.failed.get(`${machineId}/${name}`);
  }

  refusal(machineId: string, name: string): UnitRefusal | undefined {
    return this.refused.get(`${machineId}/${name}`);
  }

  // ---- the agent's side (fleetd/agent/ports.ts) ----

  async watchSchedule(machineId: string, onChange: ChangeListener<ScheduleEntry>): Promise<WatchHandle> {
    return this.watch(onChange, () => this.scheduleOf(machineId));
  }

  async watchGlobalUnits(onChange: ChangeListener<GlobalUnitEntry>): Promise<WatchHandle> {
    return this.watch(onChange, () => this.globalEntries());
  }

  async getTarget(name: string): Promise<string | undefined> {
    this.reach(`reading where unit ${name} is scheduled`);
    return this.targets.get(name);
  }

  async getUnitText(hash: string): Promise<string | undefined> {
    this.reach(`reading unit text ${hash}`);
    this.stats.textReads++;
    this.stats.textRequests++;
    return this.texts.get(hash);
  }

  async getUnitTexts(hashes: Iterable<string>): Promise<Map<string, string>> {
    const wanted = new Set<string>();
    for (const h of hashes) wanted.add(checkHash(h));
    this.reach(`reading ${wanted.size} unit texts`);
    const out = new Map<string, string>();
    for (const h of wanted) {
      const text = this.texts.get(h);
      if (text !== undefined) out.set(h, text);
    }
    this.stats.textReads += wanted.size;
    this.stats.textRequests++;
    return out;
  }

  async publishUnitState(presence: FakePresence, state: UnitState): Promise<void> {
    this.leased(presence, `publishing the state of ${state.name}`);
    this.storeStates(presence, [state]);
  }

  async publishUnitStates(presence: FakePresence, states: readonly UnitState[]): Promise<void> {
    this.leased(presence, `publishing the states of ${states.length} units`);
    this.storeStates(presence, states);
  }

  /** One write request of `states`, all of this machine. */
  private storeStates(presence: FakePresence, states: readonly UnitState[]): void {
    for (const state of states) {
      if (state.machineId !== presence.machineId) {
        throw new InvalidKeyError(`unit state of ${state.name} names machine ${state.machineId}, but this is ${presence.machineId}`);
      }
    }
    this.stats.publishes += states.length;
    this.stats.publishRequests++;
    for (const state of states) this.states.set(`${state.machineId}/${state.name}`, state);
  }

  async deleteUnitState(presence: FakePresence, name: string): Promise<void> {
    this.leased(presence, `deleting the state of ${name}`);
    this.stats.deletes++;
    this.states.delete(`${presence.machineId}/${name}`);
  }

  async refuseUnit(presence: FakePresence, refusal: UnitRefusal): Promise<void> {
    this.leased(presence, `recording the refusal of ${refusal.name}`);
    this.stats.refusals++;
    this.refused.set(`${presence.machineId}/${refusal.name}`, refusal);
  }

  async recordFailure(presence: FakePresence, failure: UnitFailure): Promise<boolean> {
    this.leased(presence, `recording the failure of ${failure.name}`);
    this.stats.failures++;
    this.failed.set(`${presence.machineId}/${failure.name}`, failure);
    return true;
  }

  /** A rolling-restart outcome the machine's agent settled, by `<machineId>/<unit>`. */
  restartOutcome(machineId: string, name: string): RestartRequest | undefined {
    return this.restarts.get(`${machineId}/${name}`);
  }

  /** As Registry.settleRestart: settles only the pending token, which then leaves the global entry. */
  async settleRestart(name: string, machineId: string, token: string, outcome: { ok: true } | { ok: false; message: string }): Promise<void> {
    this.reach(`settling the restart request of ${name} on ${machineId}`);
    const g = this.globals.get(name);
    if (g?.restartRequests?.[machineId] !== token) return;
    this.restarts.set(`${machineId}/${name}`, outcome.ok ? { token, status: 'done' } : { token, status: 'failed', message: outcome.message });
    const { [machineId]: _settled, ...rest } = g.restartRequests;
    const { restartRequests: _all, ...entry } = g;
    this.globals.set(name, Object.keys(rest).length > 0 ? { ...entry, restartRequests: rest } : entry);
    this.changed();
  }

  // ---- internals ----

  /** The global entries as the registry's projection builds them: with their per-machine overrides. */
  private globalEntries(): Map<string, GlobalUnitEntry> {
    const out = new Map<string, GlobalUnitEntry>();
    for (const [name, g] of this.globals) {
      const m = this.machineHashes.get(name);
      out.set(name, m && m.size > 0 ? { ...g, machineHashes: Object.fromEntries([...m].sort(([a], [b]) => compareStrings(a, b))) } : g);
    }
    return out;
  }

  private scheduleOf(machineId: string): Map<string, ScheduleEntry> {
    let s = this.schedules.get(machineId);
    if (!s) this.schedules.set(machineId, (s = new Map()));
    return s;
  }

  private async watch<V>(listener: ChangeListener<V>, snapshot: () => ReadonlyMap<string, V>): Promise<WatchHandle> {
    this.reach('opening a watch');
    const w: FakeWatch = {
      deliver: (reason) => {
        const snap = new Map(snapshot());
        return listener(snap, new Set(snap.keys()), this.info(reason));
      },
      closed: false,
    };
    await w.deliver('initial');
    this.watches.add(w);
    const revision = (): string => String(this.revision);
    return {
      get revision() {
        return revision();
      },
      close: async () => {
        w.closed = true;
        this.watches.delete(w);
      },
    };
  }

  /** Every open watch gets its current snapshot, after the change (as etcd's events arrive). */
  private changed(): void {
    this.revision++;
    for (const w of this.watches) {
      queueMicrotask(() => {
        if (!w.closed) void w.deliver('update');
      });
    }
  }

  private info(reason: WatchInfo['reason']): WatchInfo {
    return { reason, revision: String(this.revision) };
  }

  private reach(what: string): void {
    if (this.unreachable) throw new EtcdRequestError(what, new Error('fake etcd is unreachable'));
  }


  private leased(presence: FakePresence, what: string): void {
    this.reach(what);
    if (!presence.alive) throw new PresenceLostError(presence.machineId, 'its lease expired or was revoked');
  }
}
