/** [X-Fleet] requirements of stored units, read leniently so one odd unit never breaks a listing. */
import { parseRequirements } from './index.js';
import { NO_REQUIREMENTS, type Requirements, type UnitOption } from './types.js';

export function requirementsOf(name: string, options: readonly UnitOption[]): Requirements {
  try {
    return parseRequirements({ options }, name).requirements;
  } catch {
    const g = options.filter((o) => o.section === 'X-Fleet' && o.name === 'Global').pop();
    return { ...NO_REQUIREMENTS, global: g !== undefined && /^(1|t|true|y|yes|on)$/i.test(g.value) };
  }
}

export function isGlobalOptions(name: string, options: readonly UnitOption[]): boolean {
  return requirementsOf(name, options).global;
}
