/**
 * How a lab machine boots, beyond the default (project bound at /opt/fleet, bootstrapped by the lab through
 * nsenter): the per-machine boot options kept in its record, and the pure parts of the three ways a real host
 * gets its user-data at boot (issue 15): an EC2-style metadata service, a config drive, a URL on the kernel
 * command line. What the lab plays is the "hardware" (the metadata service, the drive, the command line);
 * the "image" (coreos-cloudinit and the boot units of units/boot) comes from /opt/fleet in a normal machine,
 * and from whatever was installed (the .deb) in a bare one.
 */
import { LabError } from './errors.js';
import { machineIndex } from './names.js';

export const BOOT_SOURCES = ['metadata', 'configdrive', 'cmdline'] as const;
export type BootSource = (typeof BOOT_SOURCES)[number];

/** Kept in the machine's record; applies at its next boot. */
export interface MachineBoot {
  /** no /opt/fleet bind and no lab bootstrap or lab image files: nothing of ours inside */
  readonly bare: boolean;
  /** where the machine's user-data comes from at boot; undefined: the lab bootstraps it through nsenter */
  readonly from?: BootSource;
  /** appended to systemd's arguments (its kernel command line in a container) */
  readonly initArgs: readonly string[];
}

export const DEFAULT_BOOT: MachineBoot = { bare: false, initArgs: [] };

/** The metadata service's address as machines see it (a route to it via host0 is added in every machine). */
export const METADATA_IP = '169.254.169.254';
export const METADATA_URL = `http://${METADATA_IP}/`;
/** Where a config drive is bound in a machine booted from one (media-configdrive.mount's mount point). */
export const CONFIG_DRIVE_MOUNT = '/media/configdrive';
/** The OEM's choice of data source, read by oem-cloudinit.service. */
export const OEM_DEFAULTS = '/etc/default/coreos-cloudinit';
export const USER_CONFIG_TARGET = 'user-config.target';

export function isBootSource(s: string): s is BootSource {
  return (BOOT_SOURCES as readonly string[]).includes(s);
}

/** `m2:metadata` -> { m2: 'metadata' } (fleet-lab up --boot-from). */
export function parseBootFrom(specs: readonly string[]): Record<string, BootSource> {
  const out: Record<string, BootSource> = {};
  for (const spec of specs) {
    const i = spec.indexOf(':');
    const source = spec.slice(i + 1);
    if (i <= 0 || !isBootSource(source)) {
      throw new LabError(`--boot-from ${JSON.stringify(spec)}: expected MACHINE:${BOOT_SOURCES.join('|')} (e.g. m2:metadata)`);
    }
    machineIndex(spec.slice(0, i));
    out[spec.slice(0, i)] = source;
  }
  return out;
}

/** `m3:a=1 b=2` -> { m3: ['a=1', 'b=2'] } (fleet-lab up --init-args; repeated for one machine: appended). */
export function parseInitArgs(specs: readonly string[]): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const spec of specs) {
    const i = spec.indexOf(':');
    if (i <= 0) throw new LabError(`--init-args ${JSON.stringify(spec)}: expected MACHINE:ARG [ARG...] (e.g. 'm3:systemd.log_level=debug')`);
    machineIndex(spec.slice(0, i));
    (out[spec.slice(0, i)] ??= []).push(...spec.slice(i + 1).trim().split(/\s+/).filter((a) => a !== ''));
  }
  return out;
}

/** The kernel command line word that points a machine booted `from: 'cmdline'` at its user-data. */
export function cmdlineBootArg(): string {
  return `cloud-config-url=${METADATA_URL}latest/user-data`;
}

/** What follows systemd's own boot arguments: the machine's init arguments, and its user-data URL for `cmdline`. */
export function initArgsOf(boot: MachineBoot | undefined): string[] {
  if (!boot) return [];
  return [...boot.initArgs, ...(boot.from === 'cmdline' ? [cmdlineBootArg()] : [])];
}

export interface MachineFacts {
  readonly name: string;
  readonly ip: string;
  readonly hostname: string;
  readonly machineId: string;
  readonly publicKeys?: ReadonlyArray<{ readonly name: string; readonly key: string }>;
}

/** Path below a version (`latest/`, `2009-04-04/`) -> answer. Directories list their entries, subdirectories with `/`. */
export type MetadataLayout = Record<string, string>;

