/**
 * [X-Fleet] options into scheduling Requirements (fleet job/job.go and api/units.go ValidateOptions).
 *
 * Each value is split with splitMultiValue, then `%n %N %p %i` are expanded. Legacy keys are honoured with a
 * deprecation warning; unknown keys only warn. Empty values are ignored with a warning, except for Global,
 * where an empty value counts as false (last value wins).
 */
import { RequirementsError, type RequirementsRule } from './errors.js';
import { globMatcher, isValidGlob } from './glob.js';
import { isValidUnitName } from './names.js';
import { logicalValue, splitMultiValue } from './parse.js';
import type { ReschedulePolicy, Requirements, UnitFile } from './types.js';

export const X_FLEET_SECTION = 'X-Fleet';

export type XFleetKey =
  | 'MachineID' | 'MachineOf' | 'MachineMetadata' | 'Conflicts' | 'Global' | 'Replaces' | 'StopOnDisconnect'
  | 'Reschedule' | 'RescheduleAttempts' | 'RescheduleDelaySec'
  | 'X-ConditionMachineID' | 'X-ConditionMachineBootID' | 'X-ConditionMachineOf'
  | 'X-ConditionMachineMetadata' | 'X-Conflicts';

/** Legacy key -> the key to use instead. */
export const LEGACY_X_FLEET_KEYS: Readonly<Partial<Record<XFleetKey, XFleetKey>>> = {
  'X-ConditionMachineID': 'MachineID',
  'X-ConditionMachineBootID': 'MachineID',
  'X-ConditionMachineOf': 'MachineOf',
  'X-ConditionMachineMetadata': 'MachineMetadata',
  'X-Conflicts': 'Conflicts',
};

export const X_FLEET_KEYS: readonly XFleetKey[] = [
  'MachineID', 'MachineOf', 'MachineMetadata', 'Conflicts', 'Global', 'Replaces', 'StopOnDisconnect',
  'Reschedule', 'RescheduleAttempts', 'RescheduleDelaySec',
  'X-ConditionMachineID', 'X-ConditionMachineBootID', 'X-ConditionMachineOf',
  'X-ConditionMachineMetadata', 'X-Conflicts',
];

/**
 * Bounds on what one unit may ask of the scheduler, far above what a person writes and low enough that no unit
 * can make a scheduling pass or a dry run expensive: the scheduler matches every Conflicts/Replaces glob against
 * unit names, so its work grows with globs × names × glob length. A unit over a bound is refused with a
 * RequirementsError naming the option and the bound: at submission (API, fleetctl) and, for a unit that reached
 * etcd some other way, by the engine and the agents, which treat it as unschedulable.
 */
/** Distinct values of one option (MachineOf peers, Conflicts globs, Replaces globs, MachineMetadata pairs). */
export const MAX_X_FLEET_VALUES = 32;
/**
 * Characters of one value after specifier expansion (one glob, one peer name, one key=value pair, a machine ID):
 * a unit name (at most 255 bytes) with room for a glob's brackets and escapes.
 */
export const MAX_X_FLEET_VALUE_LENGTH = 320;
/** Distinct values of all [X-Fleet] options of one unit together. */
export const MAX_X_FLEET_REQUIREMENTS = 64;

/** Ours: Reschedule=on-failure (docs/fleet-compat.md#reschedule-on-failure-ours). Defaults and bounds. */
export const RESCHEDULE_DEFAULT_ATTEMPTS = 3;
export const RESCHEDULE_MAX_ATTEMPTS = 10;
export const RESCHEDULE_DEFAULT_DELAY_SEC = 10;
export const RESCHEDULE_MAX_DELAY_SEC = 3600;
/** Options that hold one value, not a list: they are not counted against the list bounds. */
const SINGLE_VALUE_KEYS: ReadonlySet<XFleetKey> = new Set(['Global', 'StopOnDisconnect', 'Reschedule', 'RescheduleAttempts', 'RescheduleDelaySec']);

const TRUTHY = new Set(['true', 'yes', '1', 'on', 't']);
const FALSY = new Set(['false', 'no', '0', 'off', 'f']);

/** fleet's Global test: `true yes 1 on t`, any case. */
export function isTruthy(value: string): boolean {
  return TRUTHY.has(value.toLowerCase());
}

/** The warning for an [X-Fleet] key the parser does not know, with that key (fleetctl words it as fleet did). */
export interface UnknownOptionWarning {
  readonly key: string;
  /** the same string as in `warnings` */
  readonly warning: string;
}

export interface ParsedRequirements {
  readonly requirements: Requirements;
  readonly warnings: string[];
  /** the subset of `warnings` about unknown [X-Fleet] keys, once per key */
  readonly unknownOptions: UnknownOptionWarning[];
}

