/** Builders and checks shared by the scheduler tests. */
import { globalUnitsFor, plan, type ClusterState, type Op, type Plan, type SchedMachine, type SchedUnit } from '../../lib/schedule/index.js';
import { globMatch } from '../../lib/unit/glob.js';
import type { DesiredState, Requirements } from '../../lib/unit/types.js';

export const req = (r: Partial<Requirements> = {}): Requirements => ({
  machineOf: [],
  metadata: {},
  conflicts: [],
  replaces: [],
  global: false,
  ...r,
});

export const unit = (name: string, r: Partial<Requirements> = {}, desiredState: DesiredState = 'launched'): SchedUnit => ({
  name,
  hash: 'h',
  desiredState,
  requirements: req(r),
});

export const machine = (id: string, metadata: Record<string, string> = {}): SchedMachine => ({ id, metadata });
export const machines = (...ids: string[]): SchedMachine[] => ids.map((id) => machine(id));

export const state = (
  units: SchedUnit[],
  ms: SchedMachine[],
  schedule: Record<string, string> = {},
  options?: ClusterState['options'],
): ClusterState => (options ? { units, machines: ms, schedule, options } : { units, machines: ms, schedule });

/** `place a.service m1`, `move a.service m1>m2`, `unschedule a.service m1` */
export function brief(ops: readonly Op[]): string[] {
  return ops.map((op) =>
    op.kind === 'place'
      ? `place ${op.unit} ${op.machineId}`
      : op.kind === 'move'
        ? `move ${op.unit} ${op.from}>${op.to}`
        : `unschedule ${op.unit} ${op.from}`,
  );
}

export function pendingNames(p: Plan): string[] {
  return p.pending.map((x) => x.unit);
}

export function apply(schedule: Readonly<Record<string, string>>, p: Plan): Record<string, string> {
  const next: Record<string, string> = { ...schedule };
  for (const op of p.ops) {
    if (op.kind === 'place') next[op.unit] = op.machineId;
    else if (op.kind === 'move') next[op.unit] = op.to;
    else delete next[op.unit];
  }
  return next;
}

/** Plan, apply, and return the state the cluster converges to. */
export function settle(s: ClusterState): { plan: Plan; schedule: Record<string, string>; next: ClusterState } {
  const p = plan(s);
  const schedule = apply(s.schedule, p);
  return { plan: p, schedule, next: { ...s, schedule } };
}

/** Placements per machine, sorted, e.g. { m1: ['a.service'] }. */
export function byMachine(schedule: Readonly<Record<string, string>>): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const [u, m] of Object.entries(schedule)) (out[m] ??= []).push(u);
  for (const m of Object.keys(out)) out[m]!.sort();
  return out;
}

const globs = (patterns: readonly string[], name: string): boolean => patterns.some((p) => globMatch(p, name));

/**
 * Independent re-statement of the rules: every violation of a placed unit's requirements, and every active
 * non-global unit neither placed on a live machine nor pending.
 */
export function violations(s: ClusterState, schedule: Readonly<Record<string, string>>, p: Plan): string[] {
  const out: string[] = [];
  const live = new Map(s.machines.map((m) => [m.id, m]));
  const units = new Map(s.units.map((u) => [u.name, u]));
  const pending = new Set(p.pending.map((x) => x.unit));
  const onMachine = new Map<string, SchedUnit[]>();
  for (const [name, mid] of Object.entries(schedule)) {
    const u = units.get(name);
    if (!u) {
      out.push(`${name} is scheduled but does not exist`);
      continue;
    }
    if (u.requirements.global) out.push(`global ${name} is scheduled`);
    if (u.desiredState === 'inactive') out.push(`inactive ${name} is scheduled`);
    const m = live.get(mid);
    if (!m) {
      if (!pending.has(name)) out.push(`${name} stays on dead machine ${mid} without being pending`);
      continue;
    }
    if (!onMachine.has(mid)) onMachine.set(mid, []);
    onMachine.get(mid)!.push(u);
    const r = u.requirements;
    if (r.machineId !== undefined && r.machineId !== mid && mid.slice(0, 8) !== r.machineId) {
      out.push(`${name} on ${mid} despite MachineID=${r.machineId}`);
    }
    for (const [k, vs] of Object.entries(r.metadata)) {
      if (vs.length > 0 && !vs.includes(m.metadata[k] as string)) out.push(`${name} on ${mid} lacks ${k}`);
    }
  }
  const replaceEdges = new Map<string, string[]>();
  for (const u of s.units) {
    if (u.requirements.global || u.requirements.replaces.length === 0) continue;
    replaceEdges.set(u.name, s.units.filter((v) => !v.requirements.global && v.name !== u.name && globs(u.requirements.replaces, v.name)).map((v) => v.name));
  }
  const reaches = (from: string, to: string): boolean => {
    const seen = new Set([from]);
    const todo = [from];
    while (todo.length > 0) {
      for (const n of replaceEdges.get(todo.pop()!) ?? []) {
        if (n === to) return true;
        if (!seen.has(n)) {
          seen.add(n);
          todo.push(n);
        }
      }
    }
    return false;
  };
  const globals = s.units.filter((u) => u.requirements.global);
  for (const m of s.machines) {
    const here = onMachine.get(m.id) ?? [];
    const run = new Set(globalUnitsFor(m, globals, here).run);
    const all = [...here, ...globals.filter((g) => run.has(g.name))];
    for (const u of here) {
      for (const peer of u.requirements.machineOf) {
        if (!all.some((x) => x.name === peer)) out.push(`${u.name} on ${m.id} without MachineOf peer ${peer}`);
      }
      for (const v of all) {
        if (v.name === u.name) continue;
        if (globs(u.requirements.conflicts, v.name)) out.push(`${u.name} and ${v.name} conflict on ${m.id}`);
        if (replaceEdges.get(u.name)?.includes(v.name) && !reaches(v.name, u.name)) {
          out.push(`${u.name} shares ${m.id} with ${v.name}, which it replaces`);
        }
      }
    }
  }
  for (const u of s.units) {
    if (u.requirements.global || u.desiredState === 'inactive') continue;
    const mid = schedule[u.name];
    if ((mid === undefined || !live.has(mid)) && !pending.has(u.name)) out.push(`${u.name} neither placed nor pending`);
  }
  return out;
}
