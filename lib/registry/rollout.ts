/**
 * The registry side of rolling updates (lib/rollout, docs/registry.md "Rollouts"): creating a rollout (its spec,
 * its new texts and a lock per unit, in one transaction), reading and controlling rollouts, what the engine leader
 * observes of a rollout's units, and its fenced step (status, text swaps, locks released at the end). Kept apart
 * from registry.ts, which exposes these through a few methods.
 */
import { randomBytes } from 'node:crypto';
import type { Etcd3, IKeyValue, IRequestOp } from 'etcd3';
import { compareStrings } from '../compare.js';
import { decodeGlobalMachineHash, decodeJobObject, encodeGlobalEntry, encodeJobObject } from './codec.js';
import { cmp, op, rangeAt, txn } from './etcd.js';
import { FencedError, InvalidKeyError, RolloutNotFoundError, RolloutRefusedError } from './errors.js';
import { checkHash, checkUnitName, isSegment, type Keyspace } from './keys.js';
import { jobsProjection, project, statesProjection } from './projections.js';
import { MAX_OPS_PER_TXN } from './schedule.js';
import type { Fence } from './types.js';
import type { Projection } from './watch.js';
import {
  decodeRolloutSpec,
  decodeRolloutStatus,
  encodeRolloutSpec,
  encodeRolloutStatus,
  isRolloutControl,
  isRolloutId,
} from '../rollout/codec.js';
import { isTerminalPhase } from '../rollout/types.js';
import type { ObservedUnit, RolloutControl, RolloutRecord, RolloutSpec, RolloutStatus, RolloutSwap } from '../rollout/types.js';

/** What a client asks for: the units and their new texts, and how to roll. */
export interface RolloutRequest {
  readonly units: readonly { readonly name: string; readonly hash: string; readonly text: string }[];
  readonly maxUnavailable: number;
  readonly minHealthyMs: number;
  readonly deadlineMs: number;
  readonly rollback: boolean;
}

/** Limits of a request: a rollout is created in one transaction (two compares per unit; etcd allows 128). */
export const MAX_ROLLOUT_UNITS = 60;

const REL = /^([^/]+)\/(spec|status|control)$/;

export function rolloutProjection(keys: Keyspace): Projection<RolloutRecord> {
  return {
    dir: keys.rolloutsDir,
    group(rel) {
      const m = REL.exec(rel);
      return m && isRolloutId(m[1]) ? m[1] : undefined;
    },
    build(id, kv) {
      const raw = kv.get(`${id}/spec`);
      const spec = raw === undefined ? undefined : decodeRolloutSpec(raw);
      if (!spec || spec.id !== id) return undefined;
      const s = kv.get(`${id}/status`);
      const status = s === undefined ? undefined : decodeRolloutStatus(s);
      const c = kv.get(`${id}/control`);
      return { spec, ...(status ? { status } : {}), ...(isRolloutControl(c) ? { control: c } : {}) };
    },
  };
}

/** A sortable id: the creation time (UTC, to the second), then random. */
function newRolloutId(now: Date): string {
  const t = now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  return `${t}-${randomBytes(3).toString('hex')}`;
}

function checkRequest(r: RolloutRequest): void {
  if (!Array.isArray(r.units) || r.units.length === 0) throw new InvalidKeyError('a rollout needs at least one unit');
  if (r.units.length > MAX_ROLLOUT_UNITS) throw new InvalidKeyError(`a rollout takes at most ${MAX_ROLLOUT_UNITS} units, not ${r.units.length}`);
  const seen = new Set<string>();
  for (const u of r.units) {
    checkUnitName(u.name);
    checkHash(u.hash);
    if (typeof u.text !== 'string') throw new InvalidKeyError(`unit ${u.name}: text must be a string`);
    if (seen.has(u.name)) throw new InvalidKeyError(`unit ${u.name} appears twice in the rollout`);
    seen.add(u.name);
  }
  if (!Number.isSafeInteger(r.maxUnavailable) || r.maxUnavailable < 1) throw new InvalidKeyError(`max unavailable must be a whole number of at least 1, not ${r.maxUnavailable}`);
  for (const [what, v] of [['minimum healthy time', r.minHealthyMs], ['deadline', r.deadlineMs]] as const) {
    if (!Number.isSafeInteger(v) || v < 0) throw new InvalidKeyError(`invalid rollout ${what} ${v} ms`);
  }
  if (r.deadlineMs <= r.minHealthyMs) throw new InvalidKeyError('the rollout deadline must be longer than the minimum healthy time');
}

