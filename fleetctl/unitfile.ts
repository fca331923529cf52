/** fleetctl's view of unit files: lib/unit applied to API options and local files. */
import {
  checkManageableUnit,
  describeUnit,
  loadUnitFile,
  mangleUnitName,
  MANGLE_UNIT_TYPES,
  parseUnitFile,
  parseUnitName,
  serializeUnitFile,
  unitHash,
  type LoadedUnit,
} from '../lib/unit/index.js';
import { isGlobalOptions } from '../lib/unit/lenient-requirements.js';
import type { ApiUnitOption } from './client/types.js';
import { toApiOptions } from '../lib/api/schema.js';

/** `dir/hello` -> `hello.service`: the unit name an argument stands for. */
export function mangleName(arg: string): string {
  return mangleUnitName(arg);
}

/** fleet's maybeAppendDefaultUnitType: the argument with `.service` appended unless it has a known suffix. */
export function withDefaultType(arg: string): string {
  return MANGLE_UNIT_TYPES.some((t) => arg.endsWith(`.${t}`)) ? arg : `${arg}.service`;
}

export function optionsFromText(text: string | Uint8Array, source: string): ApiUnitOption[] {
  return toApiOptions(parseUnitFile(text, source).options);
}

export function textOfOptions(options: readonly ApiUnitOption[]): string {
  return serializeUnitFile({ options });
}

export function hashOfOptions(options: readonly ApiUnitOption[]): string {
  return unitHash({ options });
}

export function isGlobalUnit(options: readonly ApiUnitOption[], name = 'unit.service'): boolean {
  return isGlobalOptions(name, options);
}

export function descriptionOf(options: readonly ApiUnitOption[]): string {
  return describeUnit({ options }) ?? '';
}

/** For an instance `foo@bar.service`, its template `foo@.service`; undefined otherwise (or for invalid names). */
export function templateOf(name: string): string | undefined {
  try {
    const info = parseUnitName(name);
    return info.isInstance ? info.template : undefined;
  } catch {
    return undefined;
  }
}

/** Client-side checks before creating (like fleetctl's createUnit): throws on a bad name or options. */
export function validateNewUnit(name: string, options: readonly ApiUnitOption[]): Pick<LoadedUnit, 'warnings' | 'unknownOptions'> {
  const loaded = loadUnitFile(name, { options });
  checkManageableUnit(name, loaded.file);
  return { warnings: loaded.warnings, unknownOptions: loaded.unknownOptions };
}
