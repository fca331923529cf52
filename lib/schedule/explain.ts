/** Why a unit can or cannot run on each machine, judged against the state the plan leads to. */
import { compareStrings } from '../compare.js';
import { nameList } from './constraints.js';
import { UnknownUnitError } from './errors.js';
import { fit } from './fit.js';
import { globalUnitsFor } from './global.js';
import { schedule } from './plan.js';
import type { ClusterState, Explanation, MachineVerdict } from './types.js';

export function explain(unitName: string, state: ClusterState): Explanation {
  const s = schedule(state);
  const unit = s.units.get(unitName);
  if (!unit) throw new UnknownUnitError(unitName);
  const slots = [...s.cluster.ordered()].sort((a, b) => compareStrings(a.machine.id, b.machine.id));

  if (unit.requirements.global) {
    let running = 0;
    const machines = slots.map((slot): MachineVerdict => {
      const others = [...slot.units.values()].filter((u) => !u.requirements.global);
      const gp = globalUnitsFor(slot.machine, s.globals, others);
      const runs = gp.run.includes(unitName);
      if (runs) running++;
      const globalsHere = gp.run.length - (runs ? 1 : 0);
      return {
        machineId: slot.machine.id,
        load: others.length + globalsHere,
        eligible: runs,
        reason: runs ? 'runs here' : gp.skipped.find((x) => x.unit === unitName)!.reason,
      };
    });
    const outcome =
      unit.desiredState === 'inactive'
        ? 'global unit, desired state is inactive: runs nowhere'
        : `global unit: runs on ${running} of ${slots.length} machines`;
    return { unit: unitName, outcome, machines };
  }

  const placedOn = s.cluster.placement.get(unitName);
  if (placedOn !== undefined) s.cluster.remove(unitName);
  const machines = slots.map((slot): MachineVerdict => {
    const f = fit(s.cluster, unit, slot, s.evicted);
    const here = slot.machine.id === placedOn ? '; scheduled here' : '';
    const takeover = f.ok && f.victims.length > 0 ? `, taking it over from ${nameList(f.victims.map((v) => v.name))}` : '';
    return {
      machineId: slot.machine.id,
      load: slot.load,
      eligible: f.ok,
      reason: f.ok ? `eligible${takeover}${here}` : f.why,
    };
  });

  const decision = s.decisions.get(unitName);
  const from = Object.hasOwn(state.schedule, unitName) ? state.schedule[unitName] : undefined;
  const lost = s.held.get(unitName);
  let outcome: string;
  if (unit.desiredState === 'inactive') outcome = 'not scheduled: desired state is inactive';
  else if (placedOn !== undefined && decision?.to === placedOn && from !== placedOn) {
    outcome = `${from === undefined ? 'placed on' : `moves from ${from} to`} ${placedOn}: ${decision.reason}`;
  } else if (placedOn !== undefined) outcome = `stays on ${placedOn}`;
  else outcome = `pending: ${s.pending.get(unitName) ?? decision?.reason ?? 'not placed'}`;
  const machineId = placedOn ?? lost;
  return machineId === undefined ? { unit: unitName, outcome, machines } : { unit: unitName, outcome, machineId, machines };
}
