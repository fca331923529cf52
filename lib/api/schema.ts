/**
 * The wire contract of fleet's HTTP API v1 (docs/fleet-compat.md#http-api), shared by fleetd's API server and
 * fleetctl: the JSON entities, the journal query, the path prefix and headers. Every field is optional on the wire
 * (fleet marshals them omitempty); absent means empty. decode.ts checks a parsed body against these shapes.
 */
import type { Explanation, Op, PendingUnit } from '../schedule/index.js';
import type { DesiredState, UnitOption } from '../unit/types.js';
import type { RestartRequest } from '../registry/restart.js';
import type { RolloutRecord } from '../rollout/types.js';

export interface ApiUnitOption {
  section: string;
  name: string;
  value: string;
}

/**
 * The option encoding: a unit travels as its options in file order, each {section, name, value}, repeated keys
 * repeated. Copies just those three fields (a parsed option may carry more).
 */
export function toApiOptions(options: readonly UnitOption[]): ApiUnitOption[] {
  return options.map((o) => ({ section: o.section, name: o.name, value: o.value }));
}

export interface ApiUnit {
  name: string;
  options: ApiUnitOption[];
  desiredState?: DesiredState;
  /** Derived (docs/fleet-compat.md#etcd); absent for global units and units nobody scheduled. */
  currentState?: DesiredState;
  /** Machine the engine scheduled the unit to; absent for global or unscheduled units. */
  machineID?: string;
}

/** A rolling-restart request of a global unit on one machine (POST answers only the token; status pending): the stored record as is. */
export type ApiRestartRequest = RestartRequest;

/**
 * Not in fleet (our extension, docs/fleet-compat.md): a rolling update's request. Each unit travels as its options,
 * as in PUT /units; times in milliseconds.
 */
export interface ApiRolloutRequest {
  units: { name: string; options: ApiUnitOption[] }[];
  maxUnavailable: number;
  minHealthyMs: number;
  deadlineMs: number;
  rollback: boolean;
}

/** A rollout as the API answers it: its spec, and the engine leader's status once written (lib/rollout/types.ts). */
export type ApiRollout = RolloutRecord;

export interface ApiUnitState {
  name: string;
  hash?: string;
  machineID?: string;
  systemdLoadState?: string;
  systemdActiveState?: string;
  systemdSubState?: string;
  /** Not in fleet: why the machine's agent refused the unit (systemdLoadState is then "refused"). */
  refusal?: string;
  /** Not in fleet: what Reschedule=on-failure did with the unit (present once it failed somewhere). */
  reschedule?: { gaveUp: boolean; reason: string };
}

export interface ApiMachine {
  id: string;
  primaryIP?: string;
  metadata?: Record<string, string>;
}

export interface UnitPage {
  units?: ApiUnit[];
  nextPageToken?: string;
}

export interface UnitStatePage {
  states?: ApiUnitState[];
  nextPageToken?: string;
}

export interface MachinePage {
  machines?: ApiMachine[];
  nextPageToken?: string;
}

export interface ApiErrorBody {
  error: { code: number; message: string };
}

/** The body of every error answer: `{"error": {"code": <HTTP status>, "message": ...}}` (decode.ts reads it back). */
export function errorBody(code: number, message: string): ApiErrorBody {
  return { error: { code, message } };
}

/** One unit of a `POST /fleet/v1/plan` request: a unit as it would be submitted. */
export interface PlanUnitRequest {
  name: string;
  /** Empty: the unit as stored in the registry. */
  options?: ApiUnitOption[];
  /** Target state to plan for; default `launched`. */
  desiredState?: DesiredState;
}

export interface PlanRequest {
  units: PlanUnitRequest[];
}

/**
 * The answer of `POST /fleet/v1/plan`: per requested unit, where it would run and why each machine can or
 * cannot take it; and every change the engine would make to the cluster with those units added.
 */
export interface PlanResponse {
  /** In request order. */
  units: Explanation[];
  ops: Op[];
  pending: PendingUnit[];
}

/** The query of `GET /units/{name}/journal`: `?lines=&follow=&output=`. */
export interface JournalRequest {
  lines: number;
  follow: boolean;
  /** A journalctl --output mode (one of JOURNAL_OUTPUTS). */
  output: string;
}

/** The journalctl --output modes the journal endpoint accepts. */
export const JOURNAL_OUTPUTS: readonly string[] = [
  'short', 'short-full', 'short-iso', 'short-iso-precise', 'short-precise', 'short-monotonic', 'short-unix',
  'verbose', 'export', 'json', 'json-pretty', 'json-sse', 'json-seq', 'cat', 'with-unit',
];

/** Every path of the API is under this prefix. */
export const API_PREFIX = '/fleet/v1';

/** Header carrying the exit status of `systemctl status` on a `/units/{name}/status` response. */
export const EXIT_STATUS_HEADER = 'fleet-exit-status';
/** Header a fleetd sets when it forwards a request to the machine hosting the unit; stops a second hop. */
export const FORWARDED_HEADER = 'fleet-forwarded-by';
