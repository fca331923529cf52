/**
 * Where the engine's plan() runs. Small clusters plan inline. From `workerAbove` units the plan runs in a worker
 * thread: at 100,000 units one plan takes over a second of CPU, and an event loop blocked that long misses the
 * keep-alives of the engine's 4 s leadership lease (and, in fleetd, of the machine's own lease). A plan also goes to
 * the worker when it may do more than `globMatchesAbove` glob matches, whatever the cluster's size. The cost
 * estimate and the state's encoding for the worker are lib/schedule/worker-state.ts, shared with the API's dry run.
 */
import { encodeState, globMatchesOf, plan, PLAN_IN_WORKER_ABOVE, type ClusterState, type EncodedState, type Plan } from '../../lib/schedule/index.js';
import { logger } from '../../lib/log.js';
import { FleetError, errorMessage } from '../../lib/errors.js';
import { INLINE_GLOB_MATCHES, WorkerCall, WorkerCallError, type WorkerCallOptions } from '../../lib/worker-call.js';

const log = logger('engine.planner');

/** Clusters this large (units) plan in a worker thread by default. */
export const DEFAULT_WORKER_ABOVE = PLAN_IN_WORKER_ABOVE;
/** Plans that may match more globs than this plan in a worker thread by default. */
export const DEFAULT_WORKER_ABOVE_GLOB_MATCHES = INLINE_GLOB_MATCHES;

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
