/**
 * `POST /plan`: a dry run of the scheduler with the given units added to the current cluster state.
 *
 * The request decides how much work the dry run is (how many units, how many Conflicts/Replaces globs against
 * how many names), the cluster the rest, and fleetd's event loop also keeps the machine's lease: so the units are
 * validated and planned in a worker thread (plan-worker.ts), with a deadline, unless the dry run is small: fewer
 * than PLAN_IN_WORKER_ABOVE units in the cluster and at most INLINE_GLOB_MATCHES glob matches, estimated from the
 * globs in the cluster and the [X-Fleet] values sent. The cluster state goes to the worker as lib/schedule's
 * encodeState, built in slices and moved, as the engine's planner sends it. Units over lib/unit's bounds are
 * refused while decoding, in time linear in the body.
 */
import { isJsonObject } from '../../lib/json.js';
import { decodeState, encodeState, PLAN_IN_WORKER_ABOVE, wildcardGlobs, type ClusterState, type EncodedState } from '../../lib/schedule/index.js';
import { planWith } from '../../lib/api/plan.js';
import { RequirementsError, UnitFileError, UnitNameError, checkRequirementBounds, validateUnitName } from '../../lib/unit/index.js';
import { INLINE_GLOB_MATCHES, WorkerCall, WorkerCallError } from '../../lib/worker-call.js';
import { DESIRED_STATES, type DesiredState } from '../../lib/unit/types.js';
import type { Ctx } from './context.js';
import { ApiError } from '../../lib/api/errors.js';
import { readJson, requireJsonContentType, sendJson } from './http.js';
import type { ApiUnitOption, PlanResponse, PlanUnitRequest } from '../../lib/api/schema.js';
import { errorMessage } from '../../lib/errors.js';

const MAX_PLAN_UNITS = 10000;
/** A dry run not done within this long is stopped and answered with 503. */
export const PLAN_DEADLINE_MS = 10_000;
/** Dry runs waiting for the worker at once; more are answered with 503 at once. */
export const MAX_PENDING_PLANS = 4;

/** What the worker answers: the plan, or the status and message of an error to send. */
export type PlanOutcome = { readonly plan: PlanResponse } | { readonly status: number; readonly message: string };

export interface PlanCall {
  readonly state: ClusterState;
  readonly requested: readonly PlanUnitRequest[];
}

/** A PlanCall as the worker receives it: the state encoded (lib/schedule's encodeState), its buffer moved. */
export interface EncodedPlanCall {
  readonly state: EncodedState;
  readonly requested: readonly PlanUnitRequest[];
}

function decodeRequest(raw: unknown): PlanUnitRequest[] {
  if (!isJsonObject(raw) || !Array.isArray(raw.units)) throw new ApiError(400, 'unable to decode body: expected {"units": [{"name", "options", "desiredState"}]}');
  if (raw.units.length === 0) throw new ApiError(400, 'no units to plan');
  if (raw.units.length > MAX_PLAN_UNITS) throw new ApiError(400, `too many units to plan at once (limit ${MAX_PLAN_UNITS})`);
  const seen = new Set<string>();
  return raw.units.map((u: unknown, i: number): PlanUnitRequest => {
    if (!isJsonObject(u) || typeof u.name !== 'string') throw new ApiError(400, `units[${i}]: expected an object with a string "name"`);
    try {
      validateUnitName(u.name);
    } catch (err) {
      throw new ApiError(400, `units[${i}]: ${errorMessage(err)}`);
    }
    if (seen.has(u.name)) throw new ApiError(400, `units[${i}]: ${u.name} is listed twice`);
    seen.add(u.name);
    const out: PlanUnitRequest = { name: u.name };
    if (u.options !== undefined && u.options !== null) {
      if (!Array.isArray(u.options)) throw new ApiError(400, `units[${i}].options must be an array of {section, name, value}`);
      out.options = u.options.map((o: unknown, j: number): ApiUnitOption => {
        if (!isJsonObject(o) || typeof o.section !== 'string' || typeof o.name !== 'string' || typeof o.value !== 'string') {
          throw new ApiError(400, `units[${i}].options[${j}] must be {"section": string, "name": string, "value": string}`);
        }
        return { section: o.section, name: o.name, value: o.value };
      });
      try {
        checkRequirementBounds({ options: out.options }, u.name);
      } catch (err) {
        if (err instanceof RequirementsError) throw new ApiError(400, err.message);
        throw err;
      }
    }
    if (u.desiredState !== undefined && u.desiredState !== null) {
      if (typeof u.desiredState !== 'string' || !(DESIRED_STATES as readonly string[]).includes(u.desiredState)) {
        throw new ApiError(400, `units[${i}]: invalid desiredState ${JSON.stringify(u.desiredState)}: expected one of ${DESIRED_STATES.join(', ')}`);
      }
      out.desiredState = u.desiredState as DesiredState;
    }
    return out;
  });
}

