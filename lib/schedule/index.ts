/** The pure scheduler: cluster state in, plan out. Shared by the engine, `fleetctl plan` and tests. */
export { plan } from './plan.js';
export { explain } from './explain.js';
export { globalUnitsFor } from './global.js';
export { nextRescheduleAt, rescheduleDelayMs, rescheduleVerdict, type RescheduleVerdict } from './reschedule.js';
export { UnknownUnitError } from './errors.js';
export { PLAN_IN_WORKER_ABOVE, decodeState, encodeState, globMatchesOf, wildcardGlobs, type EncodedState } from './worker-state.js';
export type { NamedRequirements } from './constraints.js';
export type {
  ClusterState,
  Explanation,
  GlobalPlacement,
  MachineVerdict,
  MoveOp,
  Op,
  PendingUnit,
  PlaceOp,
  Plan,
  SchedMachine,
  SchedUnit,
  ScheduleOptions,
  UnscheduleOp,
} from './types.js';
