import type { ApiUnitState } from '../../fleetd/api/schema.js';

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** fleet's order of unit states: by unit name, then machine id. */
export function sortStates(states: ApiUnitState[]): ApiUnitState[] {
  return states.sort((a, b) => cmp(a.name, b.name) || cmp(a.machineID ?? '', b.machineID ?? ''));
}

export function sortByName<T extends { name: string }>(items: T[]): T[] {
  return items.sort((a, b) => cmp(a.name, b.name));
}