/** The EC2 metadata layout of one machine (what the metadata service answers it). */
export function ec2Layout(userData: string | undefined, m: MachineFacts): MetadataLayout {
  const keys = m.publicKeys ?? [];
  const md: MetadataLayout = {
    'instance-id': `i-${m.machineId.slice(0, 17)}`,
    hostname: m.hostname,
    'local-hostname': m.hostname,
    'local-ipv4': m.ip,
    'public-ipv4': m.ip,
  };
  const out: MetadataLayout = {};
  for (const [k, v] of Object.entries(md)) out[`meta-data/${k}`] = v;
  const entries = Object.keys(md);
  if (keys.length > 0) {
    entries.push('public-keys/');
    out['meta-data/public-keys'] = keys.map((k, i) => `${i}=${k.name}`).join('\n');
    keys.forEach((k, i) => {
      out[`meta-data/public-keys/${i}`] = 'openssh-key';
      out[`meta-data/public-keys/${i}/openssh-key`] = k.key;
    });
  }
  out['meta-data'] = entries.sort().join('\n');
  if (userData !== undefined) out['user-data'] = userData;
  return out;
}

export interface MetadataAnswer {
  readonly status: number;
  readonly body: string;
}

const VERSION = /^(latest|\d{4}-\d{2}-\d{2})$/;
const NOT_FOUND: MetadataAnswer = { status: 404, body: 'not found\n' };

/**
 * Answer a GET of `urlPath` with a machine's layout (undefined: the asking address is no machine of ours).
 * `/` lists the versions; every version serves the same layout; a trailing `/` is ignored.
 */
export function answerMetadata(layout: MetadataLayout | undefined, urlPath: string): MetadataAnswer {
  if (layout === undefined) return NOT_FOUND;
  const path = (urlPath.split('?')[0] ?? '').split('/').filter((p) => p !== '');
  if (path.length === 0) return { status: 200, body: 'latest\n2009-04-04\n' };
  if (!VERSION.test(path[0]!)) return NOT_FOUND;
  if (path.length === 1) return { status: 200, body: ['meta-data/', ...(layout['user-data'] === undefined ? [] : ['user-data'])].join('\n') };
  const body = layout[path.slice(1).join('/')];
  return body === undefined ? NOT_FOUND : { status: 200, body };
}

/** Files of a config drive (path below the drive -> content): the OpenStack layout plus EC2's addresses. */
export function configDriveFiles(userData: string, m: MachineFacts): Record<string, string> {
  const keys: Record<string, string> = {};
  for (const k of m.publicKeys ?? []) keys[k.name] = k.key;
  return {
    'openstack/latest/user_data': userData,
    'openstack/latest/meta_data.json': JSON.stringify({ uuid: m.machineId, hostname: m.hostname, name: m.name, public_keys: keys }) + '\n',
    'ec2/latest/meta-data.json': JSON.stringify({ 'local-ipv4': m.ip, 'public-ipv4': m.ip, hostname: m.hostname }) + '\n',
  };
}

/**
 * The "image" part for a machine that is not bare: coreos-cloudinit from /opt/fleet on PATH where the boot units
 * look for it, the boot units, user-config.target wanted by the lab's minimal boot target (fleet-lab.target: units
 * WantedBy=multi-user.target never start in a lab machine), and for `metadata` the OEM's choice of source.
 * Path in the machine -> [content, mode]; a `link:` content is a symlink to what follows.
 */
export function imageFiles(
  from: BootSource,
  bootUnits: Readonly<Record<string, string>>,
  opts: { readonly cloudinit: string; readonly bootTarget: string },
): Record<string, readonly [string, number]> {
  const out: Record<string, readonly [string, number]> = {
    '/usr/bin/coreos-cloudinit': [`#!/bin/sh\n# fleet-lab: coreos-cloudinit of the project bound at /opt/fleet\nexec /usr/bin/node ${opts.cloudinit} "$@"\n`, 0o755],
    [`/etc/systemd/system/${opts.bootTarget}.wants/${USER_CONFIG_TARGET}`]: [`link:/etc/systemd/system/${USER_CONFIG_TARGET}`, 0o777],
  };
  for (const [name, text] of Object.entries(bootUnits)) out[`/etc/systemd/system/${name}`] = [text, 0o644];
  if (from === 'metadata') out[OEM_DEFAULTS] = [oemDefaults(), 0o644];
  return out;
}

/** /etc/default/coreos-cloudinit pointing oem-cloudinit.service at the lab's metadata service. */
export function oemDefaults(): string {
  return `# fleet-lab: the cloud's data source is the lab's EC2-style metadata service\nOEM_CLOUDINIT_ARGS="--from-ec2-metadata=${METADATA_URL}"\n`;
}
