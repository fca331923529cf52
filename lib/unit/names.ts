/** Unit names: fleet's validation (api/units.go ValidateName, tightened to systemd's 255 bytes), template and
 * instance parts, fleetctl's mangling of command-line arguments, and the names fleet must never manage
 * (unmanageableReason: one policy for the API, fleetctl and the agent). */
import { ReservedUnitNameError, UnitNameError, type UnitNameRule } from './errors.js';

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

// ---- names fleet must never manage ----
//
// A unit fleet writes is linked into /run/systemd/system, which takes precedence over /etc and /lib: a fleet unit
// with the name of a host unit replaces it, and destroying it stops that unit. The static policy below refuses the
// names that belong to fleet, systemd or D-Bus on every host, whatever is installed; the agent additionally refuses
// any name its machine's systemd already knows from elsewhere (fleetd/agent/host-units.ts).

/**
 * Types an agent cannot own, whatever the name. Each value says why (it ends the refusal message).
 * Every other type (service, socket, timer, path, target, mount, automount) is a plain unit file fleet can own.
 */
export const UNMANAGEABLE_UNIT_TYPES: Readonly<Partial<Record<UnitType, string>>> = {
  scope: 'scope units are created by the service manager at run time for processes it did not start (init.scope is PID 1 itself); a unit file cannot define one, only shadow one',
  slice: 'slice units form the machine-wide cgroup tree (-.slice, system.slice, user.slice, machine.slice and their children); owning one would set the resource limits of host processes, and stopping it stops every unit inside it',
  device: 'device units are generated by systemd from the kernel\'s devices (udev); they stand for hardware of the host and cannot be defined by a file',
  swap: 'swap units switch the host\'s swap on and off; stopping one takes memory away from every process of the machine',
  snapshot: 'snapshot units exist only at run time (systemctl snapshot, gone since systemd 228); a file cannot define one',
  busname: 'busname units belonged to kdbus (gone since systemd 230); bus names are D-Bus\'s business',
};

/** Base names (before the type, or the template prefix for instances) reserved in every type. */
const RESERVED_PREFIXES: ReadonlyArray<readonly [RegExp, string]> = [
  [/^fleetd?$/, 'it is fleet\'s own unit (fleetd would replace or stop itself)'],
  [/^systemd($|-)/, 'the "systemd" and "systemd-" names belong to systemd itself'],
  [/^dbus($|-)/, 'the "dbus" and "dbus-" names belong to D-Bus (replacing them takes the system bus and fleetd down)'],
  [/^-/, 'names starting with "-" stand for the root of a path hierarchy ("-.mount" is "/", "-.slice" the root cgroup)'],
];

/**
 * Units of systemd.special(7) and the other units every systemd host defines for itself: boot and shutdown
 * targets, getty and user-manager templates, the syslog and display-manager hooks. Targets not listed here
 * (e.g. myapp.target) are ordinary units fleet may own.
 */
const SPECIAL_UNITS: ReadonlySet<string> = new Set([
  // targets of the boot, shutdown and sleep sequences
  'basic.target', 'bluetooth.target', 'boot-complete.target', 'cryptsetup-pre.target', 'cryptsetup.target',
  'ctrl-alt-del.target', 'default.target', 'emergency.target', 'exit.target', 'factory-reset.target', 'final.target',
  'first-boot-complete.target', 'getty-pre.target', 'getty.target', 'graphical.target', 'halt.target',
  'hibernate.target', 'hybrid-sleep.target', 'imports-pre.target', 'imports.target', 'initrd-fs.target',
  'initrd-root-device.target', 'initrd-root-fs.target', 'initrd-switch-root.target', 'initrd-usr-fs.target',
  'initrd.target', 'integritysetup-pre.target', 'integritysetup.target', 'kbrequest.target', 'kexec.target',
  'local-fs-pre.target', 'local-fs.target', 'machines.target', 'multi-user.target', 'network-online.target',
  'network-pre.target', 'network.target', 'nss-lookup.target', 'nss-user-lookup.target', 'paths.target',
  'poweroff.target', 'printer.target', 'reboot.target', 'remote-cryptsetup.target', 'remote-fs-pre.target',
  'remote-fs.target', 'remote-veritysetup.target', 'rescue.target', 'rpcbind.target', 'runlevel0.target',
  'runlevel1.target', 'runlevel2.target', 'runlevel3.target', 'runlevel4.target', 'runlevel5.target',
  'runlevel6.target', 'shutdown.target', 'sigpwr.target', 'sleep.target', 'slices.target', 'smartcard.target',
  'sockets.target', 'soft-reboot.target', 'sound.target', 'ssh-access.target', 'storage-target-mode.target',
  'suspend-then-hibernate.target', 'suspend.target', 'swap.target', 'sysinit.target', 'system-update-pre.target',
  'system-update.target', 'time-set.target', 'time-sync.target', 'timers.target', 'tpm2.target', 'umount.target',
  'usb-gadget.target', 'veritysetup-pre.target', 'veritysetup.target',
  // services, sockets and templates systemd defines or hooks into
  'autovt@.service', 'capsule@.service', 'console-getty.service', 'container-getty@.service', 'debug-shell.service',
  'display-manager.service', 'emergency.service', 'getty@.service', 'initrd-cleanup.service',
  'initrd-parse-etc.service', 'initrd-switch-root.service', 'initrd-udevadm-cleanup-db.service',
  'kmod-static-nodes.service', 'ldconfig.service', 'modprobe@.service', 'quotaon.service', 'rc-local.service',
  'rescue.service', 'serial-getty@.service', 'syslog.service', 'syslog.socket', 'user-runtime-dir@.service',
  'user@.service',
]);

/** Mount and automount units of the kernel's API file systems and the top-level system directories. */
const SYSTEM_MOUNT_PATHS = /^(dev|proc|sys|run)(-.*)?$|^(boot|efi|etc|home|opt|root|srv|tmp|usr|var)$/;

/**
 * Why fleet must never manage a unit of this name, or undefined when it may. The name must be valid
 * (validateUnitName); for an instance the template's name is checked as well.
 */
export function unmanageableReason(name: string): string | undefined {
  const info = parseUnitName(name);
  const byType = UNMANAGEABLE_UNIT_TYPES[info.type];
  if (byType !== undefined) return `fleet does not manage .${info.type} units: ${byType}`;
  for (const [re, why] of RESERVED_PREFIXES) if (re.test(info.prefix)) return why;
  if (SPECIAL_UNITS.has(name) || (info.template !== undefined && SPECIAL_UNITS.has(info.template))) {
    return `it is one of systemd's own units (systemd.special), defined by every host`;
  }
  if ((info.type === 'mount' || info.type === 'automount') && SYSTEM_MOUNT_PATHS.test(info.base)) {
    return 'it mounts a system directory or kernel API file system of the host';
  }
  return undefined;
}

/** Throws ReservedUnitNameError (a UnitNameError) when fleet must never manage `name`; validates it first. */
export function checkManageableUnitName(name: string): void {
  validateUnitName(name);
  const reason = unmanageableReason(name);
  if (reason !== undefined) throw new ReservedUnitNameError(name, reason);
}
