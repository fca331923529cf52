/** The unit model: parse, serialize, hash, name rules, [X-Fleet] requirements. */
export * from './types.js';
export { RequirementsError, ReservedUnitNameError, UnitFileError, UnitHashError, UnitNameError } from './errors.js';
export type { RequirementsRule, UnitNameRule } from './errors.js';
export { MAX_UNIT_FILE_BYTES, isValidSectionName, logicalValue, parseUnitFile, splitMultiValue } from './parse.js';
export { serializeUnitFile } from './serialize.js';
export { hashFromBytes, hashToBytes, isUnitHash, shortHash, unitHash } from './hash.js';
export {
  MANGLE_UNIT_TYPES, MAX_UNIT_NAME_BYTES, TEMPLATE_UNIT_TYPES, UNMANAGEABLE_UNIT_TYPES, VALID_UNIT_TYPES,
  checkManageableUnitName, isValidUnitName, mangleUnitName, parseUnitName, templateName, unmanageableReason, validateUnitName,
} from './names.js';
export type { UnitNameInfo, UnitType } from './names.js';
export { globMatch, globMatcher, isLiteralGlob, isValidGlob } from './glob.js';
export {
  LEGACY_X_FLEET_KEYS, MAX_X_FLEET_REQUIREMENTS, checkRequirementBounds, MAX_X_FLEET_VALUE_LENGTH, MAX_X_FLEET_VALUES, X_FLEET_KEYS,
   X_FLEET_SECTION, expandSpecifiers, RESCHEDULE_DEFAULT_ATTEMPTS, RESCHEDULE_DEFAULT_DELAY_SEC, RESCHEDULE_MAX_ATTEMPTS,
   RESCHEDULE_MAX_DELAY_SEC, isTruthy, parseRequirements,
} from './requirements.js';
export type { ParsedRequirements, UnknownOptionWarning, XFleetKey } from './requirements.js';
export {
  INSTALL_NAME_OPTIONS, checkManageableUnit, describeUnit, hasSection, installNames, loadUnit, loadUnitFile, optionValues,
} from './unit.js';
export type { LoadedUnit } from './unit.js';
