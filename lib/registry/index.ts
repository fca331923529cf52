/** The fleet registry on etcd v3. Layout, ownership and transactions: docs/registry.md. */
export { openEtcd, DEFAULT_REQUEST_TIMEOUT_MS, type EtcdOptions } from './etcd.js';
export { checkTlsFiles, checkEndpoints, type TlsFiles, type EndpointCheck } from './etcd-check.js';
export { Registry, TEXT_GC_INTERVAL_MS, type TextCollection, type CreateUnitResult, type UnitStateFilter } from './registry.js';
export { Election, type ElectionEvents } from './election.js';
export { MachinePresence, type LostListener } from './presence.js';
export { Keyspace, DEFAULT_PREFIX, normalizePrefix, checkUnitName, checkMachineId, checkHash, checkMetadataKey } from './keys.js';
export {
  RegistryError,
  InvalidKeyError,
  RegistryConfigError,
  UnitNotFoundError,
  UnitExistsError,
  UnitNotGlobalError,
  UnitTextNotFoundError,
  DuplicateMachineError,
  PresenceLostError,
  FencedError,
  RegistryConflictError,
  EtcdRequestError,
  RolloutNotFoundError,
  RolloutRefusedError,
} from './errors.js';
export { MAX_ROLLOUT_UNITS, type RolloutRequest } from './rollout.js';
export type * from './types.js';
export { decodeRestartRequest, encodeRestartRequest, type RestartRequest, type RestartStatus } from './restart.js';
