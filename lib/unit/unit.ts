/** A named unit ready for the registry, the scheduler and the agent: validated, parsed, canonical, hashed. */
import { unitHash } from './hash.js';
import { ReservedUnitNameError, UnitFileError } from './errors.js';
import { checkManageableUnitName, unmanageableReason, validateUnitName } from './names.js';
import { MAX_UNIT_FILE_BYTES, logicalValue, parseUnitFile } from './parse.js';
import { expandSpecifiers, parseRequirements, type UnknownOptionWarning } from './requirements.js';
import { serializeUnitFile } from './serialize.js';
import type { Requirements, UnitFile } from './types.js';
import { errorMessage } from '../errors.js';

export interface LoadedUnit {
  readonly name: string;
  readonly file: UnitFile;
  /** Canonical serialization: what is stored and hashed. */
  readonly text: string;
  /** SHA-1 hex of `text`. */
  readonly hash: string;
  readonly requirements: Requirements;
  readonly warnings: readonly string[];
  /** the warnings of `warnings` about unknown [X-Fleet] keys, with the key */
  readonly unknownOptions: readonly UnknownOptionWarning[];
}

/** Throws UnitNameError, UnitFileError or RequirementsError. `source` names the file in errors (default: name). */
export function loadUnit(name: string, text: string | Uint8Array, source: string = name): LoadedUnit {
  validateUnitName(name);
  const file = parseUnitFile(text, source);
  return fromFile(name, file);
}

/** The same for options that are already parsed (e.g. received as fleet API options). */
export function loadUnitFile(name: string, file: UnitFile): LoadedUnit {
  validateUnitName(name);
  return fromFile(name, file);
}

function fromFile(name: string, file: UnitFile): LoadedUnit {
  const canonical = serializeUnitFile(file, name);
  // Options from the API must fit the same bound as a unit file (and etcd's request limit).
  const size = Buffer.byteLength(canonical, 'utf8');
  if (size > MAX_UNIT_FILE_BYTES) {
    throw new UnitFileError(`unit is ${size} bytes, more than the limit of ${MAX_UNIT_FILE_BYTES} bytes (1 MiB)`, { source: name });
  }
  const { requirements, warnings, unknownOptions } = parseRequirements(file, name);
  return { name, file, text: canonical, hash: unitHash(file), requirements, warnings, unknownOptions };
}

/** The first `[Unit] Description`, as fleet shows it; undefined when missing or empty. */
export function describeUnit(file: UnitFile): string | undefined {
  const d = file.options.find((o) => o.section === 'Unit' && o.name === 'Description');
  return d && d.value !== '' ? d.value : undefined;
}

/** Every value of `[section] name`, in file order. */
export function optionValues(file: UnitFile, section: string, name: string): string[] {
  return file.options.filter((o) => o.section === section && o.name === name).map((o) => o.value);
}

export function hasSection(file: UnitFile, section: string): boolean {
  return file.options.some((o) => o.section === section);
}

/** [Install] options whose values name other units that enabling this one links or enables. */
export const INSTALL_NAME_OPTIONS = ['Alias', 'Also'] as const;

/** Every unit named by the unit's [Install] Alias= and Also= (specifiers %n %N %p %i expanded), in file order. */
export function installNames(name: string, file: UnitFile): Array<{ option: string; target: string }> {
  const out: Array<{ option: string; target: string }> = [];
  for (const o of file.options) {
    if (o.section !== 'Install' || !(INSTALL_NAME_OPTIONS as readonly string[]).includes(o.name)) continue;
    for (const word of logicalValue(o.value).split(/\s+/)) if (word !== '') out.push({ option: o.name, target: expandSpecifiers(word, name) });
  }
  return out;
}

/**
 * The name policy applied to a whole unit: its name, and every unit its [Install] Alias= or Also= names (an
 * alias is a second name of the same unit, so a reserved alias replaces that unit just as the name would).
 * Throws UnitNameError (ReservedUnitNameError for reserved names).
 */
export function checkManageableUnit(name: string, file: UnitFile): void {
  checkManageableUnitName(name);
  for (const via of installNames(name, file)) {
    try {
      validateUnitName(via.target);
    } catch (err) {
      throw new ReservedUnitNameError(name, errorMessage(err), via);
    }
    const reason = unmanageableReason(via.target);
    if (reason !== undefined) throw new ReservedUnitNameError(name, reason, via);
  }
}
