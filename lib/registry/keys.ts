import { isUnitHash } from '../unit/hash.js';
import { InvalidKeyError } from './errors.js';
import type { Fence } from './types.js';

export const DEFAULT_PREFIX = '/_coreos.com/fleet/';

const METADATA_KEY_RE = /^[A-Za-z0-9_.-]+$/;
const MAX_SEGMENT = 255;

/** Returns the reason `s` cannot be one key segment, or undefined when it can. */
function segmentProblem(s: string): string | undefined {
  if (s.length === 0) return 'is empty';
  if (s.length > MAX_SEGMENT) return `is longer than ${MAX_SEGMENT} characters`;
  if (s.includes('/')) return 'contains "/"';
  if (s === '.' || s === '..') return 'is "." or ".."';
  if (/[\s\x00-\x1f\x7f]/.test(s)) return 'contains whitespace or control characters';
  return undefined;
}

function checkSegment(kind: string, s: unknown): string {
  if (typeof s !== 'string') throw new InvalidKeyError(`invalid ${kind}: expected a string, got ${typeof s}`);
  const problem = segmentProblem(s);
  if (problem) throw new InvalidKeyError(`invalid ${kind} ${JSON.stringify(s)}: it ${problem}`);
  return s;
}

export function checkUnitName(name: unknown): string {
  return checkSegment('unit name', name);
}

export function checkMachineId(id: unknown): string {
  return checkSegment('machine id', id);
}

export function checkHash(hash: unknown): string {
  if (typeof hash !== 'string' || !isUnitHash(hash)) {
    throw new InvalidKeyError(`invalid unit hash ${JSON.stringify(hash)}: expected 40 lowercase hex characters (SHA1)`);
  }
  return hash;
}

/** A fence (types.ts Fence) must name the leader key and its create revision (> 0). */
export function checkFence(fence: unknown): Fence {
  const f = fence as Partial<Fence> | null | undefined;
  if (typeof f?.key !== 'string' || f.key.length === 0 || !/^[1-9][0-9]*$/.test(String(f.createRevision))) {
    throw new InvalidKeyError(`invalid fence ${JSON.stringify(fence)}: needs the leader key and its create revision (> 0)`);
  }
  return f as Fence;
}

export function checkMetadataKey(key: unknown): string {
  if (typeof key !== 'string' || !METADATA_KEY_RE.test(key) || key.length > MAX_SEGMENT) {
    throw new InvalidKeyError(`invalid metadata key ${JSON.stringify(key)}: use letters, digits, "_", "." and "-"`);
  }
  return key;
}

/** True when `s` could be a unit name or machine id (used to skip foreign keys met while listing). */
export function isSegment(s: string): boolean {
  return segmentProblem(s) === undefined;
}

/** Ensures a key prefix is absolute-looking, has no empty segments and ends with "/". */
export function normalizePrefix(prefix: string | undefined): string {
  const p = prefix ?? DEFAULT_PREFIX;
  if (p.length === 0) throw new InvalidKeyError('invalid etcd key prefix: it is empty');
  if (/[\s\x00-\x1f\x7f]/.test(p)) throw new InvalidKeyError(`invalid etcd key prefix ${JSON.stringify(p)}: whitespace`);
  return p.endsWith('/') ? p : `${p}/`;
}

/** Every key the registry reads or writes, all below one prefix. Builders validate their arguments. */
export class Keyspace {
  readonly prefix: string;

  constructor(prefix?: string) {
    this.prefix = normalizePrefix(prefix);
  }

  get unitsDir(): string {
    return `${this.prefix}unit/`;
  }
  unit(hash: string): string {
    return `${this.unitsDir}${checkHash(hash)}`;
  }

  get jobsDir(): string {
    return `${this.prefix}job/`;
  }
  jobDir(name: string): string {
    return `${this.jobsDir}${checkUnitName(name)}/`;
  }
  jobObject(name: string): string {
    return `${this.jobDir(name)}object`;
  }
  jobTargetState(name: string): string {
    return `${this.jobDir(name)}target-state`;
  }
  jobTarget(name: string): string {
    return `${this.jobDir(name)}target`;
  }
  /** An agent's refusal of the unit on its machine (fleetd/agent/host-units.ts), on that machine's lease. */
  jobRefusal(name: string, machineId: string): string {
    return `${this.jobDir(name)}refused/${checkMachineId(machineId)}`;
  }

