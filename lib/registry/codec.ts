/**
 * JSON values stored in etcd. Encoders emit fields in a fixed order because schedule transactions compare
 * stored values byte for byte (see docs/registry.md). Decoders return undefined for anything malformed.
 */
import { isJsonObject, parseJsonObject } from '../json.js';
import { isUnitHash } from '../unit/hash.js';
import { DESIRED_STATES } from '../unit/types.js';
import type {
  DesiredState,
  GlobalUnitEntry,
  LeaderRecord,
  MachineState,
  ScheduleEntry,
  ScheduledState,
  UnitState,
} from './types.js';
import { isSegment } from './keys.js';


export function isDesiredState(v: unknown): v is DesiredState {
  return typeof v === 'string' && (DESIRED_STATES as readonly string[]).includes(v);
}

export function isScheduledState(v: unknown): v is ScheduledState {
  return v === 'loaded' || v === 'launched';
}

function isHash(v: unknown): v is string {
  return typeof v === 'string' && isUnitHash(v);
}

export interface JobObject {
  readonly name: string;
  readonly hash: string;
  readonly global: boolean;
}

export function encodeJobObject(o: JobObject): string {
  return JSON.stringify({ name: o.name, hash: o.hash, global: o.global });
}

export function decodeJobObject(raw: string): JobObject | undefined {
  const o = parseJsonObject(raw);
  if (!o || typeof o.name !== 'string' || !isHash(o.hash) || typeof o.global !== 'boolean') return undefined;
  return { name: o.name, hash: o.hash, global: o.global };
}

export function encodeScheduleEntry(e: { hash: string; desiredState: ScheduledState }): string {
  return JSON.stringify({ hash: e.hash, desiredState: e.desiredState });
}

export function decodeScheduleEntry(name: string, raw: string): ScheduleEntry | undefined {
  const o = parseJsonObject(raw);
  if (!o || !isHash(o.hash) || !isScheduledState(o.desiredState)) return undefined;
  return { name, hash: o.hash, desiredState: o.desiredState };
}

export function encodeGlobalEntry(e: { hash: string; desiredState: DesiredState }): string {
  return JSON.stringify({ hash: e.hash, desiredState: e.desiredState });
}

export function decodeGlobalEntry(name: string, raw: string): GlobalUnitEntry | undefined {
  const o = parseJsonObject(raw);
  if (!o || !isHash(o.hash) || !isDesiredState(o.desiredState)) return undefined;
  return { name, hash: o.hash, desiredState: o.desiredState };
}

/** A global unit's hash override on one machine (keys.globalMachine). */
export function encodeGlobalMachineHash(o: { hash: string }): string {
  return JSON.stringify({ hash: o.hash });
}

export function decodeGlobalMachineHash(raw: string): { hash: string } | undefined {
  const o = parseJsonObject(raw);
  return o && isHash(o.hash) ? { hash: o.hash } : undefined;
}

function sortedStrings(rec: Readonly<Record<string, string>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of Object.keys(rec).sort()) out[k] = rec[k];
  return out;
}

export function encodeMachineState(m: MachineState): string {
  return JSON.stringify({
    id: m.id,
    publicIP: m.publicIP,
    metadata: sortedStrings(m.metadata),
    version: m.version,
    disableEngine: m.disableEngine,
    ...(m.instance !== undefined ? { instance: m.instance } : {}),
  });
}

export function decodeMachineState(raw: string): MachineState | undefined {
  const o = parseJsonObject(raw);
  if (!o || typeof o.id !== 'string' || !isSegment(o.id)) return undefined;
  const md: Record<string, string> = {};
  if (o.metadata !== undefined) {
    if (!isJsonObject(o.metadata)) return undefined;
    for (const [k, v] of Object.entries(o.metadata)) {
      if (typeof v === 'string') md[k] = v;
    }
  }
  return {
    id: o.id,
    publicIP: typeof o.publicIP === 'string' ? o.publicIP : '',
    metadata: sortedStrings(md),
    version: typeof o.version === 'string' ? o.version : '',
    disableEngine: o.disableEngine === true,
    ...(typeof o.instance === 'string' ? { instance: o.instance } : {}),
  };
}

/** Published metadata with the API overrides applied ("" deletes a key), keys sorted. */
export function mergeMetadata(
  published: Readonly<Record<string, string>>,
  overrides: ReadonlyMap<string, string>,
): Record<string, string> {
  const md: Record<string, string> = { ...published };
  for (const [k, v] of overrides) {
    if (v === '') delete md[k];
    else md[k] = v;
  }
  return sortedStrings(md);
}

export function encodeUnitState(s: UnitState): string {
  return JSON.stringify({
    name: s.name,
    machineID: s.machineId,
    hash: s.hash,
    loadState: s.loadState,
    activeState: s.activeState,
    subState: s.subState,
    agentState: s.agentState,
  });
}

export function decodeUnitState(raw: string): UnitState | undefined {
  const o = parseJsonObject(raw);
  if (!o || typeof o.name !== 'string' || typeof o.machineID !== 'string' || !isScheduledState(o.agentState)) {
    return undefined;
  }
  const str = (v: unknown): string => (typeof v === 'string' ? v : '');
  return {
    name: o.name,
    machineId: o.machineID,
    hash: str(o.hash),
    loadState: str(o.loadState),
    activeState: str(o.activeState),
    subState: str(o.subState),
    agentState: o.agentState,
  };
}

/** An agent's refusal (keys.jobRefusal): the refused contents and why. */
export function encodeRefusal(r: { hash: string; reason: string }): string {
  return JSON.stringify({ hash: r.hash, reason: r.reason });
}

export function decodeRefusal(raw: string): { hash: string; reason: string } | undefined {
  const o = parseJsonObject(raw);
  if (!o || typeof o.hash !== 'string' || typeof o.reason !== 'string') return undefined;
  return { hash: o.hash, reason: o.reason };
}

/** A unit's failure on one machine (keys.jobFailure): the failed contents, when, and the attempts they allow. */
export function encodeFailure(f: { hash: string; at: string; attempts: number }): string {
  return JSON.stringify({ hash: f.hash, at: f.at, attempts: f.attempts });
}

export function decodeFailure(raw: string): { hash: string; at: string; attempts: number } | undefined {
  const o = parseJsonObject(raw);
  if (!o || typeof o.hash !== 'string' || typeof o.at !== 'string' || Number.isNaN(Date.parse(o.at))) return undefined;
  if (typeof o.attempts !== 'number' || !Number.isInteger(o.attempts) || o.attempts < 0) return undefined;
  return { hash: o.hash, at: o.at, attempts: o.attempts };
}

export function encodeLeaderRecord(r: LeaderRecord): string {
  return JSON.stringify({ machineId: r.machineId, since: r.since });
}

/** The engine leader record; undefined unless it names a machine id and a parseable `since`. */
export function decodeLeaderRecord(raw: string): LeaderRecord | undefined {
  const o = parseJsonObject(raw);
  if (!o || typeof o.machineId !== 'string' || !isSegment(o.machineId)) return undefined;
  if (typeof o.since !== 'string' || Number.isNaN(Date.parse(o.since))) return undefined;
  return { machineId: o.machineId, since: o.since };
}
