import { isRecoverableError } from 'etcd3';
import { FleetError, errorMessage } from '../errors.js';
import { shortHash } from '../unit/hash.js';

/** Base of every error the registry throws on purpose. */
export class RegistryError extends FleetError {
  override readonly name: string = 'RegistryError';
}

/** A name, id, hash or prefix that cannot be turned into a registry key. */
export class InvalidKeyError extends RegistryError {
  override readonly name: string = 'InvalidKeyError';
}

/** The etcd connection settings are unusable (bad endpoint URL, unreadable TLS file...). */
export class RegistryConfigError extends RegistryError {
  override readonly name: string = 'RegistryConfigError';
}

export class UnitNotFoundError extends RegistryError {
  override readonly name: string = 'UnitNotFoundError';
  constructor(readonly unitName: string) {
    super(`unit ${unitName} does not exist in the registry`);
  }
}

/** createUnit with `ifAbsent` found a unit of that name already. */
export class UnitExistsError extends RegistryError {
  override readonly name: string = 'UnitExistsError';
  constructor(
    readonly unitName: string,
    readonly existingHash: string | undefined,
  ) {
    super(`unit ${unitName} already exists in the registry${existingHash ? ` (hash ${shortHash(existingHash)})` : ''}`);
  }
}

/** A global-unit operation named a unit that exists but is not global. */
export class UnitNotGlobalError extends RegistryError {
  override readonly name: string = 'UnitNotGlobalError';
  constructor(readonly unitName: string) {
    super(`unit ${unitName} is not a global unit (X-Fleet Global=true)`);
  }
}

/** A hash was named whose unit text is not stored in the registry (`P/unit/<hash>`). */
export class UnitTextNotFoundError extends RegistryError {
  override readonly name: string = 'UnitTextNotFoundError';
  constructor(readonly hash: string) {
    super(`no unit text with hash ${shortHash(hash)} is stored in the registry; submit a unit with that text first`);
  }
}

/** A live machine (its lease has not expired) already holds this machine id. */
export class DuplicateMachineError extends RegistryError {
  override readonly name: string = 'DuplicateMachineError';
  constructor(
    readonly machineId: string,
    readonly existingPublicIP: string | undefined,
  ) {
    super(
      `machine id ${machineId} is already registered by a live fleetd` +
        `${existingPublicIP ? ` (publicIP ${existingPublicIP})` : ''}; ` +
        'each machine needs a unique /etc/machine-id, or wait for the other registration to expire (agent_ttl)',
    );
  }
}

/** The machine's lease is gone (expired, revoked, or etcd unreachable for longer than its TTL). */
export class PresenceLostError extends RegistryError {
  override readonly name: string = 'PresenceLostError';
  constructor(
    readonly machineId: string,
    detail: string,
    options?: { cause?: unknown },
  ) {
    super(`registration of machine ${machineId} is lost: ${detail}; call reregister() once etcd is reachable`, options);
  }
}

/**
 * A schedule write carried a fence that no longer holds: the writer is not (or no longer) the engine leader.
 * Nothing of the rejected transaction was written.
 */
export class FencedError extends RegistryError {
  override readonly name: string = 'FencedError';
  constructor(
    readonly fenceKey: string,
    readonly expectedCreateRevision: string,
    readonly actualCreateRevision: string | undefined,
  ) {
    super(
      `schedule write refused: leadership key ${fenceKey} ` +
        (actualCreateRevision === undefined
          ? 'no longer exists'
          : `has create revision ${actualCreateRevision}, not ${expectedCreateRevision}`) +
        '; this engine is no longer the leader',
    );
  }
}

/** An optimistic read-then-write kept losing against concurrent writers. */
export class RegistryConflictError extends RegistryError {
  override readonly name: string = 'RegistryConflictError';
  constructor(what: string, attempts: number) {
    super(`${what}: gave up after ${attempts} attempts, the keys kept changing underneath (concurrent writers); retry`);
  }
}

/** An etcd request failed (unreachable, timeout, permission...). The cause holds the etcd3 error. */
export class EtcdRequestError extends RegistryError {
  override readonly name: string = 'EtcdRequestError';
  /** True for failures worth retrying (etcd unreachable, timeout, leader change). */
  readonly transient: boolean;
  constructor(what: string, cause: unknown) {
    const transient = cause instanceof Error && (isRecoverableError(cause) || 'isBrokenCircuitError' in cause);
    super(
      `etcd request failed while ${what}: ${errorMessage(cause)}` +
        (transient ? ' (check that etcd is reachable at etcd_servers)' : ''),
      { cause },
    );
    this.transient = transient;
  }
}

/** No rollout of that id (lib/registry/rollout.ts). */
export class RolloutNotFoundError extends RegistryError {
  override readonly name: string = 'RolloutNotFoundError';
  constructor(readonly rolloutId: string) {
    super(`rollout ${rolloutId} does not exist`);
  }
}

/** A rollout cannot be created: a unit is in another active rollout, is not there, is global or not launched... */
export class RolloutRefusedError extends RegistryError {
  override readonly name: string = 'RolloutRefusedError';
  constructor(
    message: string,
    /** The active rollout holding the unit, when that is the reason. */
    readonly activeRollout?: string,
  ) {
    super(message);
  }
}
