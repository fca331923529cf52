/**
 * Decoders of the API's response bodies: a parsed JSON value in, a value of schema.ts's types out, or an
 * ApiDecodeError naming the field that does not fit (e.g. `units[3].options[0].value: expected a string, got 7`).
 * fleetctl's HTTP client runs every body it reads through one of these, so a server that is not fleetd, or a
 * broken or hostile one, gives a clear error instead of values of the wrong type deep inside a command.
 *
 * Fields fleet marshals with omitempty may be absent (or null); unknown fields are dropped; the values returned
 * are fresh objects, never the parsed input. Maps (machine metadata) are built with Object.fromEntries, so a key
 * such as `__proto__` stays an ordinary key.
 */
import type { MachineVerdict, Op, PendingUnit, Explanation } from '../schedule/index.js';
import { DESIRED_STATES, RESTART_STATUSES, type DesiredState } from '../unit/types.js';
import { ApiDecodeError } from './errors.js';
import { isRolloutControl, rolloutSpecFrom, rolloutStatusFrom } from '../rollout/codec.js';
import type { RolloutFailure, RolloutStatus } from '../rollout/types.js';
import type {
  ApiErrorBody,
  ApiMachine,
  ApiUnit,
  ApiUnitOption,
  ApiUnitState,
  MachinePage,
  PlanResponse,
  UnitPage,
  UnitStatePage,
  ApiRestartRequest,
  ApiRollout,
  ApiRolloutRequest,
} from './schema.js';

type Obj = Readonly<Record<string, unknown>>;

/** How a value looks, for messages: its JSON type and, for short scalars, the value. */
function shown(v: unknown): string {
  if (v === undefined) return 'nothing (the field is missing)';
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return 'an object';
  if (typeof v === 'string') return v.length <= 40 ? `the string ${JSON.stringify(v)}` : 'a long string';
  return `${typeof v} ${String(v)}`;
}

function fail(at: string, expected: string, v: unknown): never {
  throw new ApiDecodeError(at, `${at}: expected ${expected}, got ${shown(v)}`);
}

function object(v: unknown, at: string): Obj {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) fail(at, 'an object', v);
  return v as Obj;
}

/** An absent or null field is `undefined`. */
const absent = (v: unknown): v is undefined | null => v === undefined || v === null;

/**
 * Characters a terminal acts on: C0 controls (escape sequences start with ESC; a newline or carriage return would
 * forge table rows), DEL and C1 controls. A fleet API never sends them in names, states, machine ids, addresses or
 * metadata keys, so a server's answer that has them there is refused rather than printed. Free text (error messages,
 * metadata values, which any API client may set) is printed with them escaped (visible()).
 */
const TERMINAL_CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

function plain(v: string, at: string): string {
  if (TERMINAL_CONTROL.test(v)) fail(at, 'text without control characters', v);
  return v;
}

/**
 * A server's free text made safe to print: control characters escaped as \\uXXXX; `keepLines` (messages) leaves tab
 * and newline as they are, otherwise (a table cell such as a metadata value) they are escaped too.
 */
