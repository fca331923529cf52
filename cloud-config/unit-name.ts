/** systemd unit names as coreos.units[].name accepts them, and where such a unit's files live. */

export const SYSTEMD_UNIT_TYPES = [
  'service',
  'socket',
  'target',
  'timer',
  'path',
  'mount',
  'automount',
  'swap',
  'device',
  'slice',
  'scope',
] as const;

/** Files for systemd-networkd: they live in `systemd/network/`, cannot be enabled and have no commands. */
export const NETWORK_UNIT_TYPES = ['network', 'netdev', 'link'] as const;

const MAX_NAME = 255;
const NAME_CHARS = /^[A-Za-z0-9:_.\\-]+$/;

export function unitType(name: string): string {
  const dot = name.lastIndexOf('.');
  return dot < 0 ? '' : name.slice(dot + 1);
}

export function isNetworkUnit(name: string): boolean {
  return (NETWORK_UNIT_TYPES as readonly string[]).includes(unitType(name));
}

/** Why `name` is not a usable unit name, or undefined when it is. */
export function unitNameProblem(name: string): string | undefined {
  const q = JSON.stringify(name);
  if (name === '') return 'must not be empty';
  if (name.length > MAX_NAME) return `${q} is longer than ${MAX_NAME} characters`;
  const type = unitType(name);
  const types = [...SYSTEMD_UNIT_TYPES, ...NETWORK_UNIT_TYPES];
  if (!(types as string[]).includes(type)) {
    return `${q} does not end in a unit type (one of ${types.map((t) => '.' + t).join(' ')})`;
  }
  const stem = name.slice(0, name.length - type.length - 1);
  const at = stem.indexOf('@');
  const prefix = at < 0 ? stem : stem.slice(0, at);
  const instance = at < 0 ? '' : stem.slice(at + 1);
  if (prefix === '') return `${q} has nothing before the type suffix or "@"`;
  if (!NAME_CHARS.test(prefix) || (instance !== '' && !NAME_CHARS.test(instance))) {
    return `${q} contains characters not allowed in unit names (allowed: letters, digits and ":-_.\\", one "@")`;
  }
  return undefined;
}

/** Directory holding the unit file, relative to the target root: /etc or /run, then systemd/system or systemd/network. */
export function unitDirectory(name: string, runtime: boolean): string {
  return `/${runtime ? 'run' : 'etc'}/systemd/${isNetworkUnit(name) ? 'network' : 'system'}`;
}

export function unitPath(name: string, runtime: boolean): string {
  return `${unitDirectory(name, runtime)}/${name}`;
}

export function dropInPath(unit: string, runtime: boolean, dropIn: string): string {
  return `${unitDirectory(unit, runtime)}/${unit}.d/${dropIn}`;
}
