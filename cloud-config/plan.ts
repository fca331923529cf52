/**
 * From a typed config to the ordered list of things to do (coreos-cloudinit's order): hostname, users, SSH keys,
 * write_files, the files generated from coreos.update (/etc/coreos/update.conf), manage_etc_hosts (/etc/hosts)
 * and coreos.flannel (/run/flannel/options.env), /etc/environment, units (files, drop-ins, mask/unmask, enable),
 * generated etcd/etcd2/fleet/locksmithd drop-ins, coreos.update's locksmithd mask/unmask, one daemon-reload if any
 * of that changed, networkd restart if network files changed, unit commands (the document's, then
 * coreos.update's locksmithd and update-engine commands). Pure, but for the host name /etc/hosts gets when the
 * document sets none (the caller's, or this host's).
 */
import { createHash } from 'node:crypto';
import { hostname as osHostname } from 'node:os';
import {
  CLOUDINIT_DROP_IN,
  ETCD2_OPTIONS,
  ETCD_OPTIONS,
  FLANNEL_OPTIONS,
  FLEET_OPTIONS,
  LOCKSMITH_OPTIONS,
  UPDATE_OPTIONS,
  environmentAssignments,
  holdsSecret,
  renderEnvironmentDropIn,
  type EnvOption,
} from './service-env.js';
import { SUBSTITUTION_VARIABLES } from './substitute.js';
import type { CloudConfig, EnvValue, Substitutions, UnitCommand, UserConfig } from './types.js';
import { dropInPath, unitPath } from './unit-name.js';

export const DEFAULT_SSH_KEY_NAME = 'coreos-cloudinit';
/** The user top-level `ssh_authorized_keys` are for (created when missing, see docs/cloud-config.md). */
export const DEFAULT_SSH_USER = 'core';
export const ENVIRONMENT_FILE = '/etc/environment';
export const SCRIPT_DIRECTORY = '/var/lib/coreos-cloudinit/scripts';
export const UPDATE_CONF = '/etc/coreos/update.conf';
/** What update.conf starts from when /etc/coreos/update.conf does not exist yet (CoreOS's shipped defaults). */
export const UPDATE_CONF_DEFAULTS = '/usr/share/coreos/update.conf';
export const ETC_HOSTS = '/etc/hosts';
export const FLANNEL_ENV_FILE = '/run/flannel/options.env';
export const LOCKSMITH_UNIT = 'locksmithd.service';
export const UPDATE_ENGINE_UNIT = 'update-engine.service';

/** What a changed file affects: unit files need a daemon-reload, network files a networkd restart. */
export type Affects = 'units' | 'network';

export type PlanStep =
  | { readonly kind: 'hostname'; readonly hostname: string; readonly source: string }
  /** Create the user if missing; if present only its password is updated (coreos-cloudinit semantics). */
  | { readonly kind: 'user'; readonly user: UserConfig; readonly source: string }
  | {
      readonly kind: 'ssh-keys';
      readonly user: string;
      /** file name under ~/.ssh/authorized_keys.d/ */
      readonly keyName: string;
      readonly keys: readonly string[];
      readonly source: string;
    }
  | {
      readonly kind: 'write';
      readonly path: string;
      readonly content: Buffer;
      readonly mode: number;
      readonly owner?: string;
      readonly affects?: Affects;
      readonly source: string;
    }
  /**
   * Set variables in an environment file (/etc/environment, /etc/coreos/update.conf), keeping its other lines;
   * when it does not exist yet, starting from `base` if that exists.
   */
  | {
      readonly kind: 'environment';
      readonly path: string;
      readonly base?: string;
      readonly vars: Readonly<Record<string, string>>;
      readonly source: string;
    }
  /** Replace the unit file by a link to /dev/null. */
  | { readonly kind: 'mask'; readonly unit: string; readonly path: string; readonly source: string }
  /** Remove the unit file if it is a link to /dev/null or empty (runtime units that are not masked). */
  | { readonly kind: 'unmask'; readonly unit: string; readonly path: string; readonly source: string }
  | { readonly kind: 'enable'; readonly unit: string; readonly runtime: boolean; readonly source: string }
  /** Runs only when a unit file, drop-in, mask or enable changed. */
  | { readonly kind: 'daemon-reload' }
  /** Runs only when a network file changed. */
  | { readonly kind: 'restart-networkd' }
  | {
      readonly kind: 'unit-command';
      readonly unit: string;
      readonly command: UnitCommand;
      /** A unit of CoreOS's own (locksmithd, update-engine) this host may not have: skipped when systemd has no such unit. */
      readonly ifInstalled?: boolean;
      readonly source: string;
    }
  | { readonly kind: 'script'; readonly path: string; readonly content: Buffer; readonly unit: string; readonly source: string };