export function visible(text: string, keepLines = true): string {
  const controls = keepLines ? /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g : /[\u0000-\u001f\u007f-\u009f]/g;
  return text.replace(controls, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** A string field; `raw` allows control characters (unit file option values, printed as stored, as fleet does). */
function string(o: Obj, key: string, at: string, raw = false): string {
  const v = o[key];
  if (typeof v !== 'string') fail(`${at}.${key}`, 'a string', v);
  return raw ? v : plain(v, `${at}.${key}`);
}

function nonEmpty(o: Obj, key: string, at: string): string {
  const v = string(o, key, at);
  if (v === '') fail(`${at}.${key}`, 'a non-empty string', v);
  return v;
}

function optString(o: Obj, key: string, at: string, raw = false): string | undefined {
  const v = o[key];
  if (absent(v)) return undefined;
  if (typeof v !== 'string') fail(`${at}.${key}`, 'a string', v);
  return raw ? v : plain(v, `${at}.${key}`);
}

function number(o: Obj, key: string, at: string): number {
  const v = o[key];
  if (typeof v !== 'number' || !Number.isFinite(v)) fail(`${at}.${key}`, 'a number', v);
  return v;
}

function boolean(o: Obj, key: string, at: string): boolean {
  const v = o[key];
  if (typeof v !== 'boolean') fail(`${at}.${key}`, 'true or false', v);
  return v;
}

/** An array field (absent or null: empty), each item decoded at `at.key[i]`. */
function list<T>(o: Obj, key: string, at: string, item: (v: unknown, at: string) => T): T[] {
  const v = o[key];
  if (absent(v)) return [];
  if (!Array.isArray(v)) fail(`${at}.${key}`, 'an array', v);
  return v.map((x: unknown, i: number) => item(x, `${at}.${key}[${i}]`));
}

/** A unit state field; empty counts as absent (fleet sends no state for a unit nobody scheduled). */
function optState(o: Obj, key: string, at: string): DesiredState | undefined {
  const v = optString(o, key, at);
  if (v === undefined || v === '') return undefined;
  if (!(DESIRED_STATES as readonly string[]).includes(v)) fail(`${at}.${key}`, `one of ${DESIRED_STATES.join(', ')}`, v);
  return v as DesiredState;
}

export function decodeUnitOption(v: unknown, at: string): ApiUnitOption {
  const o = object(v, at);
  // fleetd leaves an empty value out (omitempty), e.g. of `Environment=`
  return { section: optString(o, 'section', at) ?? '', name: optString(o, 'name', at) ?? '', value: optString(o, 'value', at, true) ?? '' };
}

export function decodeUnit(v: unknown, at = 'unit'): ApiUnit {
  const o = object(v, at);
  const u: ApiUnit = { name: nonEmpty(o, 'name', at), options: list(o, 'options', at, decodeUnitOption) };
  const desired = optState(o, 'desiredState', at);
  if (desired !== undefined) u.desiredState = desired;
  const current = optState(o, 'currentState', at);
  if (current !== undefined) u.currentState = current;
  const machineID = optString(o, 'machineID', at);
  if (machineID !== undefined) u.machineID = machineID;
  return u;
}

const STATE_FIELDS = ['hash', 'machineID', 'systemdLoadState', 'systemdActiveState', 'systemdSubState', 'refusal'] as const;

export function decodeUnitState(v: unknown, at = 'state'): ApiUnitState {
  const o = object(v, at);
  const s: ApiUnitState = { name: nonEmpty(o, 'name', at) };
  for (const k of STATE_FIELDS) {
    const x = optString(o, k, at);
    if (x !== undefined) s[k] = x;
  }
  if (o['reschedule'] !== undefined && o['reschedule'] !== null) {
    const where = `${at}.reschedule`;
    const r = object(o['reschedule'], where);
    s.reschedule = { gaveUp: boolean(r, 'gaveUp', where), reason: string(r, 'reason', where) };
  }
  return s;
}

export function decodeMachine(v: unknown, at = 'machine'): ApiMachine {
  const o = object(v, at);
  const m: ApiMachine = { id: nonEmpty(o, 'id', at) };
  const ip = optString(o, 'primaryIP', at);
  if (ip !== undefined) m.primaryIP = ip;
  if (!absent(o['metadata'])) {
    const md = object(o['metadata'], `${at}.metadata`);
    // values are free text an API client may set (PATCH /machines): shown with their control characters escaped
    m.metadata = Object.fromEntries(Object.keys(md).map((k) => [plain(k, `${at}.metadata`), visible(string(md, k, `${at}.metadata`, true), false)]));
  }
  return m;
}

function page<K extends string, T>(v: unknown, at: string, key: K, item: (v: unknown, at: string) => T): { items: T[]; nextPageToken?: string } {
  const o = object(v, at);
  const items = list(o, key, at, item);
  const next = optString(o, 'nextPageToken', at);
  return next ? { items, nextPageToken: next } : { items };
}

export function decodeUnitPage(v: unknown, at = 'units page'): UnitPage {
  const p = page(v, at, 'units', decodeUnit);
  return { units: p.items, ...(p.nextPageToken ? { nextPageToken: p.nextPageToken } : {}) };
}

export function decodeUnitStatePage(v: unknown, at = 'state page'): UnitStatePage {
  const p = page(v, at, 'states', decodeUnitState);
  return { states: p.items, ...(p.nextPageToken ? { nextPageToken: p.nextPageToken } : {}) };
}

export function decodeMachinePage(v: unknown, at = 'machines page'): MachinePage {
  const p = page(v, at, 'machines', decodeMachine);
  return { machines: p.items, ...(p.nextPageToken ? { nextPageToken: p.nextPageToken } : {}) };
}

function decodeVerdict(v: unknown, at: string): MachineVerdict {
  const o = object(v, at);
  return { machineId: nonEmpty(o, 'machineId', at), load: number(o, 'load', at), eligible: boolean(o, 'eligible', at), reason: string(o, 'reason', at) };
}

function decodeExplanation(v: unknown, at: string): Explanation {
  const o = object(v, at);
  const unit = nonEmpty(o, 'unit', at);
  const outcome = string(o, 'outcome', at);
  const machines = list(o, 'machines', at, decodeVerdict);
  const machineId = optString(o, 'machineId', at);
  return machineId === undefined ? { unit, outcome, machines } : { unit, outcome, machineId, machines };
}

function decodeOp(v: unknown, at: string): Op {
  const o = object(v, at);
  const kind = o['kind'];
  const unit = nonEmpty(o, 'unit', at);
  const reason = string(o, 'reason', at);
  if (kind === 'place') return { kind, unit, machineId: nonEmpty(o, 'machineId', at), reason };
  if (kind === 'unschedule') return { kind, unit, from: nonEmpty(o, 'from', at), reason };
  if (kind === 'move') return { kind, unit, from: nonEmpty(o, 'from', at), to: nonEmpty(o, 'to', at), reason };
  return fail(`${at}.kind`, 'place, unschedule or move', kind);
}

function decodePending(v: unknown, at: string): PendingUnit {
  const o = object(v, at);
  return { unit: nonEmpty(o, 'unit', at), reason: string(o, 'reason', at) };
}

export function decodePlanResponse(v: unknown, at = 'plan'): PlanResponse {
  const o = object(v, at);
  return { units: list(o, 'units', at, decodeExplanation), ops: list(o, 'ops', at, decodeOp), pending: list(o, 'pending', at, decodePending) };
}

/** The message of an error body `{"error": {"code", "message"}}`, or undefined when the body is not one. */
export function errorBodyMessage(v: unknown): string | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const e = (v as Partial<Record<keyof ApiErrorBody, unknown>>).error;
  if (typeof e !== 'object' || e === null) return undefined;
  const m = (e as Record<string, unknown>)['message'];
  return typeof m === 'string' && m !== '' ? visible(m) : undefined;
}


/** POST answers `{token}` (status pending); GET `{token, status, message?}`; the message is free text (visible()). */
export function decodeRestartRequest(v: unknown, at = 'restart request'): ApiRestartRequest {
  const o = object(v, at);
  const token = nonEmpty(o, 'token', at);
  const status = optString(o, 'status', at) ?? 'pending';
  const known = RESTART_STATUSES.find((k) => k === status);
  if (known === undefined) fail(`${at}.status`, `one of ${RESTART_STATUSES.join(', ')}`, status);
  const message = optString(o, 'message', at, true);
  return { token, status: known, ...(message !== undefined ? { message: visible(message) } : {}) };
}

/** A failure's free text made printable; machine ids and unit names are checked by rolloutStatusFrom. */
function shownFailure(f: RolloutFailure): RolloutFailure {
  return { unit: visible(f.unit, false), ...(f.machine !== undefined ? { machine: visible(f.machine, false) } : {}), reason: visible(f.reason) };
}

/** GET /rollouts/{id}: `{spec, status?, control?}` (lib/rollout/types.ts RolloutRecord), every field checked. */
export function decodeRollout(v: unknown, at = 'rollout'): ApiRollout {
  const o = object(v, at);
  const spec = rolloutSpecFrom(o['spec']);
  if (!spec) fail(`${at}.spec`, 'a rollout spec {id, units[{name, from, to}], maxUnavailable, minHealthyMs, deadlineMs, rollback, createdAt}', o['spec']);
  plain(spec.createdAt, `${at}.spec.createdAt`);
  let status: RolloutStatus | undefined;
  if (!absent(o['status'])) {
    const s = rolloutStatusFrom(o['status']);
    if (!s) fail(`${at}.status`, 'a rollout status {phase, units, updatedAt, ...}', o['status']);
    const units = Object.fromEntries(Object.entries(s.units).map(([n, p]) => [n, p.machine !== undefined ? { ...p, machine: visible(p.machine, false) } : p]));
    status = {
      ...s,
      units,
      ...(s.failure ? { failure: shownFailure(s.failure) } : {}),
      ...(s.rollbackFailure ? { rollbackFailure: shownFailure(s.rollbackFailure) } : {}),
    };
  }
  const control = o['control'];
  if (!absent(control) && !isRolloutControl(control)) fail(`${at}.control`, 'pause, resume or abort', control);
  return { spec, ...(status ? { status } : {}), ...(isRolloutControl(control) ? { control } : {}) };
}

export function decodeRolloutList(v: unknown, at = 'rollouts'): ApiRollout[] {
  return list(object(v, at), 'rollouts', at, decodeRollout);
}

/** POST /rollouts: the request a client sends (fleetd decodes it with these helpers). */
export function decodeRolloutRequest(v: unknown, at = 'rollout request'): ApiRolloutRequest {
  const o = object(v, at);
  const units = list(o, 'units', at, (u, a) => {
    const x = object(u, a);
    return { name: nonEmpty(x, 'name', a), options: list(x, 'options', a, decodeUnitOption) };
  });
  if (units.length === 0) fail(`${at}.units`, 'at least one unit', o['units']);
  return {
    units,
    maxUnavailable: number(o, 'maxUnavailable', at),
    minHealthyMs: number(o, 'minHealthyMs', at),
    deadlineMs: number(o, 'deadlineMs', at),
    rollback: boolean(o, 'rollback', at),
  };
}