/** The names the specifiers expand to; lenient (fleet's UnitNameInfo), so any name gives an answer. */
function specifierValues(name: string): Record<'n' | 'N' | 'p' | 'i', string> {
  const dot = name.lastIndexOf('.');
  const base = dot < 0 ? name : name.slice(0, dot);
  const at = base.indexOf('@');
  return { n: name, N: base, p: at < 0 ? base : base.slice(0, at), i: at < 0 ? '' : base.slice(at + 1) };
}

/** Replaces `%n` (full name), `%N` (name without suffix), `%p` (prefix before `@`), `%i` (instance); other `%`
 * sequences stay as they are, as in fleet (there is no `%%` escape). */
export function expandSpecifiers(value: string, unitName: string): string {
  const v = specifierValues(unitName);
  return value.replace(/%([nNpi])/g, (_, k: 'n' | 'N' | 'p' | 'i') => v[k]);
}

export function parseRequirements(unit: UnitFile, name: string): ParsedRequirements {
  const warnings: string[] = [];
  const unknownOptions: UnknownOptionWarning[] = [];
  const warn = (msg: string): string => {
    const w = `${name}: [${X_FLEET_SECTION}] ${msg}`;
    warnings.push(w);
    return w;
  };
  const values = new Map<XFleetKey, string[]>();

  for (const opt of unit.options) {
    if (opt.section !== X_FLEET_SECTION) {
      if (opt.section.toLowerCase() === X_FLEET_SECTION.toLowerCase() && opt.section !== X_FLEET_SECTION) {
        warnings.push(`${name}: section [${opt.section}] is ignored; fleet reads only [${X_FLEET_SECTION}] (the name is case-sensitive)`);
      }
      continue;
    }
    const key = opt.name;
    if (!(X_FLEET_KEYS as readonly string[]).includes(key)) {
      const hint = X_FLEET_KEYS.find((k) => k.toLowerCase() === key.toLowerCase());
      const w = warn(`unknown option ${JSON.stringify(key)} is ignored${hint ? `; did you mean ${hint}? (keys are case-sensitive)` : ''}`);
      if (!unknownOptions.some((u) => u.key === key)) unknownOptions.push({ key, warning: w });
      continue;
    }
    const known = key as XFleetKey;
    const legacy = LEGACY_X_FLEET_KEYS[known];
    if (legacy) warn(`${known} is deprecated; use ${legacy}`);
    for (const raw of splitMultiValue(logicalValue(opt.value))) {
      const unknownSpecifier = /%[a-zA-Z]/.exec(raw.replace(/%[nNpi]/g, ''));
      if (unknownSpecifier) warn(`${known}=${raw}: specifier ${unknownSpecifier[0]} is not expanded (fleet expands only %n %N %p %i)`);
      const list = values.get(known) ?? [];
      list.push(expandSpecifiers(raw, name));
      values.set(known, list);
    }
  }

  checkBounds(name, values);

  const get = (...keys: XFleetKey[]): string[] => {
    const out: string[] = [];
    for (const k of keys) {
      for (const v of values.get(k) ?? []) {
        if (v === '' && !SINGLE_VALUE_KEYS.has(k)) warn(`empty ${k}= is ignored`);
        else out.push(v);
      }
    }
    return out;
  };

  const machineId = machineIdOf(get('MachineID'), get('X-ConditionMachineID'), get('X-ConditionMachineBootID'), warn);
  const machineOf = unique(get('X-ConditionMachineOf', 'MachineOf'));
  for (const peer of machineOf) {
    if (peer === name) warn(`MachineOf=${peer} names the unit itself; it can never be scheduled`);
    else if (!isValidUnitName(peer)) warn(`MachineOf=${peer} is not a valid unit name; the unit can never be scheduled`);
  }

  const metadata = new Map<string, string[]>();
  for (const pair of get('X-ConditionMachineMetadata', 'MachineMetadata')) {
    const parts = pair.split('=');
    if (parts.length !== 2 || parts[0] === '' || parts[1] === '') {
      warn(`MachineMetadata value ${JSON.stringify(pair)} is ignored: expected key=value with a non-empty key and value`);
      continue;
    }
    const [k, v] = parts as [string, string];
    const list = metadata.get(k) ?? [];
    if (!list.includes(v)) list.push(v);
    metadata.set(k, list);
  }

  const conflicts = unique(get('X-Conflicts', 'Conflicts').flatMap((v) => v.split(/[ \t]+/).filter((g) => g !== '')));
  const replaces = unique(get('Replaces'));
  for (const r of replaces) {
    if (/[ \t]/.test(r)) warn(`Replaces=${r} is one glob containing blanks and can match no unit; use one Replaces= line a unit`);
  }
  for (const [key, globs] of [['Conflicts', conflicts], ['Replaces', replaces]] as const) {
    for (const g of globs) if (!isValidGlob(g)) warn(`${key}=${g} is not a valid glob and matches nothing`);
  }

  const flag = (key: 'Global' | 'StopOnDisconnect'): boolean => {
    const all = get(key);
    const last = all[all.length - 1];
    if (last === undefined) return false;
    const on = isTruthy(last);
    if (!on && last !== '' && !FALSY.has(last.toLowerCase())) {
      warn(`${key}=${last} is not a recognised boolean and counts as false (true: true yes 1 on t)`);
    }
    return on;
  };
  const global = flag('Global');
  let stopOnDisconnect = flag('StopOnDisconnect');
  if (stopOnDisconnect && global) {
    warn('StopOnDisconnect is ignored for a Global unit: no other machine takes its place');
    stopOnDisconnect = false;
  }

  let reschedule = reschedulePolicy(name, get('Reschedule'), get('RescheduleAttempts'), get('RescheduleDelaySec'), warn);
  if (reschedule && global) {
    warn('Reschedule is ignored for a Global unit: it runs on every machine already');
    reschedule = undefined;
  }

  const requirements: Requirements = {
    ...(machineId !== undefined ? { machineId } : {}),
    machineOf,
    metadata: Object.fromEntries(metadata),
    conflicts,
    replaces,
    global,
    ...(stopOnDisconnect ? { stopOnDisconnect } : {}),
    ...(reschedule ? { reschedule } : {}),
  };
  checkCombinations(name, requirements);
  return { requirements, warnings: unique(warnings), unknownOptions };
}