/**
 * Creates a rollout: reads the units' current texts (their `from`), then in one transaction guarded by their job
 * objects being unchanged and their locks absent, writes the new texts, the spec and the locks. Units already on
 * their new text are left out; RolloutRefusedError when none is left, a unit does not exist, is not launched, is
 * global among others, or belongs to another active rollout.
 */
export async function createRollout(client: Etcd3, k: Keyspace, r: RolloutRequest, now = new Date()): Promise<RolloutSpec> {
  checkRequest(r);
  const reads = await txn(client, [], r.units.flatMap((u) => [op.getPrefix(k.jobDir(u.name)), op.get(k.rolloutLock(u.name))]));
  const units: { name: string; from: string; to: string; rev: string; global: boolean }[] = [];
  const texts = new Map<string, string>();
  r.units.forEach((u, i) => {
    const kvs = rangeAt(reads, 2 * i);
    const lock = rangeAt(reads, 2 * i + 1)[0]?.value.toString('utf8');
    if (lock !== undefined) throw new RolloutRefusedError(`unit ${u.name} is in rollout ${lock}, which is still running (see fleetctl rollout status ${lock})`, lock);
    const field = (f: string): IKeyValue | undefined => kvs.find((kv) => kv.key.toString('utf8') === `${k.jobDir(u.name)}${f}`);
    const obj = field('object');
    const job = obj ? decodeJobObject(obj.value.toString('utf8')) : undefined;
    if (!obj || !job) throw new RolloutRefusedError(`unit ${u.name} does not exist: a rolling update replaces running units; start it first`);
    if (job.global && r.units.length > 1) throw new RolloutRefusedError(`unit ${u.name} is a global unit: roll it out on its own (fleetctl start --rolling ${u.name})`);
    const ts = field('target-state')?.value.toString('utf8');
    if (ts !== 'launched') throw new RolloutRefusedError(`unit ${u.name} is not launched (${ts ?? 'inactive'}): a rolling update replaces running units; start it first, or replace it without --rolling`);
    if (job.hash === u.hash) return;
    units.push({ name: u.name, from: job.hash, to: u.hash, rev: obj.mod_revision, global: job.global });
    texts.set(u.hash, u.text);
  });
  // a global unit: one target per machine running it now (machines joining later get the unit's text, new at the end)
  const targets: { name: string; machine?: string; from: string; to: string }[] = [];
  for (const u of units) {
    if (!u.global) {
      targets.push({ name: u.name, from: u.from, to: u.to });
      continue;
    }
    const states = project(statesProjection(k), (await client.getAll().prefix(k.unitStatesDir(u.name)).exec()).kvs);
    const machines = [...new Set([...states.values()].map((st) => st.machineId))].sort(compareStrings);
    if (machines.length === 0) throw new RolloutRefusedError(`global unit ${u.name} runs on no machine: nothing to roll out`);
    if (machines.length > MAX_ROLLOUT_UNITS) throw new RolloutRefusedError(`global unit ${u.name} runs on ${machines.length} machines; a rollout takes at most ${MAX_ROLLOUT_UNITS}`);
    for (const m of machines) targets.push({ name: u.name, machine: m, from: u.from, to: u.to });
  }
  if (units.length === 0) throw new RolloutRefusedError('nothing to roll out: every unit already has this text');
  const spec: RolloutSpec = {
    id: newRolloutId(now),
    units: targets,
    maxUnavailable: r.maxUnavailable,
    minHealthyMs: r.minHealthyMs,
    deadlineMs: r.deadlineMs,
    rollback: r.rollback,
    createdAt: now.toISOString(),
  };
  const res = await txn(
    client,
    units.flatMap((u) => [cmp.modRevision(k.jobObject(u.name), '==', u.rev), cmp.version(k.rolloutLock(u.name), '==', 0)]),
    [
      // always written, so the text's mod revision moves: collectUnitTexts deletes only an unmoved text
      ...[...texts].map(([hash, text]) => op.put(k.unit(hash), text)),
      op.put(k.rolloutSpec(spec.id), encodeRolloutSpec(spec)),
      ...units.map((u) => op.put(k.rolloutLock(u.name), spec.id)),
    ],
  );
  if (!res.succeeded) throw new RolloutRefusedError('a unit of the rollout changed while it was being created; try again');
  return spec;
}

