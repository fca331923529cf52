/** A named unit ready for the registry, the scheduler and the agent: validated, parsed, canonical, hashed. */
import { unitHash } from './hash.js';
import { validateUnitName } from './names.js';
import { MAX_UNIT_FILE_BYTES, parseUnitFile } from './parse.js';
import { UnitFileError } from './errors.js';
import { parseRequirements } from './requirements.js';
import { serializeUnitFile } from './serialize.js';
import type { Requirements, UnitFile } from './types.js';

export interface LoadedUnit {
  readonly name: string;
  readonly file: UnitFile;
  /** Canonical serialization: what is stored and hashed. */
  readonly text: string;
  /** SHA-1 hex of `text`. */
  readonly hash: string;
  readonly requirements: Requirements;
  readonly warnings: readonly string[];
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
  const { requirements, warnings } = parseRequirements(file, name);
  return { name, file, text: canonical, hash: unitHash(file), requirements, warnings };
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
