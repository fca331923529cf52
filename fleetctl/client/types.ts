/**
 * What fleetctl needs from a fleet cluster. Two implementations: the HTTP API (http.ts, --driver=API) and the
 * registry in etcd (registry.ts, --driver=etcd). Entities are the API's JSON entities.
 */
import type { Readable } from 'node:stream';
import type { DesiredState } from '../../lib/unit/types.js';
import type { RolloutControl } from '../../lib/rollout/types.js';
import type { ApiRollout, ApiRolloutRequest, ApiMachine, ApiRestartRequest, ApiUnit, ApiUnitOption, ApiUnitState, JournalRequest, PlanResponse, PlanUnitRequest } from '../../lib/api/schema.js';

export type { ApiRollout, ApiRolloutRequest, ApiMachine, ApiRestartRequest, ApiUnit, ApiUnitOption, ApiUnitState, PlanResponse, PlanUnitRequest };

export interface UnitStateFilter {
  machineID?: string;
  unitName?: string;
}

export interface NewUnit {
  name: string;
  options: ApiUnitOption[];
  /** Omitted: inactive (a replaced unit restarts from inactive, like fleet). */
  desiredState?: DesiredState;
}

export interface StatusResult {
  /** `systemctl status -l` output. */
  output: string;
  /** systemctl's exit status (0 active, 3 not running, 4 no such unit). */
  exitCode: number;
}

/** The journal endpoint's query (lines, follow, journalctl --output mode); the etcd driver runs journalctl with it. */
export type JournalOptions = JournalRequest;

/** Which machine to inspect (global units), and how to reach it when the driver shells out to ssh. */
export interface InspectTarget {
  machineID?: string;
  /** --ssh-port (etcd driver only). */
  sshPort?: number;
  /** --sudo for journalctl (etcd driver only). */
  sudo?: boolean;
}

/**
 * A live view from one of the API's streams (`GET /fleet/v1/watch/state` or `/watch/units`, ours): `entries` holds
 * the latest of each; `changed(since)` resolves once `version` passes `since` or the stream ends.
 */
export interface StreamWatch<T> {
  /** Keyed by `<unit>\n<machine id>` (states) or the unit name (units). */
  readonly entries: ReadonlyMap<string, T>;
  readonly version: number;
  /** False once the stream ended (its lifetime, fleetd going away, a malformed line): reopen it or poll. */
  readonly live: boolean;
  changed(since: number): Promise<void>;
  close(): void;
}

export type UnitStateWatch = StreamWatch<ApiUnitState>;
export type UnitWatch = StreamWatch<ApiUnit>;

export interface FleetClient {
  /** Where the client talks to, for messages (e.g. `unix:///var/run/fleet.sock`). */
  readonly endpoint: string;
  /** All units sorted by name, with desired/current state and target machine. */
  units(): Promise<ApiUnit[]>;
  unit(name: string): Promise<ApiUnit | undefined>;
  /** Unit states sorted by unit name, then machine id. */
  unitStates(filter?: UnitStateFilter): Promise<ApiUnitState[]>;
  /**
   * The unit states, then each change, when the server streams them; undefined when it does not (fleet's API, an
   * older fleetd, a server at its limit): poll `unitStates` instead. Resolves once the current states arrived.
   */
  watchUnitStates?(filter?: UnitStateFilter): Promise<UnitStateWatch | undefined>;
  /** The same for units (desired and current state), filtered to one unit when `unitName` is given. */
  watchUnits?(unitName?: string): Promise<UnitWatch | undefined>;
  /** Live machines sorted by id. */
  machines(): Promise<ApiMachine[]>;
  /** Creates the unit, or replaces it when its options differ from the stored ones. */
  createUnit(unit: NewUnit): Promise<void>;
  setDesiredState(name: string, state: DesiredState): Promise<void>;
  /** false when there was no such unit. */
  destroyUnit(name: string): Promise<boolean>;
  /** `systemctl status -l` of the unit on the machine running it (target.machineID: one machine of a global unit). */
  status(name: string, target?: InspectTarget): Promise<StatusResult>;
  /** journalctl output of the unit on its machine, as a byte stream (endless with follow). */
  journal(name: string, opts: JournalOptions, target?: InspectTarget): Promise<Readable>;
  /** Dry run: where these units would go if submitted and started now, and why others cannot be placed. */
  plan(units: PlanUnitRequest[]): Promise<PlanResponse>;
  /** Rolling restart: asks one machine's agent to restart a global unit once; the request's token. */
  requestRestart(name: string, machineId: string): Promise<string>;
  /** That request as the agent left it; undefined when there is none. */
  restartRequest(name: string, machineId: string): Promise<ApiRestartRequest | undefined>;
  /** Rolling update (our extension): creates a rollout the engine leader drives. */
  createRollout(req: ApiRolloutRequest): Promise<ApiRollout>;
  /** undefined when there is no such rollout. */
  rollout(id: string): Promise<ApiRollout | undefined>;
  /** Oldest first. */
  rollouts(): Promise<ApiRollout[]>;
  controlRollout(id: string, control: RolloutControl): Promise<void>;
  close(): Promise<void>;
}