  /**
   * The unit failed on that machine (Reschedule=on-failure, fleetd/agent/failures.ts); not on a lease: the
   * history outlives the machine, and goes with the job (destroy).
   */
  jobFailure(name: string, machineId: string): string {
    return `${this.jobDir(name)}failed/${checkMachineId(machineId)}`;
  }

  get schedulesDir(): string {
    return `${this.prefix}schedule/`;
  }
  scheduleDir(machineId: string): string {
    return `${this.schedulesDir}${checkMachineId(machineId)}/`;
  }
  schedule(machineId: string, name: string): string {
    return `${this.scheduleDir(machineId)}${checkUnitName(name)}`;
  }
  /** The latest request to start a launched unit again on its machine (ScheduleEntry.startRequest). */
  scheduleStart(machineId: string, name: string): string {
    return `${this.schedule(machineId, name)}/start`;
  }

  get globalDir(): string {
    return `${this.prefix}global/`;
  }
  global(name: string): string {
    return `${this.globalDir}${checkUnitName(name)}`;
  }
  /** The latest request to start a launched global unit again where it failed (GlobalUnitEntry.startRequest). */
  globalStart(name: string): string {
    return `${this.global(name)}/start`;
  }
  /** Rolling restart: requests to restart a launched global unit on one machine each (lib/registry/restart.ts). */
  globalRestartDir(name: string): string {
    return `${this.global(name)}/restart/`;
  }
  globalRestart(name: string, machineId: string): string {
    return `${this.globalRestartDir(name)}${checkMachineId(machineId)}`;
  }
  /** Per-machine hash overrides of a global unit (rolling update, Registry.setGlobalMachineHash). */
  globalMachineDir(name: string): string {
    return `${this.global(name)}/machine/`;
  }
  globalMachine(name: string, machineId: string): string {
    return `${this.globalMachineDir(name)}${checkMachineId(machineId)}`;
  }

  get machinesDir(): string {
    return `${this.prefix}machines/`;
  }
  machineDir(id: string): string {
    return `${this.machinesDir}${checkMachineId(id)}/`;
  }
  machineObject(id: string): string {
    return `${this.machineDir(id)}object`;
  }
  machineMetadata(id: string, key: string): string {
    return `${this.machineDir(id)}metadata/${checkMetadataKey(key)}`;
  }

  get statesDir(): string {
    return `${this.prefix}states/`;
  }
  unitStatesDir(name: string): string {
    return `${this.statesDir}${checkUnitName(name)}/`;
  }
  unitState(name: string, machineId: string): string {
    return `${this.unitStatesDir(name)}${checkMachineId(machineId)}`;
  }

  /** Rolling updates (lib/rollout): `rollout/<id>/spec` (client, once), `status` (engine leader), `control` (clients). */
  get rolloutsDir(): string {
    return `${this.prefix}rollout/`;
  }
  rolloutDir(id: string): string {
    return `${this.rolloutsDir}${checkSegment('rollout id', id)}/`;
  }
  rolloutSpec(id: string): string {
    return `${this.rolloutDir(id)}spec`;
  }
  rolloutStatus(id: string): string {
    return `${this.rolloutDir(id)}status`;
  }
  rolloutControl(id: string): string {
    return `${this.rolloutDir(id)}control`;
  }
  /** The active rollout a unit belongs to (its id): at most one at a time; the leader deletes it when the rollout ends. */
  get rolloutLocksDir(): string {
    return `${this.prefix}rollout-unit/`;
  }
  rolloutLock(name: string): string {
    return `${this.rolloutLocksDir}${checkUnitName(name)}`;
  }

  /** Reserved for the engine. */
  get engineDir(): string {
    return `${this.prefix}engine/`;
  }
  /** The engine leader's record (election.ts): its create revision is the fence of every schedule write. */
  get engineLeader(): string {
    return `${this.engineDir}leader`;
  }
}