/**
 * Only the bounds of parseRequirements (RequirementsError when over), in time linear in the options: for callers
 * that must refuse an oversized unit before doing anything costly with it.
 */
export function checkRequirementBounds(unit: UnitFile, name: string): void {
  const values = new Map<XFleetKey, string[]>();
  for (const opt of unit.options) {
    if (opt.section !== X_FLEET_SECTION || !(X_FLEET_KEYS as readonly string[]).includes(opt.name)) continue;
    const key = opt.name as XFleetKey;
    const list = values.get(key) ?? [];
    for (const raw of splitMultiValue(logicalValue(opt.value))) list.push(expandSpecifiers(raw, name));
    values.set(key, list);
  }
  checkBounds(name, values);
}

/**
 * The bounds above, on the values as the scheduler will see them (split, specifiers expanded, legacy keys merged
 * into their modern ones), checked before any of them is compiled or matched. Duplicates count once.
 */
function checkBounds(name: string, values: ReadonlyMap<XFleetKey, string[]>): void {
  const fail = (rule: RequirementsRule, reason: string): never => {
    throw new RequirementsError(name, rule, reason);
  };
  const perKey = new Map<XFleetKey, Set<string>>();
  for (const [key, list] of values) {
    const modern = LEGACY_X_FLEET_KEYS[key] ?? key;
    if (SINGLE_VALUE_KEYS.has(modern)) continue;
    let set = perKey.get(modern);
    if (!set) perKey.set(modern, (set = new Set()));
    for (const v of list) {
      for (const one of modern === 'Conflicts' ? v.split(/[ \t]+/) : [v]) {
        if (one === '') continue;
        if (one.length > MAX_X_FLEET_VALUE_LENGTH) {
          fail('value-too-long', `${modern} value ${JSON.stringify(one.slice(0, 40) + '...')} is ${one.length} characters long; at most ${MAX_X_FLEET_VALUE_LENGTH} are allowed`);
        }
        set.add(one);
      }
    }
  }
  let total = 0;
  for (const [key, set] of perKey) {
    if (set.size > MAX_X_FLEET_VALUES) fail('too-many-values', `${key} has ${set.size} distinct values; at most ${MAX_X_FLEET_VALUES} are allowed`);
    total += set.size;
  }
  if (total > MAX_X_FLEET_REQUIREMENTS) {
    const parts = [...perKey].filter(([, set]) => set.size > 0).map(([k, set]) => `${k} ${set.size}`);
    fail('too-many-requirements', `has ${total} distinct values in all (${parts.join(', ')}); at most ${MAX_X_FLEET_REQUIREMENTS} are allowed for one unit`);
  }
}

/**
 * Reschedule=on-failure|no (last value wins; empty = no), RescheduleAttempts=1..10 (default 3),
 * RescheduleDelaySec=1..3600 (default 10). A value outside these is a RequirementsError, so it is refused at
 * submission; the two numbers without Reschedule=on-failure only warn.
 */
