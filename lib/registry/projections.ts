/** How each key family is read back into records, shared by one-shot listings and watches. */
import type { IKeyValue } from 'etcd3';
import {
  decodeGlobalEntry,
  decodeGlobalMachineHash,
  decodeJobObject,
  decodeFailure,
  decodeRefusal,
  decodeMachineState,
  decodeScheduleEntry,
  decodeUnitState,
  isDesiredState,
  mergeMetadata,
} from './codec.js';
import { isSegment, type Keyspace } from './keys.js';
import { decodeRestartRequest } from './restart.js';
import type {
  DesiredState,
  GlobalUnitEntry,
  JobRecord,
  MachineRecord,
  MachineScheduleEntry,
  ScheduleEntry,
  UnitFailureRecord,
  UnitState,
} from './types.js';
import { Projector, type Projection } from './watch.js';
import { logger } from '../log.js';

const log = logger('registry');

const JOB_FIELDS = new Set(['object', 'target-state', 'target']);

/** `<unit>/refused/<machine>`: an agent's refusal (keys.jobRefusal); `<unit>/failed/<machine>`: a failure. */
const REFUSAL_REL = /^([^/]+)\/(?:refused|failed)\/([^/]+)$/;

/** Failures of these contents (other hashes: a new text erased the history), by machine. */
function failuresOf(name: string, hash: string, kv: ReadonlyMap<string, string>): Record<string, UnitFailureRecord> | undefined {
  let out: Record<string, UnitFailureRecord> | undefined;
  const prefix = `${name}/failed/`;
  for (const [k, v] of kv) {
    if (!k.startsWith(prefix)) continue;
    const f = decodeFailure(v);
    if (f && f.hash === hash) (out ??= {})[k.slice(prefix.length)] = { at: f.at, attempts: f.attempts };
  }
  return out;
}

/** Refusals of these contents (other hashes are stale: the unit was replaced since), by machine. */
function refusalsOf(name: string, hash: string, kv: ReadonlyMap<string, string>): Record<string, string> | undefined {
  let out: Record<string, string> | undefined;
  const prefix = `${name}/refused/`;
  for (const [k, v] of kv) {
    if (!k.startsWith(prefix)) continue;
    const r = decodeRefusal(v);
    if (r && r.hash === hash) (out ??= {})[k.slice(prefix.length)] = r.reason;
  }
  return out;
}

/** Splits `a/b` into two valid segments, or undefined. */
function pair(rel: string): [string, string] | undefined {
  const i = rel.indexOf('/');
  if (i < 0) return undefined;
  const a = rel.slice(0, i);
  const b = rel.slice(i + 1);
  return isSegment(a) && isSegment(b) ? [a, b] : undefined;
}

export function jobsProjection(keys: Keyspace): Projection<JobRecord> {
  return {
    dir: keys.jobsDir,
    group(rel) {
      const p = pair(rel);
      if (p && JOB_FIELDS.has(p[1])) return p[0];
      const r = REFUSAL_REL.exec(rel);
      return r && isSegment(r[1]!) && isSegment(r[2]!) ? r[1] : undefined;
    },
    build(name, kv) {
      const raw = kv.get(`${name}/object`);
      const obj = raw === undefined ? undefined : decodeJobObject(raw);
      if (!obj) return undefined;
      const ts = kv.get(`${name}/target-state`);
      const desiredState: DesiredState = isDesiredState(ts) ? ts : 'inactive';
      const target = kv.get(`${name}/target`);
      const machineId = !obj.global && target !== undefined && isSegment(target) ? target : undefined;
      const refusedBy = refusalsOf(name, obj.hash, kv);
      const failedOn = failuresOf(name, obj.hash, kv);
      return {
        name, hash: obj.hash, global: obj.global, desiredState, ...(machineId ? { machineId } : {}),
        ...(refusedBy ? { refusedBy } : {}), ...(failedOn ? { failedOn } : {}),
      };
    },
  };
}

/** `<unit>/start`: a start request (keys.scheduleStart, keys.globalStart). */
const START_REL = /^([^/]+)\/start$/;

/** Groups `<unit>` and its `<unit>/start` under the unit. */
function startGroup(rel: string): string | undefined {
  if (isSegment(rel)) return rel;
  const m = START_REL.exec(rel);
  return m && isSegment(m[1]!) ? m[1] : undefined;
}

export function scheduleProjection(keys: Keyspace, machineId: string): Projection<ScheduleEntry> {
  return {
    dir: keys.scheduleDir(machineId),
    group: startGroup,
    build(name, kv) {
      const raw = kv.get(name);
      const e = raw === undefined ? undefined : decodeScheduleEntry(name, raw);
      const startRequest = kv.get(`${name}/start`);
      return e && startRequest !== undefined ? { ...e, startRequest } : e;
    },
  };
}