export interface Plan {
  readonly steps: readonly PlanStep[];
}

export interface PlanOptions {
  readonly substitutions?: Substitutions;
  readonly sshKeyName?: string;
  /** The name `manage_etc_hosts` writes when the document sets no `hostname` (default: this host's). */
  readonly currentHostname?: string;
}

const UNIT_DIRS = ['/etc/systemd/system/', '/run/systemd/system/', '/usr/lib/systemd/system/', '/lib/systemd/system/'];
const NETWORK_DIRS = ['/etc/systemd/network/', '/run/systemd/network/', '/usr/lib/systemd/network/', '/lib/systemd/network/'];

/** Whether writing `path` calls for a daemon-reload or a networkd restart. */
export function affectsOf(path: string): Affects | undefined {
  if (UNIT_DIRS.some((d) => path.startsWith(d))) return 'units';
  if (NETWORK_DIRS.some((d) => path.startsWith(d))) return 'network';
  return undefined;
}

const utf8 = (s: string): Buffer => Buffer.from(s, 'utf8');

function generatedDropIn(
  unit: string,
  options: readonly EnvOption[],
  values: Readonly<Record<string, EnvValue | undefined>> | undefined,
  source: string,
): PlanStep[] {
  const text = values && renderEnvironmentDropIn(options, values);
  if (!text) return [];
  const path = dropInPath(unit, true, CLOUDINIT_DROP_IN);
  return [
    // 0600 when it carries a secret (etcd_password): systemd reads it as root, nobody else needs to
    { kind: 'write', path, content: utf8(text), mode: holdsSecret(options, values) ? 0o600 : 0o644, affects: 'units', source },
    { kind: 'unmask', unit, path: unitPath(unit, true), source },
  ];
}

function implicitUser(name: string, source: string): UserConfig {
  return {
    name,
    sshAuthorizedKeys: [],
    noCreateHome: false,
    groups: [],
    noUserGroup: false,
    system: false,
    noLogInit: false,
    source,
  };
}

/**
 * Keeps only the last of several steps that write (or link) the same path, and the last of a mask and an unmask
 * of the same unit path (a unit masked by coreos.update and unmasked by coreos.locksmith is masked, and stays
 * so on the next run instead of being unmasked and masked again), each at the last one's place.
 */
function lastWriteWins(steps: PlanStep[]): PlanStep[] {
  const pathOf = (s: PlanStep): string | undefined => (s.kind === 'write' || s.kind === 'mask' ? s.path : undefined);
  const maskOf = (s: PlanStep): string | undefined => (s.kind === 'mask' || s.kind === 'unmask' ? s.path : undefined);
  const last = new Map<string, number>();
  const lastMask = new Map<string, number>();
  steps.forEach((s, i) => {
    const p = pathOf(s);
    if (p !== undefined) last.set(p, i);
    const m = maskOf(s);
    if (m !== undefined) lastMask.set(m, i);
  });
  return steps.filter((s, i) => {
    const p = pathOf(s);
    const m = maskOf(s);
    return (p === undefined || last.get(p) === i) && (m === undefined || lastMask.get(m) === i);
  });
}

