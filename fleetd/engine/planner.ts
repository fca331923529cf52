/**
 * Where the engine's plan() runs. Small clusters plan inline. From `workerAbove` units the plan runs in a worker
 * thread: at 100,000 units one plan takes over a second of CPU, and an event loop blocked that long misses the
 * keep-alives of the engine's 4 s leadership lease (and, in fleetd, of the machine's own lease).
 *
 * A few units can cost as much as many: the scheduler matches every wildcard Conflicts/Replaces glob against the
 * unit names, and units decide their globs. So a plan also goes to the worker when it may do more than
 * `globMatchesAbove` glob matches (wildcard globs × units), whatever the cluster's size.
 *
 * The state goes to the worker as UTF-8 JSON built in slices (lib/slices.ts) whose buffer is moved, not copied:
 * posting the object itself is one structured clone of every unit on the event loop, over half a second per pass at
 * 100,000 units on a busy box (and posting the JSON string still a copy of some 20 MB).
 */
import { plan, type ClusterState, type Plan } from '../../lib/schedule/index.js';
import { logger } from '../../lib/log.js';
import { FleetError, errorMessage } from '../../lib/errors.js';
import { INLINE_GLOB_MATCHES, WorkerCall, WorkerCallError, type WorkerCallOptions } from '../../lib/worker-call.js';
import { stringifySliced } from '../../lib/slices.js';

const log = logger('engine.planner');

/** Clusters this large (units) plan in a worker thread by default. */
export const DEFAULT_WORKER_ABOVE = 5_000;
/** Plans that may match more globs than this plan in a worker thread by default. */
export const DEFAULT_WORKER_ABOVE_GLOB_MATCHES = INLINE_GLOB_MATCHES;

/** Globs the scheduler matches against names rather than looks up (any of `* ? [ \`, as lib/schedule decides). */
const WILDCARD = /[*?[\\]/;

/** Upper bound of the glob matches a plan of `state` does: wildcard Conflicts/Replaces globs × units. */
export function globMatchesOf(state: ClusterState): number {
  let globs = 0;
  for (const u of state.units) {
    for (const g of u.requirements.conflicts) if (WILDCARD.test(g)) globs++;
    for (const g of u.requirements.replaces) if (WILDCARD.test(g)) globs++;
  }
  return globs * state.units.length;
}

/** A ClusterState as the worker receives it: UTF-8 JSON, the schedule as [unit, machine] pairs (encodeState). */
export type EncodedState = Uint8Array;

/** The state as JSON, built in slices so that no step holds the event loop for long. */
export async function encodeState(state: ClusterState): Promise<EncodedState> {
  const units = await stringifySliced(state.units);
  const schedule = await stringifySliced(Object.entries(state.schedule));
  const options = state.options === undefined ? '' : `,"options":${JSON.stringify(state.options)}`;
  // TextEncoder: a buffer of its own (Buffer.from may hand out a slice of a shared pool, which cannot be moved)
  return new TextEncoder().encode(`{"units":${units},"machines":${JSON.stringify(state.machines)},"schedule":${schedule}${options}}`);
}

/** The worker's side of encodeState. */
export function decodeState(bytes: EncodedState): ClusterState {
  const o = JSON.parse(new TextDecoder().decode(bytes)) as Omit<ClusterState, 'schedule'> & { schedule: [string, string][] };
  return { ...o, schedule: Object.fromEntries(o.schedule) };
}

export class PlannerError extends FleetError {
  override readonly name: string = 'PlannerError';
}

/**
 * No deadline and no idle exit: a plan's cost is bounded by the stored units (lib/unit bounds every [X-Fleet]
 * value), and a deadline would only make the engine retry the same plan forever; the worker stays for the next pass.
 */
const WORKER: WorkerCallOptions = { what: 'plan', idleMs: Infinity };

export class Planner {
  private readonly worker = new WorkerCall<EncodedState, Plan>(new URL('./plan-worker.js', import.meta.url), WORKER);
  private closed = false;

  /**
   * `workerAbove`: plan in a worker thread when the state has at least this many units (0: always);
   * `globMatchesAbove`: also when globMatchesOf(state) is at least this.
   */
  constructor(
    private readonly workerAbove = DEFAULT_WORKER_ABOVE,
    private readonly globMatchesAbove = DEFAULT_WORKER_ABOVE_GLOB_MATCHES,
  ) {}

  /** Whether a plan of `state` runs in the worker thread. */
  usesWorker(state: ClusterState): boolean {
    return state.units.length >= this.workerAbove || globMatchesOf(state) >= this.globMatchesAbove;
  }

  async plan(state: ClusterState): Promise<Plan> {
    if (this.closed || !this.usesWorker(state)) return plan(state);
    try {
      const encoded = await encodeState(state);
      if (this.closed) throw new PlannerError('the engine stopped while a plan was being computed');
      return await this.worker.call(encoded, [encoded.buffer as ArrayBuffer]); // TextEncoder: never shared
    } catch (err) {
      throw this.plannerError(err);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.worker.close();
  }

  private plannerError(err: unknown): PlannerError {
    if (err instanceof PlannerError) return err;
    if (this.closed) return new PlannerError('the engine stopped while a plan was being computed');
    if (err instanceof WorkerCallError && err.detail !== undefined) return new PlannerError(`scheduling failed: ${err.detail}`);
    log.error('plan worker failed; the next plan starts a new one', { err: errorMessage(err) });
    return new PlannerError(`the plan worker failed: ${errorMessage(err)}`);
  }
}