export function allSchedulesProjection(keys: Keyspace): Projection<MachineScheduleEntry> {
  return {
    dir: keys.schedulesDir,
    group: (rel) => (pair(rel) ? rel : undefined),
    build(rel, kv) {
      const [machineId, name] = pair(rel) as [string, string];
      const raw = kv.get(rel);
      const e = raw === undefined ? undefined : decodeScheduleEntry(name, raw);
      return e && { machineId, ...e };
    },
  };
}

/** `<unit>/restart/<machineId>`: a rolling-restart request (keys.globalRestart). */
const RESTART_REL = /^([^/]+)\/restart\/([^/]+)$/;

/** `<unit>/machine/<machineId>`: a per-machine hash override (keys.globalMachine). */
const MACHINE_REL = /^([^/]+)\/machine\/([^/]+)$/;

/** The valid per-machine hash overrides of a global unit, by machine; a malformed one is logged and ignored. */
function overridesOf(name: string, kv: ReadonlyMap<string, string>): Record<string, string> | undefined {
  let out: Record<string, string> | undefined;
  for (const [rel, v] of kv) {
    const m = MACHINE_REL.exec(rel);
    if (!m) continue;
    const o = decodeGlobalMachineHash(v);
    if (o) (out ??= {})[m[2]!] = o.hash;
    else log.warn('malformed hash override of a global unit ignored', { unit: name, machine: m[2], value: v.slice(0, 200) });
  }
  return out;
}

export function globalProjection(keys: Keyspace): Projection<GlobalUnitEntry> {
  return {
    dir: keys.globalDir,
    group(rel) {
      const m = RESTART_REL.exec(rel) ?? MACHINE_REL.exec(rel);
      if (m) return isSegment(m[1]!) && isSegment(m[2]!) ? m[1] : undefined;
      return startGroup(rel);
    },
    build(name, kv) {
      const raw = kv.get(name);
      const e = raw === undefined ? undefined : decodeGlobalEntry(name, raw);
      if (!e) return undefined;
      const startRequest = kv.get(`${name}/start`);
      const restartRequests: Record<string, string> = {};
      for (const [rel, v] of kv) {
        const m = RESTART_REL.exec(rel);
        const r = m ? decodeRestartRequest(v) : undefined;
        if (m && r?.status === 'pending') restartRequests[m[2]!] = r.token;
      }
      const machineHashes = overridesOf(name, kv);
      return {
        ...e,
        ...(startRequest !== undefined ? { startRequest } : {}),
        ...(Object.keys(restartRequests).length > 0 ? { restartRequests } : {}),
        ...(machineHashes ? { machineHashes } : {}),
      };
    },
  };
}

function buildMachine(id: string, object: string | undefined, overrides: ReadonlyMap<string, string>): MachineRecord | undefined {
  const obj = object === undefined ? undefined : decodeMachineState(object);
  if (!obj || obj.id !== id) return undefined;
  return { ...obj, metadata: mergeMetadata(obj.metadata, overrides) };
}

const METADATA_REL = /^metadata\/([A-Za-z0-9_.-]+)$/;

/** Keys relative to one machine's directory (`object`, `metadata/<key>`) into its record. */
function machineFromKeys(id: string, kv: ReadonlyMap<string, string>, relPrefix: string): MachineRecord | undefined {
  const overrides = new Map<string, string>();
  for (const [k, v] of kv) {
    const m = k.startsWith(relPrefix) ? METADATA_REL.exec(k.slice(relPrefix.length)) : null;
    if (m) overrides.set(m[1], v);
  }
  return buildMachine(id, kv.get(`${relPrefix}object`), overrides);
}

export function machinesProjection(keys: Keyspace): Projection<MachineRecord> {
  return {
    dir: keys.machinesDir,
    group(rel) {
      const i = rel.indexOf('/');
      if (i < 0) return undefined;
      const id = rel.slice(0, i);
      const rest = rel.slice(i + 1);
      return isSegment(id) && (rest === 'object' || METADATA_REL.test(rest)) ? id : undefined;
    },
    build: (id, kv) => machineFromKeys(id, kv, `${id}/`),
  };
}

/** One machine only (`P/machines/<id>/`): what its own agent watches. */
export function machineProjection(keys: Keyspace, machineId: string): Projection<MachineRecord> {
  return {
    dir: keys.machineDir(machineId),
    group: (rel) => (rel === 'object' || METADATA_REL.test(rel) ? machineId : undefined),
    build: (id, kv) => machineFromKeys(id, kv, ''),
  };
}

export function statesProjection(keys: Keyspace): Projection<UnitState> {
  return {
    dir: keys.statesDir,
    group: (rel) => (pair(rel) ? rel : undefined),
    build(rel, kv) {
      const [name, machineId] = pair(rel) as [string, string];
      const raw = kv.get(rel);
      const s = raw === undefined ? undefined : decodeUnitState(raw);
      return s && { ...s, name, machineId };
    },
  };
}

export { Projector };

/** Applies a projection to the result of a range read. */
export function project<V>(p: Projection<V>, kvs: readonly IKeyValue[]): Map<string, V> {
  const x = new Projector(p);
  x.add(kvs);
  return x.result();
}