export async function getRollout(client: Etcd3, k: Keyspace, id: string): Promise<RolloutRecord | undefined> {
  if (!isRolloutId(id)) throw new InvalidKeyError(`invalid rollout id ${JSON.stringify(id)}`);
  const res = await client.getAll().prefix(k.rolloutDir(id)).exec();
  return project(rolloutProjection(k), res.kvs).get(id);
}

/** Every rollout stored, oldest first. */
export async function listRollouts(client: Etcd3, k: Keyspace): Promise<RolloutRecord[]> {
  const res = await client.getAll().prefix(k.rolloutsDir).exec();
  return [...project(rolloutProjection(k), res.kvs).values()].sort((a, b) => compareStrings(a.spec.id, b.spec.id));
}

/** Asks the leader to pause, resume or abort a rollout (the latest value counts); it must exist. */
export async function controlRollout(client: Etcd3, k: Keyspace, id: string, control: RolloutControl): Promise<void> {
  if (!isRolloutId(id)) throw new InvalidKeyError(`invalid rollout id ${JSON.stringify(id)}`);
  if (!isRolloutControl(control)) throw new InvalidKeyError(`invalid rollout control ${JSON.stringify(control)}: pause, resume or abort`);
  const res = await txn(client, [cmp.version(k.rolloutSpec(id), '>', 0)], [op.put(k.rolloutControl(id), control)]);
  if (!res.succeeded) throw new RolloutNotFoundError(id);
}

/** What the leader sees of units: their job (hash, machine, refusals) and the state their machine publishes. */
export async function observeUnits(client: Etcd3, k: Keyspace, names: readonly string[]): Promise<Map<string, ObservedUnit>> {
  const out = new Map<string, ObservedUnit>();
  const per = 2;
  const step = Math.floor(MAX_OPS_PER_TXN / per);
  for (let i = 0; i < names.length; i += step) {
    const batch = names.slice(i, i + step);
    const res = await txn(client, [], batch.flatMap((n) => [op.getPrefix(k.jobDir(n)), op.getPrefix(k.unitStatesDir(n))]));
    batch.forEach((name, j) => {
      const job = project(jobsProjection(k), rangeAt(res, per * j)).get(name);
      const states = project(statesProjection(k), rangeAt(res, per * j + 1));
      if (!job) return out.set(name, {});
      const machineId = job.machineId;
      const st = machineId === undefined ? undefined : [...states.values()].find((s) => s.machineId === machineId);
      const refused = Object.values(job.refusedBy ?? {})[0];
      out.set(name, {
        hash: job.hash,
        ...(machineId !== undefined ? { machineId } : {}),
        ...(st ? { state: { hash: st.hash, activeState: st.activeState, subState: st.subState } } : {}),
        ...(refused !== undefined ? { refused } : {}),
      });
    });
  }
  return out;
}

/**
 * What the leader sees of a global unit on each machine of its rollout: the hash that machine should run (its
 * override, else the unit's), its published state there, and whether the machine is gone. Keyed by machine id.
 */
export async function observeGlobal(client: Etcd3, k: Keyspace, name: string, machines: readonly string[]): Promise<Map<string, ObservedUnit>> {
  const res = await txn(client, [], [
    op.getPrefix(k.jobDir(name)),
    op.getPrefix(k.unitStatesDir(name)),
    op.getPrefix(k.globalMachineDir(name)),
    ...machines.map((m) => op.get(k.machineObject(m))),
  ]);
  const job = project(jobsProjection(k), rangeAt(res, 0)).get(name);
  const states = [...project(statesProjection(k), rangeAt(res, 1)).values()];
  const overrides = new Map<string, string>();
  const dir = k.globalMachineDir(name);
  for (const kv of rangeAt(res, 2)) {
    const m = kv.key.toString('utf8').slice(dir.length);
    // a malformed override is no override (codec.ts, as the agents read it)
    const o = decodeGlobalMachineHash(kv.value.toString('utf8'));
    if (isSegment(m) && o) overrides.set(m, o.hash);
  }
  const out = new Map<string, ObservedUnit>();
  machines.forEach((m, i) => {
    if (!job) return out.set(m, {});
    const hash = overrides.get(m) ?? job.hash;
    const alive = rangeAt(res, 3 + i).length > 0;
    const st = states.find((x) => x.machineId === m);
    out.set(m, {
      hash,
      ...(alive ? { machineId: m } : { gone: true }),
      ...(st ? { state: { hash: st.hash, activeState: st.activeState, subState: st.subState } } : {}),
      ...(job.refusedBy?.[m] !== undefined && hash === job.hash ? { refused: job.refusedBy[m] } : {}),
    });
  });
  return out;
}

