/**
 * What the agent needs from the registry and from its machine's presence: the narrow interfaces it is written
 * against. lib/registry's Registry and MachinePresence implement them over etcd; lib/registry/fake.ts implements
 * the registry part in memory, so the agent can be tested without etcd (test/agent/agent.test.ts).
 */
import type { ChangeListener, GlobalUnitEntry, ScheduleEntry, UnitFailure, UnitRefusal, UnitState, WatchHandle } from '../../lib/registry/index.js';

/** The machine's registration as the agent sees it. */
export interface AgentPresence {
  readonly machineId: string;
  readonly ttlSeconds: number;
  /** ms since the last successful keep-alive; Infinity once the presence is lost */
  readonly silentMs: number;
  readonly alive: boolean;
}

/**
 * The registry calls the agent makes. Writes bound to the machine's lease take the presence they were made through
 * (the real registry needs its MachinePresence: the agent hands back the one it was given).
 */
export interface AgentRegistry {
  watchSchedule(machineId: string, onChange: ChangeListener<ScheduleEntry>): Promise<WatchHandle>;
  watchGlobalUnits(onChange: ChangeListener<GlobalUnitEntry>): Promise<WatchHandle>;
  /** the machine a unit's job is placed on now */
  getTarget(name: string): Promise<string | undefined>;
  /** the texts of these hashes, read together (missing ones are absent) */
  getUnitTexts(hashes: Iterable<string>): Promise<Map<string, string>>;
  /** writes the states of several units of this machine together, in order */
  publishUnitStates(presence: AgentPresence, states: readonly UnitState[]): Promise<void>;
  deleteUnitState(presence: AgentPresence, name: string): Promise<void>;
  refuseUnit(presence: AgentPresence, refusal: UnitRefusal): Promise<void>;
  /** Reschedule=on-failure: the unit failed here (false: the job has other contents now). */
  recordFailure(presence: AgentPresence, failure: UnitFailure): Promise<boolean>;
  /** Rolling restart: the outcome of this machine's restart request of a global unit (keys.globalRestart). */
  settleRestart(name: string, machineId: string, token: string, outcome: { ok: true } | { ok: false; message: string }): Promise<void>;
}
