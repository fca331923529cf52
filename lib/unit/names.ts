/** Unit names: fleet's validation (api/units.go ValidateName, tightened to systemd's 255 bytes), template and
 * instance parts, and fleetctl's mangling of command-line arguments. */
import { UnitNameError, type UnitNameRule } from './errors.js';

export const VALID_UNIT_TYPES = [
  'automount', 'busname', 'device', 'mount', 'path', 'scope', 'service',
  'slice', 'snapshot', 'socket', 'swap', 'target', 'timer',
] as const;
export type UnitType = (typeof VALID_UNIT_TYPES)[number];

/** Types that may carry `@` (templates and instances). */
export const TEMPLATE_UNIT_TYPES: readonly UnitType[] = ['path', 'service', 'socket', 'target', 'timer'];

/** Suffixes fleetctl recognises when mangling an argument; anything else gets `.service` appended. */
export const MANGLE_UNIT_TYPES: readonly UnitType[] = ['service', 'socket', 'timer', 'path', 'device', 'mount', 'automount'];

export const MAX_UNIT_NAME_BYTES = 255;

export interface UnitNameInfo {
  /** The full name, e.g. `foo@bar.service`. */
  readonly name: string;
  /** The name without its suffix (`%N`), e.g. `foo@bar`. */
  readonly base: string;
  /** Before the first `@`, or the whole base when there is none (`%p`), e.g. `foo`. */
  readonly prefix: string;
  /** Between the first `@` and the suffix for an instance (`%i`); undefined for plain units and templates. */
  readonly instance: string | undefined;
  readonly type: UnitType;
  /** `foo@.service` for templates and their instances; undefined for plain units. */
  readonly template: string | undefined;
  readonly isTemplate: boolean;
  readonly isInstance: boolean;
}

const VALID_CHAR = /^[a-zA-Z0-9:_.@\-\\]$/;

function isUnitType(s: string): s is UnitType {
  return (VALID_UNIT_TYPES as readonly string[]).includes(s);
}

/** Throws UnitNameError naming the first rule the name breaks. */
export function validateUnitName(name: string): void {
  const fail = (rule: UnitNameRule, reason: string): never => {
    throw new UnitNameError(name, rule, reason);
  };
  if (name === '') fail('empty', 'a unit name cannot be empty');
  if (name.includes('\0')) fail('nul', 'a unit name cannot contain a NUL byte');
  if (name.includes('/')) fail('path-separator', 'a unit name is a file name and cannot contain "/"');
  if (name === '.' || name === '..') fail('path-element', `${JSON.stringify(name)} is a directory reference, not a unit name`);
  const bytes = Buffer.byteLength(name, 'utf8');
  if (bytes > MAX_UNIT_NAME_BYTES) fail('too-long', `it is ${bytes} bytes long, the limit is ${MAX_UNIT_NAME_BYTES}`);
  let index = 0;
  for (const ch of name) {
    if (!VALID_CHAR.test(ch)) {
      fail('invalid-character', `character ${JSON.stringify(ch)} at position ${index} is not allowed (only a-z A-Z 0-9 : _ . @ - \\)`);
    }
    index += ch.length;
  }
  if (name.startsWith('@')) fail('leading-at', 'a unit name cannot start with "@" (the part before "@" is the template prefix)');
  if (name.startsWith('.')) fail('leading-dot', 'a unit name cannot start with "."');
  const dot = name.lastIndexOf('.');
  if (dot < 0) fail('no-suffix', `it has no type suffix; expected one of .${VALID_UNIT_TYPES.join(' .')}`);
  const type = name.slice(dot + 1);
  if (!isUnitType(type)) fail('unknown-type', `unknown unit type ${JSON.stringify(type)}; expected one of ${VALID_UNIT_TYPES.join(' ')}`);
  if (name.includes('@') && !TEMPLATE_UNIT_TYPES.includes(type as UnitType)) {
    fail('template-type', `"@" (template or instance) is only allowed for ${TEMPLATE_UNIT_TYPES.join(' ')} units, not ${type}`);
  }
}

export function isValidUnitName(name: string): boolean {
  try {
    validateUnitName(name);
    return true;
  } catch {
    return false;
  }
}

/** Validates the name and splits it: everything after the first `@` and before the last `.` is the instance. */
export function parseUnitName(name: string): UnitNameInfo {
  validateUnitName(name);
  const dot = name.lastIndexOf('.');
  const base = name.slice(0, dot);
  const type = name.slice(dot + 1) as UnitType;
  const at = base.indexOf('@');
  if (at < 0) {
    return { name, base, prefix: base, instance: undefined, type, template: undefined, isTemplate: false, isInstance: false };
  }
  const prefix = base.slice(0, at);
  const instance = base.slice(at + 1);
  return {
    name,
    base,
    prefix,
    instance: instance === '' ? undefined : instance,
    type,
    template: `${prefix}@.${type}`,
    isTemplate: instance === '',
    isInstance: instance !== '',
  };
}

/** `foo@bar.service` -> `foo@.service`; a template is returned as it is; a plain unit name is an error. */
export function templateName(instanceName: string): string {
  const info = parseUnitName(instanceName);
  if (info.template === undefined) {
    throw new UnitNameError(instanceName, 'not-an-instance', 'it is neither a template nor an instance (expected prefix@instance.type)');
  }
  return info.template;
}

/** fleetctl's argument mangling: the path's base name, plus `.service` unless it ends in a suffix fleetctl
 * recognises (`hello` -> `hello.service`, `dir/foo.service` -> `foo.service`, `foo.target` -> `foo.target.service`).
 * The result is not validated. */
export function mangleUnitName(arg: string): string {
  const base = pathBase(arg);
  return MANGLE_UNIT_TYPES.some((t) => base.endsWith(`.${t}`)) ? base : `${base}.service`;
}

/** Go's path.Base: last element after trailing slashes are removed; "" -> ".", all slashes -> "/". */
function pathBase(p: string): string {
  if (p === '') return '.';
  let end = p.length;
  while (end > 0 && p[end - 1] === '/') end--;
  if (end === 0) return '/';
  const trimmed = p.slice(0, end);
  return trimmed.slice(trimmed.lastIndexOf('/') + 1);
}
