import type { ApiUnitState } from '../../lib/api/schema.js';
import { compareStrings } from '../../lib/compare.js';

/** fleet's order of unit states: by unit name, then machine id. */
export function sortStates(states: ApiUnitState[]): ApiUnitState[] {
  return states.sort((a, b) => compareStrings(a.name, b.name) || compareStrings(a.machineID ?? '', b.machineID ?? ''));
}

export function sortByName<T extends { name: string }>(items: T[]): T[] {
  return items.sort((a, b) => compareStrings(a.name, b.name));
}