/**
 * The leader's step of one rollout, in one transaction fenced by its leadership: the new status; a global unit's
 * commit; each text swap of a non-global unit (the job object's hash, only while it still has `from`; a global
 * unit's per-machine swaps are the caller's, through setGlobalMachineHash); and once the rollout is finished, its
 * units' locks (only those still naming it). FencedError when the leadership is gone; `written` false when the
 * spec is gone; `committed` when the commit applied.
 */
export async function applyRolloutStep(
  client: Etcd3,
  k: Keyspace,
  id: string,
  status: RolloutStatus,
  swaps: readonly RolloutSwap[],
  unitNames: readonly string[],
  fence: Fence,
  commit?: RolloutSwap,
): Promise<{ written: boolean; committed: boolean }> {
  // a global unit's commit: its job object and global entry get the new hash, only while they have the old one
  const commitOps: IRequestOp[] = commit
    ? [op.txn(
      [
        cmp.value(k.jobObject(commit.name), '==', encodeJobObject({ name: commit.name, hash: commit.from, global: true })),
        cmp.value(k.global(commit.name), '==', encodeGlobalEntry({ hash: commit.from, desiredState: 'launched' })),
      ],
      [
        op.put(k.jobObject(commit.name), encodeJobObject({ name: commit.name, hash: commit.to, global: true })),
        op.put(k.global(commit.name), encodeGlobalEntry({ hash: commit.to, desiredState: 'launched' })),
      ],
    )]
    : [];
  const swapOps: IRequestOp[] = swaps.filter((s) => s.machine === undefined).map((s) =>
    op.txn(
      [cmp.value(k.jobObject(s.name), '==', encodeJobObject({ name: s.name, hash: s.from, global: false }))],
      [op.put(k.jobObject(s.name), encodeJobObject({ name: s.name, hash: s.to, global: false }))],
    ),
  );
  const release = isTerminalPhase(status.phase)
    ? unitNames.filter(isSegment).map((n) => op.txn([cmp.value(k.rolloutLock(n), '==', id)], [op.del(k.rolloutLock(n))]))
    : [];
  const res = await txn(
    client,
    [cmp.createRevision(fence.key, '==', fence.createRevision), cmp.version(k.rolloutSpec(id), '>', 0)],
    [op.put(k.rolloutStatus(id), encodeRolloutStatus(status)), ...commitOps, ...swapOps, ...release],
    [op.get(fence.key)],
  );
  if (res.succeeded) return { written: true, committed: commit !== undefined && res.responses[1]?.response_txn?.succeeded === true };
  const leader = rangeAt(res, 0)[0];
  if (leader?.create_revision !== fence.createRevision) throw new FencedError(fence.key, fence.createRevision, leader?.create_revision);
  return { written: false, committed: false };
}

/** Deletes a finished rollout (the leader's clean-up), fenced. */
export async function deleteRollout(client: Etcd3, k: Keyspace, id: string, fence: Fence): Promise<void> {
  const res = await txn(client, [cmp.createRevision(fence.key, '==', fence.createRevision)], [op.delPrefix(k.rolloutDir(id))]);
  if (!res.succeeded) throw new FencedError(fence.key, fence.createRevision, undefined);
}

/** Hashes live rollouts need (from and to of every unit of a rollout not finished), for the text collection. */
export function rolloutHashes(kvs: readonly IKeyValue[], k: Keyspace): Set<string> {
  const out = new Set<string>();
  for (const r of project(rolloutProjection(k), kvs).values()) {
    if (r.status && isTerminalPhase(r.status.phase)) continue;
    for (const u of r.spec.units) out.add(u.from).add(u.to);
  }
  return out;
}