function reschedulePolicy(
  name: string,
  mode: string[],
  attempts: string[],
  delay: string[],
  warn: (m: string) => void,
): ReschedulePolicy | undefined {
  const fail = (reason: string): never => {
    throw new RequirementsError(name, 'bad-reschedule', reason);
  };
  const last = mode[mode.length - 1];
  const on = last !== undefined && last.toLowerCase() === 'on-failure';
  if (last !== undefined && !on && last !== '' && last.toLowerCase() !== 'no') {
    fail(`Reschedule=${last} is not supported: use on-failure or no`);
  }
  const number = (key: string, values: string[], fallback: number, max: number): number => {
    const v = values[values.length - 1];
    if (v === undefined || v === '') return fallback;
    if (!/^[0-9]+$/.test(v) || Number(v) < 1 || Number(v) > max) {
      fail(`${key}=${v} must be a whole number from 1 to ${max}`);
    }
    return Number(v);
  };
  const policy: ReschedulePolicy = {
    attempts: number('RescheduleAttempts', attempts, RESCHEDULE_DEFAULT_ATTEMPTS, RESCHEDULE_MAX_ATTEMPTS),
    delaySec: number('RescheduleDelaySec', delay, RESCHEDULE_DEFAULT_DELAY_SEC, RESCHEDULE_MAX_DELAY_SEC),
  };
  if (!on) {
    if (attempts.length > 0 || delay.length > 0) warn('RescheduleAttempts and RescheduleDelaySec are ignored without Reschedule=on-failure');
    return undefined;
  }
  return policy;
}

function machineIdOf(modern: string[], legacy: string[], boot: string[], warn: (m: string) => void): string | undefined {
  const ids = modern.length > 0 ? modern : legacy.length > 0 ? legacy : boot;
  const first = ids[0];
  if (first === undefined) return undefined;
  if (new Set(ids).size > 1) warn(`several machine IDs given (${ids.join(', ')}); only the first, ${first}, is used`);
  if (!/^(?:[0-9a-f]{8}|[0-9a-f]{32})$/.test(first)) {
    warn(`MachineID=${first} is neither a 32-character machine ID nor its 8-character prefix; it will match no machine`);
  }
  return first;
}

function checkCombinations(name: string, r: Requirements): void {
  const fail = (rule: RequirementsRule, reason: string): never => {
    throw new RequirementsError(name, rule, reason);
  };
  const conflicts = r.machineOf.length > 0 ? r.conflicts.map((g) => ({ g, match: globMatcher(g) })) : [];
  const replaces = r.machineOf.length > 0 ? r.replaces.map((g) => ({ g, match: globMatcher(g) })) : [];
  for (const peer of r.machineOf) {
    const c = conflicts.find((x) => x.match(peer))?.g;
    if (c !== undefined) {
      fail('MachineOf-matches-Conflicts', `unresolvable requirements: MachineOf peer ${JSON.stringify(peer)} matches Conflicts glob ${JSON.stringify(c)}; the unit must both share and not share a machine with it`);
    }
    const rp = replaces.find((x) => x.match(peer))?.g;
    if (rp !== undefined) {
      fail('MachineOf-matches-Replaces', `unresolvable requirements: MachineOf peer ${JSON.stringify(peer)} matches Replaces glob ${JSON.stringify(rp)}; the unit must both join it and push it off its machine`);
    }
  }
  const pinned = r.machineId !== undefined;
  const hasPeers = r.machineOf.length > 0;
  const hasConflicts = r.conflicts.length > 0;
  const hasReplaces = r.replaces.length > 0;
  if (pinned && hasPeers) fail('MachineID+MachineOf', 'MachineID cannot be used with MachineOf: a unit pinned to one machine cannot also follow its peers');
  if (pinned && hasConflicts) fail('MachineID+Conflicts', 'MachineID cannot be used with Conflicts: a unit pinned to one machine cannot avoid other units');
  if (pinned && r.global) fail('MachineID+Global', 'MachineID cannot be used with Global: a global unit runs on every machine');
  if (pinned && hasReplaces) fail('MachineID+Replaces', 'MachineID cannot be used with Replaces: a unit pinned to one machine cannot take another unit\'s machine');
  if (r.global && hasPeers) fail('Global+MachineOf', 'Global cannot be used with MachineOf: a global unit runs on every machine regardless of peers');
  if (r.global && hasReplaces) fail('Global+Replaces', 'Global cannot be used with Replaces: a global unit is not scheduled, so it cannot take a machine from another unit');
  if (hasConflicts && hasReplaces) fail('Conflicts+Replaces', 'Conflicts cannot be used with Replaces');
}

function unique(xs: string[]): string[] {
  return [...new Set(xs)];
}
