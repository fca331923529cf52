/** Checks of one unit's [X-Fleet] requirements that need no cluster index. */
import type { Requirements } from '../unit/types.js';
import { globMatch } from '../unit/glob.js';
import type { SchedMachine } from './types.js';

/** The part of a unit that Conflicts checks need. */
export interface NamedRequirements {
  readonly name: string;
  readonly requirements: Requirements;
}

export function isLiteral(pattern: string): boolean {
  return !/[*?[\\]/.test(pattern);
}

export function anyGlobMatches(patterns: readonly string[], name: string): boolean {
  for (const p of patterns) {
    if (isLiteral(p) ? p === name : globMatch(p, name)) return true;
  }
  return false;
}

/** fleet accepts the full machine id or its 8-character short form. */
export function machineIdMatches(required: string, machineId: string): boolean {
  return required === machineId || machineId.slice(0, 8) === required;
}

/** Keys that constrain anything: a key with no values is no requirement. */
function metadataKeys(req: Requirements): string[] {
  return Object.keys(req.metadata)
    .filter((k) => (req.metadata[k]?.length ?? 0) > 0)
    .sort();
}

export function metadataSatisfied(req: Requirements, machine: SchedMachine): boolean {
  for (const key of Object.keys(req.metadata)) {
    const allowed = req.metadata[key]!;
    if (allowed.length === 0) continue;
    if (!Object.hasOwn(machine.metadata, key) || !allowed.includes(machine.metadata[key]!)) return false;
  }
  return true;
}

export function hasMetadataRequirement(req: Requirements): boolean {
  return metadataKeys(req).length > 0;
}

/** `region=eu, role=db|web`: keys AND'ed, values of one key OR'ed. */
export function describeMetadata(req: Requirements): string {
  return metadataKeys(req)
    .map((k) => `${k}=${req.metadata[k]!.join('|')}`)
    .join(', ');
}

/** What the machine lacks, e.g. `lacks MachineMetadata role=db (has role=web)`. */
export function metadataShortfall(req: Requirements, machine: SchedMachine): string | undefined {
  const missing: string[] = [];
  const has: string[] = [];
  for (const key of metadataKeys(req)) {
    const value = Object.hasOwn(machine.metadata, key) ? machine.metadata[key] : undefined;
    if (value !== undefined && req.metadata[key]!.includes(value)) continue;
    missing.push(`${key}=${req.metadata[key]!.join('|')}`);
    has.push(value === undefined ? `no ${key}` : `${key}=${value}`);
  }
  if (missing.length === 0) return undefined;
  return `lacks MachineMetadata ${missing.join(', ')} (has ${has.join(', ')})`;
}

/** Conflicts are checked both ways; a unit never conflicts with itself. */
export function conflicts(a: NamedRequirements, b: NamedRequirements): boolean {
  if (a.name === b.name) return false;
  return anyGlobMatches(a.requirements.conflicts, b.name) || anyGlobMatches(b.requirements.conflicts, a.name);
}

/** `a.service, b.service and 3 more` */
export function nameList(names: Iterable<string>, max = 3): string {
  const sorted = [...new Set(names)].sort();
  if (sorted.length <= max) {
    return sorted.length <= 1 ? (sorted[0] ?? '') : `${sorted.slice(0, -1).join(', ')} and ${sorted.at(-1)!}`;
  }
  return `${sorted.slice(0, max).join(', ')} and ${sorted.length - max} more`;
}