/** The worker's side: planOutcome of the decoded call. */
export function encodedPlanOutcome(call: EncodedPlanCall): PlanOutcome {
  return planOutcome({ state: decodeState(call.state), requested: call.requested });
}

/** planWith, with the errors a client caused as an outcome to send (inline, or in the worker). */
export function planOutcome(call: PlanCall): PlanOutcome {
  try {
    return { plan: planWith(call.state, call.requested) };
  } catch (err) {
    if (err instanceof ApiError) return { status: err.status, message: err.message };
    if (err instanceof UnitNameError || err instanceof UnitFileError || err instanceof RequirementsError) return { status: 400, message: err.message };
    throw err;
  }
}

const dryRuns = new WorkerCall<EncodedPlanCall, PlanOutcome>(new URL('./plan-worker.js', import.meta.url), {
  what: 'dry run',
  deadlineMs: PLAN_DEADLINE_MS,
  maxPending: MAX_PENDING_PLANS,
});

/**
 * At most how many glob matches a dry run does: every wildcard glob in the cluster and every [X-Fleet] value sent
 * (counted as a glob) against every unit name, plus each sent unit's values checked against each other.
 */
export function dryRunGlobMatches(state: ClusterState, requested: readonly PlanUnitRequest[]): number {
  let globs = wildcardGlobs(state.units);
  let own = 0;
  for (const r of requested) {
    let values = 0;
    for (const o of r.options ?? []) if (o.section === 'X-Fleet') values += o.value.split(/[ \t]+/).length;
    globs += values;
    own += values * values;
  }
  return globs * (state.units.length + requested.length) + own;
}

/** Whether a dry run goes to the worker thread (see the file header); `unitsAbove` is for tests. */
export function dryRunInWorker(state: ClusterState, requested: readonly PlanUnitRequest[], unitsAbove = PLAN_IN_WORKER_ABOVE): boolean {
  return state.units.length >= unitsAbove || dryRunGlobMatches(state, requested) >= INLINE_GLOB_MATCHES;
}

async function planInWorker(call: PlanCall): Promise<PlanOutcome> {
  const state = await encodeState(call.state);
  return dryRuns.call({ state, requested: call.requested }, [state.buffer as ArrayBuffer]); // TextEncoder: never shared
}

export async function postPlan(c: Ctx): Promise<void> {
  requireJsonContentType(c.req);
  const requested = decodeRequest(await readJson(c.req));
  const state = await c.backend.clusterState();
  let outcome: PlanOutcome;
  try {
    outcome = dryRunInWorker(state, requested, c.planInWorkerAbove) ? await planInWorker({ state, requested }) : planOutcome({ state, requested });
  } catch (err) {
    if (err instanceof WorkerCallError) throw new ApiError(err.kind === 'failed' ? 500 : 503, err.message);
    throw err;
  }
  if ('plan' in outcome) sendJson(c.res, 200, outcome.plan);
  else throw new ApiError(outcome.status, outcome.message);
}
