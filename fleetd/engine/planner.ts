/**
 * Where the engine's plan() runs. Small clusters plan inline. From `workerAbove` units the plan runs in a worker
 * thread: at 100,000 units one plan takes over a second of CPU, and an event loop blocked that long misses the
 * keep-alives of the engine's 4 s leadership lease (and, in fleetd, of the machine's own lease).
 *
 * A few units can cost as much as many: the scheduler matches every wildcard Conflicts/Replaces glob against the
 * unit names, and units decide their globs. So a plan also goes to the worker when it may do more than
 * `globMatchesAbove` glob matches (wildcard globs × units), whatever the cluster's size.
 */
import { Worker } from 'node:worker_threads';
import { plan, type ClusterState, type Plan } from '../../lib/schedule/index.js';
import { logger } from '../../lib/log.js';
import { FleetError } from '../../lib/errors.js';
import { INLINE_GLOB_MATCHES } from '../../lib/worker-call.js';

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

export interface PlanRequest {
  readonly id: number;
  readonly state: ClusterState;
}

export type PlanReply = { readonly id: number; readonly plan: Plan } | { readonly id: number; readonly error: string };

export class PlannerError extends FleetError {
  override readonly name: string = 'PlannerError';
}

export class Planner {
  private worker: Worker | undefined;
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve: (p: Plan) => void; reject: (e: Error) => void }>();
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

  plan(state: ClusterState): Promise<Plan> {
    if (this.closed || !this.usesWorker(state)) return Promise.resolve(plan(state));
    const worker = this.ensureWorker();
    const id = this.nextId++;
    return new Promise<Plan>((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      worker.postMessage({ id, state } satisfies PlanRequest);
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    const w = this.worker;
    this.worker = undefined;
    this.failAll(new PlannerError('the engine stopped while a plan was being computed'));
    if (w) await w.terminate();
  }

  private ensureWorker(): Worker {
    if (this.worker) return this.worker;
    const w = new Worker(new URL('./plan-worker.js', import.meta.url));
    w.unref();
    w.on('message', (reply: PlanReply) => {
      const p = this.waiting.get(reply.id);
      if (!p) return;
      this.waiting.delete(reply.id);
      if ('plan' in reply) p.resolve(reply.plan);
      else p.reject(new PlannerError(`scheduling failed: ${reply.error}`));
    });
    w.on('error', (err) => {
      log.error('plan worker failed; the next plan starts a new one', { err: err.message });
      this.dropWorker(w, new PlannerError(`the plan worker failed: ${err.message}`));
    });
    w.on('exit', (code) => this.dropWorker(w, new PlannerError(`the plan worker exited (code ${code})`)));
    this.worker = w;
    return w;
  }

  private dropWorker(w: Worker, err: Error): void {
    if (this.worker !== w) return;
    this.worker = undefined;
    this.failAll(err);
  }

  private failAll(err: Error): void {
    for (const p of this.waiting.values()) p.reject(err);
    this.waiting.clear();
  }
}