export function planCloudConfig(config: CloudConfig, options: PlanOptions = {}): Plan {
  const keyName = options.sshKeyName ?? DEFAULT_SSH_KEY_NAME;
  const steps: PlanStep[] = [];

  if (config.hostname !== undefined && config.hostname !== '') {
    steps.push({ kind: 'hostname', hostname: config.hostname, source: 'hostname' });
  }

  const keys = new Map<string, { keys: string[]; source: string }>();
  const addKeys = (user: string, list: readonly string[], source: string): void => {
    const entry = keys.get(user) ?? { keys: [], source };
    for (const k of list.map((k) => k.trim())) if (!entry.keys.includes(k)) entry.keys.push(k);
    keys.set(user, entry);
  };
  for (const user of config.users) {
    steps.push({ kind: 'user', user, source: user.source });
    if (user.sshAuthorizedKeys.length > 0) addKeys(user.name, user.sshAuthorizedKeys, `${user.source}.ssh_authorized_keys`);
  }
  if (config.sshAuthorizedKeys.length > 0) {
    if (!config.users.some((u) => u.name === DEFAULT_SSH_USER)) {
      steps.push({ kind: 'user', user: implicitUser(DEFAULT_SSH_USER, 'ssh_authorized_keys'), source: 'ssh_authorized_keys' });
    }
    addKeys(DEFAULT_SSH_USER, config.sshAuthorizedKeys, 'ssh_authorized_keys');
  }
  for (const [user, entry] of keys) {
    steps.push({ kind: 'ssh-keys', user, keyName, keys: entry.keys, source: entry.source });
  }

  for (const f of config.writeFiles) {
    const affects = affectsOf(f.path);
    steps.push({
      kind: 'write',
      path: f.path,
      content: f.content,
      mode: f.mode,
      ...(f.owner !== undefined ? { owner: f.owner } : {}),
      ...(affects ? { affects } : {}),
      source: f.source,
    });
  }

  const update = environmentAssignments(UPDATE_OPTIONS, config.coreos.update ?? {});
  if (update.length > 0) {
    steps.push({ kind: 'environment', path: UPDATE_CONF, base: UPDATE_CONF_DEFAULTS, vars: Object.fromEntries(update), source: 'coreos.update' });
  }
  if (config.manageEtcHosts === 'localhost') {
    const name = config.hostname || options.currentHostname || osHostname();
    steps.push({ kind: 'write', path: ETC_HOSTS, content: utf8(`127.0.0.1 ${name}\n`), mode: 0o644, source: 'manage_etc_hosts' });
  }
  const flannel = environmentAssignments(FLANNEL_OPTIONS, config.coreos.flannel ?? {});
  if (flannel.length > 0) {
    steps.push({
      kind: 'write',
      path: FLANNEL_ENV_FILE,
      content: utf8(flannel.map(([k, v]) => `${k}=${v}\n`).join('')),
      mode: holdsSecret(FLANNEL_OPTIONS, config.coreos.flannel ?? {}) ? 0o600 : 0o644,
      source: 'coreos.flannel',
    });
  }

  const vars: Record<string, string> = {};
  for (const spec of Object.values(SUBSTITUTION_VARIABLES)) {
    const v = options.substitutions?.[spec.option];
    if (v) vars[spec.env] = v;
  }
  if (Object.keys(vars).length > 0 && !config.writeFiles.some((f) => f.path === ENVIRONMENT_FILE)) {
    steps.push({ kind: 'environment', path: ENVIRONMENT_FILE, vars, source: 'substitutions' });
  }

  const commands: PlanStep[] = [];
  for (const u of config.coreos.units) {
    const path = unitPath(u.name, u.runtime);
    const affects = affectsOf(path);
    if (u.content !== undefined) {
      steps.push({ kind: 'write', path, content: utf8(u.content), mode: 0o644, ...(affects ? { affects } : {}), source: u.source });
    }
    for (const d of u.dropIns) {
      steps.push({
        kind: 'write',
        path: dropInPath(u.name, u.runtime, d.name),
        content: utf8(d.content),
        mode: 0o644,
        ...(affects ? { affects } : {}),
        source: d.source,
      });
    }
    if (u.mask) steps.push({ kind: 'mask', unit: u.name, path, source: u.source });
    else if (u.runtime) steps.push({ kind: 'unmask', unit: u.name, path, source: u.source });
    if (u.enable) steps.push({ kind: 'enable', unit: u.name, runtime: u.runtime, source: u.source });
    if (u.command !== undefined) commands.push({ kind: 'unit-command', unit: u.name, command: u.command, source: u.source });
  }
  steps.push(...generatedDropIn('etcd.service', ETCD_OPTIONS, config.coreos.etcd, 'coreos.etcd'));
  steps.push(...generatedDropIn('etcd2.service', ETCD2_OPTIONS, config.coreos.etcd2, 'coreos.etcd2'));
  steps.push(...generatedDropIn('fleet.service', FLEET_OPTIONS, config.coreos.fleet, 'coreos.fleet'));
  steps.push(...generatedDropIn(LOCKSMITH_UNIT, LOCKSMITH_OPTIONS, config.coreos.locksmith, 'coreos.locksmith'));
  // coreos.update: the reboot strategy (re)starts locksmithd, or stops and masks it for `off`; a new group or
  // server restarts update-engine. Both are CoreOS's own units: a host without them skips the command.
  const strategy = config.coreos.update?.reboot_strategy;
  if (typeof strategy === 'string' && strategy !== '') {
    const path = unitPath(LOCKSMITH_UNIT, true);
    const source = 'coreos.update.reboot_strategy';
    steps.push(strategy === 'off' ? { kind: 'mask', unit: LOCKSMITH_UNIT, path, source } : { kind: 'unmask', unit: LOCKSMITH_UNIT, path, source });
    commands.push({ kind: 'unit-command', unit: LOCKSMITH_UNIT, command: strategy === 'off' ? 'stop' : 'restart', ifInstalled: true, source });
  }
  if (config.coreos.update?.group || config.coreos.update?.server) {
    commands.push({ kind: 'unit-command', unit: UPDATE_ENGINE_UNIT, command: 'restart', ifInstalled: true, source: 'coreos.update' });
  }

  const deduped = lastWriteWins(steps);
  const touchesUnits = deduped.some(
    (s) => (s.kind === 'write' && s.affects === 'units') || s.kind === 'mask' || s.kind === 'unmask' || s.kind === 'enable',
  );
  if (touchesUnits) deduped.push({ kind: 'daemon-reload' });
  if (deduped.some((s) => s.kind === 'write' && s.affects === 'network')) deduped.push({ kind: 'restart-networkd' });
  deduped.push(...commands);
  return { steps: deduped };
}

