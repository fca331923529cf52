/**
 * The bytes of the API's JSON bodies, as fleetd v1.0 wrote them (docs/fleet-compat.md#http-api): fleet's server
 * marshalled Go structs, so keys come in the order of the struct fields (not alphabetical, not ours), empty fields
 * are left out (omitempty), map keys are sorted, and strings are escaped as Go's encoder escapes them (`& < >` and
 * U+2028/U+2029 as \uXXXX, \b and \f as \u0008 and \u000c, a lone surrogate as U+FFFD). No newline follows the body.
 * Also fields a request body carries are found as Go's decoder finds them: by name, ignoring case.
 *
 * Our own additions (a state's `refusal` and `reschedule`) come after fleet's fields, only when present.
 */
import { compareStrings } from '../compare.js';
import type { ApiMachine, ApiUnit, ApiUnitOption, ApiUnitState, MachinePage, UnitPage, UnitStatePage } from './schema.js';

type Wire = Record<string, unknown>;

/** Sets `key` only when `v` is not empty (Go's omitempty for strings, slices and maps). */
function put(o: Wire, key: string, v: string | readonly unknown[] | Wire | undefined): void {
  if (v === undefined) return;
  if (typeof v === 'string' || Array.isArray(v) ? v.length === 0 : Object.keys(v).length === 0) return;
  o[key] = v;
}

export function wireUnitOption(opt: ApiUnitOption): Wire {
  const o: Wire = {};
  put(o, 'name', opt.name);
  put(o, 'section', opt.section);
  put(o, 'value', opt.value);
  return o;
}

export function wireUnit(u: ApiUnit): Wire {
  const o: Wire = {};
  put(o, 'currentState', u.currentState);
  put(o, 'desiredState', u.desiredState);
  put(o, 'machineID', u.machineID);
  put(o, 'name', u.name);
  put(o, 'options', u.options.map(wireUnitOption));
  return o;
}

export function wireUnitState(s: ApiUnitState): Wire {
  const o: Wire = {};
  put(o, 'hash', s.hash);
  put(o, 'machineID', s.machineID);
  put(o, 'name', s.name);
  put(o, 'systemdActiveState', s.systemdActiveState);
  put(o, 'systemdLoadState', s.systemdLoadState);
  put(o, 'systemdSubState', s.systemdSubState);
  put(o, 'refusal', s.refusal);
  if (s.reschedule !== undefined) o['reschedule'] = { gaveUp: s.reschedule.gaveUp, reason: s.reschedule.reason };
  return o;
}

export function wireMachine(m: ApiMachine): Wire {
  const o: Wire = {};
  put(o, 'id', m.id);
  if (m.metadata) {
    const keys = Object.keys(m.metadata).sort(compareStrings);
    put(o, 'metadata', Object.fromEntries(keys.map((k) => [k, m.metadata![k]])));
  }
  put(o, 'primaryIP', m.primaryIP);
  return o;
}

export function wireUnitPage(p: UnitPage): Wire {
  const o: Wire = {};
  put(o, 'nextPageToken', p.nextPageToken);
  put(o, 'units', p.units?.map(wireUnit));
  return o;
}

export function wireUnitStatePage(p: UnitStatePage): Wire {
  const o: Wire = {};
  put(o, 'nextPageToken', p.nextPageToken);
  put(o, 'states', p.states?.map(wireUnitState));
  return o;
}

export function wireMachinePage(p: MachinePage): Wire {
  const o: Wire = {};
  put(o, 'machines', p.machines?.map(wireMachine));
  put(o, 'nextPageToken', p.nextPageToken);
  return o;
}

const GO_ESCAPES: Readonly<Record<string, string>> = {
  '&': '\\u0026',
  '<': '\\u003c',
  '>': '\\u003e',
  '\u2028': '\\u2028',
  '\u2029': '\\u2029',
  '\\b': '\\u0008',
  '\\f': '\\u000c',
};

/**
 * JSON text of `value` with Go's escaping. Keys keep the order of `value`'s own keys (build it with the wire*
 * functions above for fleet's entities).
 */
export function goJson(value: unknown): string {
  // One pass over JSON.stringify's output: an escape pair is consumed whole, so `\\b` (a backslash and a b) stays.
  return JSON.stringify(value).replace(/\\u[dD][89a-fA-F][0-9a-fA-F]{2}|\\.|[&<>\u2028\u2029]/g, (m) => {
    if (m.length === 6) return '\\ufffd'; // JSON.stringify escapes only lone surrogates
    return GO_ESCAPES[m] ?? m;
  });
}

/** Go's case folding of JSON keys onto field names (it also folds the Kelvin sign to k and the long s to s). */
function foldKey(k: string): string {
  return k.toLowerCase().replace(/\u212a/g, 'k').replace(/\u017f/g, 's');
}

/**
 * The value of field `name` in a decoded request object, found as Go's decoder finds it: a key equal to `name`
 * ignoring case; when several keys match, the last one wins.
 */
export function goField(o: Readonly<Record<string, unknown>>, name: string): unknown {
  const folded = foldKey(name);
  let v: unknown;
  for (const k of Object.keys(o)) {
    if (k === name || foldKey(k) === folded) v = o[k];
  }
  return v;
}
