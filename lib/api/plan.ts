/**
 * The dry run behind `POST /fleet/v1/plan`, as a pure function of a cluster state: fleetd's API runs it (in a
 * worker when large, fleetd/api/plan.ts) and fleetctl's etcd driver runs it in-process, so both answer alike.
 */
import { explain, plan, type ClusterState, type SchedUnit } from '../schedule/index.js';
import { loadUnitFile } from '../unit/index.js';
import { ApiError } from './errors.js';
import type { PlanResponse, PlanUnitRequest } from './schema.js';

/**
 * The scheduler's answer with `requested` added to (or replacing units of) `state`. Throws ApiError 404 for a
 * unit given without options that is not stored, and lib/unit errors for invalid options.
 */
export function planWith(state: ClusterState, requested: readonly PlanUnitRequest[]): PlanResponse {
  const units = new Map(state.units.map((u) => [u.name, u]));
  for (const r of requested) {
    const desiredState = r.desiredState ?? 'launched';
    let unit: SchedUnit;
    if (r.options && r.options.length > 0) {
      const loaded = loadUnitFile(r.name, { options: r.options });
      unit = { name: r.name, hash: loaded.hash, desiredState, requirements: loaded.requirements };
    } else {
      const stored = units.get(r.name);
      if (!stored) throw new ApiError(404, `unit ${r.name} does not exist and no options were given`);
      unit = { ...stored, desiredState };
    }
    units.set(r.name, unit);
  }
  const next: ClusterState = { ...state, units: [...units.values()] };
  const p = plan(next);
  return { units: requested.map((r) => explain(r.name, next)), ops: [...p.ops], pending: [...p.pending] };
}