/** A `#!` document: stored under `directory` (--workspace's scripts/; /var/lib/coreos-cloudinit/scripts) by
 * content hash, run as a transient service. */
export function planScript(script: string, directory: string = SCRIPT_DIRECTORY): Plan {
  const content = utf8(script);
  const id = createHash('sha256').update(content).digest('hex').slice(0, 16);
  return {
    steps: [{ kind: 'script', path: `${directory}/${id}`, content, unit: `coreos-cloudinit-${id}.service`, source: 'script' }],
  };
}

/** One line naming what a step does, e.g. `write /etc/hosts (write_files[0])`. */
export function describeStep(step: PlanStep): string {
  switch (step.kind) {
    case 'hostname':
      return `set hostname ${step.hostname}`;
    case 'user':
      return `ensure user ${step.user.name} exists${step.user.passwd !== undefined ? ' with the given password' : ''} (${step.source})`;
    case 'ssh-keys':
      return `authorize ${step.keys.length} SSH key${step.keys.length === 1 ? '' : 's'} for ${step.user} as ${step.keyName} (${step.source})`;
    case 'write':
      return `write ${step.path} mode ${step.mode.toString(8).padStart(4, '0')}${step.owner ? ` owner ${step.owner}` : ''} (${step.source})`;
    case 'environment':
      return `set ${Object.keys(step.vars).join(' ')} in ${step.path}`;
    case 'mask':
      return `mask ${step.unit} (${step.path} -> /dev/null)`;
    case 'unmask':
      return `unmask ${step.unit} if masked (${step.path})`;
    case 'enable':
      return `enable ${step.unit}${step.runtime ? ' (runtime)' : ''}`;
    case 'daemon-reload':
      return 'daemon-reload';
    case 'restart-networkd':
      return 'restart systemd-networkd.service';
    case 'unit-command':
      return `${step.command} ${step.unit}`;
    case 'script':
      return `run script ${step.path} as ${step.unit}`;
  }
}
