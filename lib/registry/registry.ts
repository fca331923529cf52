import type { Clock } from '../clock.js';
import { randomBytes } from 'node:crypto';
import { type Etcd3, type ICompare, type IKeyValue, type IRequestOp, type ITxnResponse } from 'etcd3';
import { errorMessage, FleetError } from '../errors.js';
import { compareStrings } from '../compare.js';
import { logger } from '../log.js';
import { isUnitHash } from '../unit/hash.js';
import { eachLimited } from '../limit.js';
import {
  decodeJobObject,
  decodeScheduleEntry,
  encodeGlobalEntry,
  encodeGlobalMachineHash,
  encodeJobObject,
  encodeFailure,
  encodeRefusal,
  encodeUnitState,
  isDesiredState,
  isScheduledState,
} from './codec.js';
import {
  EtcdRequestError,
  FencedError,
  InvalidKeyError,
  RegistryConflictError,
  RegistryError,
  UnitExistsError,
  UnitNotFoundError,
  UnitNotGlobalError,
  UnitTextNotFoundError,
} from './errors.js';
import { Election } from './election.js';
import { cmp, op, rangeAt, readPages, txn } from './etcd.js';
import { checkFence, checkHash, checkMachineId, checkMetadataKey, checkUnitName, isSegment, Keyspace } from './keys.js';
import { MachinePresence } from './presence.js';
import { decodeRestartRequest, encodeRestartRequest, type RestartRequest } from './restart.js';
import * as rollouts from './rollout.js';
import type { RolloutRequest } from './rollout.js';
import type { ObservedUnit, RolloutControl, RolloutRecord, RolloutSpec, RolloutStatus, RolloutSwap } from '../rollout/types.js';
import {
  allSchedulesProjection,
  globalProjection,
  jobsProjection,
  machineProjection,
  machinesProjection,
  project,
  Projector,
  scheduleProjection,
  statesProjection,
} from './projections.js';
import { chunkOps, MAX_OPS_PER_TXN, opTxn } from './schedule.js';
import type {
  ChangeListener,
  DesiredState,
  Fence,
  GlobalUnitEntry,
  JobRecord,
  MachineRecord,
  MachineScheduleEntry,
  MachineState,
  ScheduleEntry,
  ScheduledState,
  ScheduleOp,
  ScheduleOpResult,
  UnitRecord,
  UnitSpec,
  UnitFailure,
  UnitRefusal,
  RescheduleStatus,
  UnitState,
  WatchHandle,
} from './types.js';
import { PrefixWatch, type Projection } from './watch.js';

const MAX_ATTEMPTS = 8;
const TEXT_CACHE_LIMIT = 4096;
/** Batches of unit texts (MAX_OPS_PER_TXN each) read at the same time. */
const TEXT_BATCHES_IN_FLIGHT = 4;
/** More missing texts than this are read as the whole text prefix, in pages (texts_). */
const TEXT_PAGES_FROM = 2000;
/** Texts in the first page of that read: a unit file is up to etcd's request limit, so far fewer than PAGE_KEYS. */
const TEXT_PAGE_KEYS = 500;
const RETRY = Symbol('retry');
const log = logger('registry');

export interface CreateUnitResult {
  /** False when a unit of that name existed and was replaced. */
  readonly created: boolean;
  /** Hash of the replaced unit. */
  readonly previousHash?: string;
}

/** Result of collectUnitTexts. */
export interface TextCollection {
  /** Hashes whose text was deleted. */
  readonly removed: readonly string[];
  /** Hashes no unit referenced at the snapshot (removed or not), for the grace of the next collection. */
  readonly unreferenced: ReadonlySet<string>;
}

/** Minimum time between two background text collections (maybeCollectUnitTexts), also the grace of a text. */
export const TEXT_GC_INTERVAL_MS = 60_000;

export interface UnitStateFilter {
  readonly machineId?: string;
  readonly unitName?: string;
}

/**
 * What Reschedule=on-failure did with a unit, seen from one machine's state (docs/fleet-compat.md): the engine moves
 * a unit off a machine where it failed while fewer than attempts + 1 machines saw it fail (lib/schedule/reschedule.ts).
 */
function rescheduleStatus(job: JobRecord, machineId: string): RescheduleStatus {
  const failed = Object.keys(job.failedOn ?? {}).sort(compareStrings);
  const here = job.failedOn![machineId];
  const attempts = here?.attempts ?? Math.max(...Object.values(job.failedOn!).map((f) => f.attempts));
  const moves = Math.min(failed.length, attempts);
  if (here === undefined) return { gaveUp: false, reason: `failed before on ${failed.join(', ')}; moved ${moves} of ${attempts} time${attempts === 1 ? '' : 's'}` };
  if (failed.length > attempts) {
    return { gaveUp: true, reason: `gave up after ${attempts} move${attempts === 1 ? '' : 's'}: failed on ${failed.join(', ')}` };
  }
  return { gaveUp: false, reason: `failed here at ${here.at}; moves to another machine that can run it (move ${failed.length} of ${attempts})` };
}

/** How a refused unit shows among unit states (list-units: LOAD refused, SUB refused; the reason in `refusal`). */
const REFUSED_STATE = { loadState: 'refused', activeState: 'inactive', subState: 'refused', agentState: 'loaded' } as const;

function deriveCurrentState(job: JobRecord, states: ReadonlyMap<string, UnitState>): DesiredState {
  if (job.global) {
    let best: DesiredState = 'inactive';
    for (const s of states.values()) {
      if (s.agentState === 'launched') return 'launched';
      best = 'loaded';
    }
    return best;
  }
  if (!job.machineId) return 'inactive';
  return states.get(job.machineId)?.agentState ?? 'inactive';
}

/**
 * The fleet registry on etcd v3: every operation of clients (units, metadata), the engine (schedule), and
 * agents (presence, unit states, their own schedule). Key layout and transactions: docs/registry.md.
 */
export class Registry {
  private readonly keys: Keyspace;
  private readonly texts = new Map<string, string>();
  private readonly watches = new Set<PrefixWatch<unknown>>();
  /** Minimum time between background text collections (maybeCollectUnitTexts); tests shorten it. */
  textGcIntervalMs = TEXT_GC_INTERVAL_MS;
  /** Background text collection (maybeCollectUnitTexts): when it last ran, what it found, the run in flight. */
  private textGc: { lastMs: number; unreferenced: ReadonlySet<string>; running?: Promise<void> } = {
    lastMs: 0,
    unreferenced: new Set(),
  };

  /** The etcd client is private: only lib/registry talks to etcd (docs/registry.md). */
  constructor(
    private readonly client: Etcd3,
    prefix?: string,
  ) {
    this.keys = new Keyspace(prefix);
  }

  get prefix(): string {
    return this.keys.prefix;
  }

  /**
   * Closes every watch opened through this registry (presences and elections are closed by their owners);
   * with `client`, also the etcd client (when this registry is its only user). Waits for a text collection in flight.
   */
  async close(opts: { client?: boolean } = {}): Promise<void> {
    await this.textGc.running;
    await Promise.all([...this.watches].map((w) => w.close()));
    this.watches.clear();
    if (opts.client) this.client.close();
  }

  // ---- units (clients) ----

  /**
   * Stores a unit in one transaction: the text under its hash unless present, the job object, the
   * target-state, and the global entry (deleted when not global). An existing unit of the same name is
   * replaced; its `target` stays (the engine re-mirrors the new hash into the schedule entry and may move
   * it), except when the unit becomes global: then target and schedule entry are removed in the same txn.
   */
  async createUnit(spec: UnitSpec, opts: { ifAbsent?: boolean } = {}): Promise<CreateUnitResult> {
    const name = checkUnitName(spec.name);
    checkHash(spec.hash);
    if (typeof spec.text !== 'string') throw new InvalidKeyError(`unit ${name}: text must be a string`);
    if (!isDesiredState(spec.desiredState)) {
      throw new InvalidKeyError(`unit ${name}: invalid desired state ${JSON.stringify(spec.desiredState)}`);
    }
    const k = this.keys;
    const what = `creating unit ${name}`;
    const result = await this.call(what, () =>
      this.optimistic(what, async () => {
        const compare: ICompare[] = [];
        const clear: IRequestOp[] = [];
        if (spec.global) {
          const target = await this.client.get(k.jobTarget(name)).string();
          if (target === null) {
            compare.push(cmp.version(k.jobTarget(name), '==', 0));
          } else {
            compare.push(cmp.value(k.jobTarget(name), '==', target));
            clear.push(op.del(k.jobTarget(name)));
            if (isSegment(target)) clear.push(op.del(k.schedule(target, name)), op.del(k.scheduleStart(target, name)));
          }
        }
        if (opts.ifAbsent) compare.push(cmp.version(k.jobObject(name), '==', 0));
        const unitKey = k.unit(spec.hash);
        const res = await txn(
          this.client,
          compare,
          [
            op.putWithPrev(k.jobObject(name), encodeJobObject({ name, hash: spec.hash, global: spec.global })),
            // always written, so its mod revision moves: collectUnitTexts deletes only an unmoved text
            op.put(unitKey, spec.text),
            op.put(k.jobTargetState(name), spec.desiredState),
            spec.global
              ? op.put(k.global(name), encodeGlobalEntry({ hash: spec.hash, desiredState: spec.desiredState }))
              : op.del(k.global(name)),
            ...(spec.global ? [] : [op.del(k.globalStart(name)), op.delPrefix(k.globalRestartDir(name)), op.delPrefix(k.globalMachineDir(name))]),
            ...clear,
          ],
          [op.get(k.jobObject(name))],
        );
        if (!res.succeeded) {
          const existing = rangeAt(res, 0)[0];
          if (opts.ifAbsent && existing) {
            throw new UnitExistsError(name, decodeJobObject(existing.value.toString('utf8'))?.hash);
          }
          return RETRY;
        }
        const prev = res.responses[0]?.response_put?.prev_kv;
        const previousHash = prev ? decodeJobObject(prev.value.toString('utf8'))?.hash : undefined;
        return { created: !prev, ...(previousHash ? { previousHash } : {}) };
      }),
    );
    this.cacheText(spec.hash, spec.text);
    return result;
  }

  async getUnit(name: string): Promise<UnitRecord | undefined> {
    checkUnitName(name);
    return this.call(`reading unit ${name}`, async () => {
      const res = await txn(this.client, [], [op.getPrefix(this.keys.jobDir(name)), op.getPrefix(this.keys.unitStatesDir(name))]);
      const job = project(jobsProjection(this.keys), rangeAt(res, 0)).get(name);
      if (!job) return undefined;
      const states = this.statesByUnit(project(statesProjection(this.keys), rangeAt(res, 1))).get(name);
      const texts = await this.texts_(new Set([job.hash]));
      return this.toRecord(job, texts, states);
    });
  }

  /** The machine a non-global unit is scheduled to (its job's target), without reading the rest of the unit. */
  async getTarget(name: string): Promise<string | undefined> {
    checkUnitName(name);
    return this.call(`reading where unit ${name} is scheduled`, async () => {
      const v = await this.client.get(this.keys.jobTarget(name)).string();
      return v === null || v === '' ? undefined : v;
    });
  }

  /** All units sorted by name, read from one consistent snapshot. */
  async listUnits(): Promise<UnitRecord[]> {
    return this.call('listing units', async () => {
      const jobsRead = new Projector(jobsProjection(this.keys));
      const statesRead = new Projector(statesProjection(this.keys));
      const snap = await readPages(this.client, [jobsRead.read(), statesRead.read()]);
      const jobs = [...(await jobsRead.resultSliced()).values()];
      const states = this.statesByUnit(await statesRead.resultSliced());
      const texts = await this.texts_(new Set(jobs.map((j) => j.hash)), snap.revision);
      return jobs
        .map((j) => this.toRecord(j, texts, states.get(j.name)))
        .filter((r): r is UnitRecord => r !== undefined)
        .sort((a, b) => compareStrings(a.name, b.name));
    });
  }

  /**
   * Sets the target-state (and the global entry of a global unit) in one transaction. `launched` on a unit that
   * is launched already is a request to start it again: a fresh value under keys.scheduleStart (of its machine)
   * or keys.globalStart tells the agents running it to reset its failed state and start it (fleet #1091).
   */
  async setDesiredState(name: string, state: DesiredState): Promise<void> {
    checkUnitName(name);
    if (!isDesiredState(state)) throw new InvalidKeyError(`unit ${name}: invalid desired state ${JSON.stringify(state)}`);
    const k = this.keys;
    const what = `setting the desired state of ${name}`;
    await this.call(what, () =>
      this.optimistic(what, async () => {
        const kvs = (await this.client.getAll().prefix(k.jobDir(name)).exec()).kvs;
        const find = (field: string) => kvs.find((x) => x.key.toString('utf8') === `${k.jobDir(name)}${field}`);
        const kv = find('object');
        if (!kv) throw new UnitNotFoundError(name);
        const job = decodeJobObject(kv.value.toString('utf8'));
        if (!job) throw new RegistryError(`stored job object of unit ${name} is malformed; destroy and submit it again`);
        const target = find('target')?.value.toString('utf8');
        const launched = state === 'launched' && find('target-state')?.value.toString('utf8') === 'launched';
        const again = launched && !job.global && target !== undefined && isSegment(target);
        const res = await txn(
          this.client,
          [cmp.modRevision(k.jobObject(name), '==', kv.mod_revision), ...(again ? [cmp.value(k.jobTarget(name), '==', target)] : [])],
          [
            op.put(k.jobTargetState(name), state),
            ...(job.global ? [op.put(k.global(name), encodeGlobalEntry({ hash: job.hash, desiredState: state }))] : []),
            ...(again ? [op.put(k.scheduleStart(target, name), randomBytes(8).toString('hex'))] : []),
            ...(launched && job.global ? [op.put(k.globalStart(name), randomBytes(8).toString('hex'))] : []),
          ],
        );
        return res.succeeded ? undefined : RETRY;
      }),
    );
  }

  /**
   * Rolling restart of a global unit: asks the agent of one machine to restart it once (keys.globalRestart, a
   * fresh token replacing any earlier request there). Throws UnitNotFoundError when the unit is not a global one.
   */
  async requestRestart(name: string, machineId: string): Promise<string> {
    checkUnitName(name);
    checkMachineId(machineId);
    const k = this.keys;
    const token = randomBytes(8).toString('hex');
    await this.call(`requesting a restart of ${name} on ${machineId}`, async () => {
      const res = await txn(this.client, [cmp.version(k.global(name), '>', 0)], [op.put(k.globalRestart(name, machineId), token)]);
      if (!res.succeeded) throw new UnitNotFoundError(name);
    });
    return token;
  }

  /** The restart request of a global unit on one machine, pending or settled (undefined: none, or malformed). */
  async getRestartRequest(name: string, machineId: string): Promise<RestartRequest | undefined> {
    const key = this.keys.globalRestart(checkUnitName(name), machineId);
    const v = await this.call(`reading the restart request of ${name} on ${machineId}`, () => this.client.get(key).string());
    return v === null ? undefined : decodeRestartRequest(v);
  }

  /** The agent's outcome of a restart request; written only while that token is still the pending one. */
  async settleRestart(name: string, machineId: string, token: string, outcome: { ok: true } | { ok: false; message: string }): Promise<void> {
    const key = this.keys.globalRestart(checkUnitName(name), machineId);
    const value = encodeRestartRequest(outcome.ok ? { token, status: 'done' } : { token, status: 'failed', message: outcome.message });
    await this.call(`settling the restart request of ${name} on ${machineId}`, () =>
      txn(this.client, [cmp.value(key, '==', token)], [op.put(key, value)]),
    );
  }

  /** Machine `machineId` runs `hash` for global unit `name` instead of its object's hash; null removes the override. */
  async setGlobalMachineHash(name: string, machineId: string, hash: string | null, fence?: Fence): Promise<void> {
    checkUnitName(name);
    checkMachineId(machineId);
    if (hash !== null) checkHash(hash);
    if (fence !== undefined) checkFence(fence);
    const k = this.keys;
    const key = k.globalMachine(name, machineId);
    const guard = fence ? [cmp.createRevision(fence.key, '==', fence.createRevision)] : [];
    const fenceRead = fence ? [op.get(fence.key)] : [];
    const refusedByFence = (res: ITxnResponse): FencedError | undefined => {
      if (!fence) return undefined;
      const actual = rangeAt(res, 0)[0]?.create_revision;
      return actual === fence.createRevision ? undefined : new FencedError(fence.key, fence.createRevision, actual);
    };
    if (hash === null) {
      await this.call(`clearing the hash override of ${name} on ${machineId}`, async () => {
        const res = await txn(this.client, guard, [op.del(key)], fenceRead);
        if (!res.succeeded) throw refusedByFence(res) ?? new RegistryError(`clearing the hash override of ${name} on ${machineId} failed`);
      });
      return;
    }
    const what = `setting the hash of ${name} on ${machineId} to ${hash}`;
    await this.call(what, () =>
      this.optimistic(what, async () => {
        const text = (await this.client.get(k.unit(hash)).exec()).kvs[0];
        if (!text) throw new UnitTextNotFoundError(hash);
        const res = await txn(
          this.client,
          // the unit is still global, and the text is unchanged since read: rewriting it moves its mod revision,
          // so a collectUnitTexts that found it unreferenced before this write cannot delete it
          [...guard, cmp.version(k.global(name), '>', 0), cmp.modRevision(k.unit(hash), '==', text.mod_revision)],
          [op.put(key, encodeGlobalMachineHash({ hash })), op.put(k.unit(hash), text.value.toString('utf8'))],
          [...fenceRead, op.get(k.global(name)), op.get(k.jobObject(name)), op.get(k.unit(hash))],
        );
        if (res.succeeded) {
          this.cacheText(hash, text.value.toString('utf8'));
          return undefined;
        }
        const fenced = refusedByFence(res);
        if (fenced) throw fenced;
        const at = fenceRead.length;
        if (rangeAt(res, at).length === 0) {
          const obj = rangeAt(res, at + 1)[0];
          throw obj ? new UnitNotGlobalError(name) : new UnitNotFoundError(name);
        }
        if (rangeAt(res, at + 2).length === 0) throw new UnitTextNotFoundError(hash);
        return RETRY;
      }),
    );
  }

  /** Deletes the job keys, the schedule entry and the global entry in one transaction (the text stays). */
  async destroyUnit(name: string): Promise<void> {
    checkUnitName(name);
    const k = this.keys;
    const what = `destroying unit ${name}`;
    await this.call(what, () =>
      this.optimistic(what, async () => {
        const kvs = (await this.client.getAll().prefix(k.jobDir(name)).exec()).kvs;
        const find = (field: string) => kvs.find((kv) => kv.key.toString('utf8') === `${k.jobDir(name)}${field}`);
        const obj = find('object');
        if (!obj) throw new UnitNotFoundError(name);
        const target = find('target')?.value.toString('utf8');
        const res = await txn(
          this.client,
          [
            cmp.modRevision(k.jobObject(name), '==', obj.mod_revision),
            target === undefined ? cmp.version(k.jobTarget(name), '==', 0) : cmp.value(k.jobTarget(name), '==', target),
          ],
          [
            op.delPrefix(k.jobDir(name)),
            op.del(k.global(name)),
            op.del(k.globalStart(name)),
            op.delPrefix(k.globalRestartDir(name)),
            op.delPrefix(k.globalMachineDir(name)),
            ...(target !== undefined && isSegment(target) ? [op.del(k.schedule(target, name)), op.del(k.scheduleStart(target, name))] : []),
          ],
        );
        return res.succeeded ? undefined : RETRY;
      }),
    );
  }

  /**
   * Deletes the unit texts no unit references: no job object, schedule entry, global entry or unfinished rollout
   * (its old and new texts) names their hash in one snapshot. Safe against a concurrent createUnit: each delete requires the text's mod revision to be
   * the snapshot's, and createUnit always rewrites the text it uses, so a text some unit started to use after
   * the snapshot stays. `onlyAmong`: delete only these hashes (texts found unreferenced by an earlier
   * collection, so one replaced a moment ago is still readable by an agent catching up). With `fence`, deletes
   * happen only while that leadership key holds (FencedError otherwise).
   */
  async collectUnitTexts(opts: { fence?: Fence; onlyAmong?: ReadonlySet<string> } = {}): Promise<TextCollection> {
    const k = this.keys;
    // pages are reduced as they arrive (hashes and text keys only): at 100,000 units a projection of every job and
    // entry in one step held the engine leader's event loop for seconds, every collection
    const used = new Set<string>();
    const jobsDir = Buffer.from(k.jobsDir);
    const onlyObjects = Buffer.from('/object');
    const jobs = (kvs: readonly IKeyValue[]): void => {
      for (const kv of kvs) {
        // `<name>/object` (keys.jobObject); a malformed name's object counts too: keeping a text is always safe
        if (kv.key.length <= jobsDir.length + onlyObjects.length || !kv.key.subarray(kv.key.length - onlyObjects.length).equals(onlyObjects)) continue;
        const hash = decodeJobObject(kv.value.toString('utf8'))?.hash;
        if (hash !== undefined) used.add(hash);
      }
    };
    const entries = (kvs: readonly IKeyValue[]): void => {
      // `<machine>/<name>` holds an entry; `<machine>/<name>/start` a token that is no entry
      for (const kv of kvs) {
        const hash = decodeScheduleEntry('-', kv.value.toString('utf8'))?.hash;
        if (hash !== undefined) used.add(hash);
      }
    };
    const texts: { hash: string; modRevision: string }[] = [];
    const unitsDirBytes = Buffer.byteLength(k.unitsDir);
    const textKeys = (kvs: readonly IKeyValue[], first: boolean): void => {
      if (first) texts.length = 0;
      for (const kv of kvs) texts.push({ hash: kv.key.toString('utf8', unitsDirBytes), modRevision: kv.mod_revision });
    };
    const snap = await this.call('listing unit texts', () =>
      readPages(this.client, [
        { prefix: k.jobsDir, consume: jobs },
        { prefix: k.schedulesDir, consume: entries },
        { prefix: k.globalDir },
        { prefix: k.unitsDir, keysOnly: true, consume: textKeys },
        { prefix: k.rolloutsDir },
      ]),
    );
    for (const g of project(globalProjection(k), snap.kvs[2]!).values()) {
      used.add(g.hash);
      for (const h of Object.values(g.machineHashes ?? {})) used.add(h);
    }
    for (const h of rollouts.rolloutHashes(snap.kvs[4]!, k)) used.add(h); // both texts of every unfinished rollout
    const unreferenced = new Set<string>();
    const doomed: { hash: string; modRevision: string }[] = [];
    for (const { hash, modRevision } of texts) {
      if (!isUnitHash(hash) || used.has(hash)) continue;
      unreferenced.add(hash);
      if (!opts.onlyAmong || opts.onlyAmong.has(hash)) doomed.push({ hash, modRevision });
    }
    const removed: string[] = [];
    const guard = opts.fence ? [cmp.createRevision(opts.fence.key, '==', opts.fence.createRevision)] : [];
    for (let i = 0; i < doomed.length; i += MAX_OPS_PER_TXN) {
      const batch = doomed.slice(i, i + MAX_OPS_PER_TXN);
      const nested = batch.map((d) => op.txn([cmp.modRevision(k.unit(d.hash), '==', d.modRevision)], [op.del(k.unit(d.hash))]));
      const res = await this.call('deleting unreferenced unit texts', () => txn(this.client, guard, nested));
      if (!res.succeeded && opts.fence) throw new FencedError(opts.fence.key, opts.fence.createRevision, undefined);
      batch.forEach((d, j) => {
        if (res.responses[j]?.response_txn?.succeeded !== true) return;
        removed.push(d.hash);
        this.texts.delete(d.hash);
      });
    }
    if (removed.length > 0) log.info('deleted unreferenced unit texts', { count: removed.length });
    return { removed, unreferenced };
  }

  /**
   * For the engine leader's pass: starts collectUnitTexts in the background at most once per
   * textGcIntervalMs (TEXT_GC_INTERVAL_MS), deleting only texts that were already unreferenced one interval earlier. Never throws;
   * a failure is logged and retried at the next interval. close() waits for a run in flight.
   */
  maybeCollectUnitTexts(fence: Fence, nowMs = Date.now()): void {
    const gc = this.textGc;
    if (gc.running || nowMs - gc.lastMs < this.textGcIntervalMs) return;
    gc.lastMs = nowMs;
    gc.running = this.collectUnitTexts({ fence, onlyAmong: gc.unreferenced })
      .then((r) => {
        gc.unreferenced = new Set([...r.unreferenced].filter((h) => !r.removed.includes(h)));
      })
      .catch((err: unknown) => log.warn('collecting unreferenced unit texts failed; retried later', { err: errorMessage(err) }))
      .finally(() => {
        gc.running = undefined;
      });
  }

  /**
   * The texts stored under the given hashes (immutable, cached), read with one transaction per MAX_OPS_PER_TXN
   * hashes not cached yet; hashes without a text are absent from the map.
   */
  async getUnitTexts(hashes: Iterable<string>): Promise<Map<string, string>> {
    const wanted = new Set<string>();
    for (const h of hashes) wanted.add(checkHash(h));
    return this.call(`reading ${wanted.size} unit texts`, () => this.texts_(wanted));
  }

  /** The unit text stored under a hash (immutable, cached). */
  async getUnitText(hash: string): Promise<string | undefined> {
    checkHash(hash);
    return this.call(`reading unit text ${hash}`, async () => (await this.texts_(new Set([hash]))).get(hash));
  }

  // ---- rollouts (lib/registry/rollout.ts, docs/registry.md) ----

  /** Creates a rollout (spec, new texts, unit locks); the engine leader drives it. */
  async createRollout(r: RolloutRequest, now = new Date()): Promise<RolloutSpec> {
    const spec = await this.call('creating a rollout', () => rollouts.createRollout(this.client, this.keys, r, now));
    for (const u of r.units) this.cacheText(u.hash, u.text);
    return spec;
  }

  async getRollout(id: string): Promise<RolloutRecord | undefined> {
    return this.call(`reading rollout ${id}`, () => rollouts.getRollout(this.client, this.keys, id));
  }

  /** Every stored rollout, oldest first. */
  async listRollouts(): Promise<RolloutRecord[]> {
    return this.call('listing rollouts', () => rollouts.listRollouts(this.client, this.keys));
  }

  async controlRollout(id: string, control: RolloutControl): Promise<void> {
    await this.call(`setting control ${control} of rollout ${id}`, () => rollouts.controlRollout(this.client, this.keys, id, control));
  }

  /** For the engine leader: what it sees of a rollout's units. */
  async observeRolloutUnits(names: readonly string[]): Promise<Map<string, ObservedUnit>> {
    return this.call('reading the units of a rollout', () => rollouts.observeUnits(this.client, this.keys, names));
  }

  /** For the engine leader: what it sees of a global unit on each machine of its rollout (keyed by machine id). */
  async observeGlobalRollout(name: string, machines: readonly string[]): Promise<Map<string, ObservedUnit>> {
    return this.call(`reading global unit ${name} of a rollout`, () => rollouts.observeGlobal(this.client, this.keys, name, machines));
  }

  /**
   * For the engine leader: one fenced step of a rollout (status, non-global text swaps, a global unit's commit,
   * locks released once finished).
   */
  async applyRolloutStep(
    spec: RolloutSpec,
    status: RolloutStatus,
    swaps: readonly RolloutSwap[],
    fence: Fence,
    commit?: RolloutSwap,
  ): Promise<{ written: boolean; committed: boolean }> {
    const names = [...new Set(spec.units.map((u) => u.name))];
    return this.call(`writing rollout ${spec.id}`, () => rollouts.applyRolloutStep(this.client, this.keys, spec.id, status, swaps, names, fence, commit));
  }


  /** For the engine leader: deletes a finished rollout, fenced. */
  async deleteRollout(id: string, fence: Fence): Promise<void> {
    await this.call(`deleting rollout ${id}`, () => rollouts.deleteRollout(this.client, this.keys, id, fence));
  }

  /** Rollouts (`P/rollout/`), for the engine. Map key: rollout id. */
  watchRollouts(onChange: ChangeListener<RolloutRecord>): Promise<WatchHandle> {
    return this.watch(rollouts.rolloutProjection(this.keys), onChange, 'rollouts');
  }

  // ---- machines ----

  /**
   * Registers a machine: creates `machines/<id>/object` bound to a fresh lease of `ttlSeconds`, only if no
   * live machine holds the id (else DuplicateMachineError), and keeps the lease alive.
   */
  registerMachine(state: MachineState, ttlSeconds: number): Promise<MachinePresence> {
    return MachinePresence.register(this.client, this.keys, state, ttlSeconds);
  }

  /** Live machines sorted by id; metadata merged with the API overrides. */
  async listMachines(): Promise<MachineRecord[]> {
    return this.call('listing machines', async () => {
      const snap = await readPages(this.client, [{ prefix: this.keys.machinesDir }]);
      return [...project(machinesProjection(this.keys), snap.kvs[0]!).values()].sort((a, b) => compareStrings(a.id, b.id));
    });
  }

  /** Reads one live machine (metadata merged), or undefined. */
  async getMachine(machineId: string): Promise<MachineRecord | undefined> {
    const p = machineProjection(this.keys, machineId);
    return this.call(`reading machine ${machineId}`, async () => {
      const res = await this.client.getAll().prefix(p.dir).exec();
      return project(p, res.kvs).get(machineId);
    });
  }

  /**
   * Overrides one metadata key of a machine (registered or not; survives its restarts). `null` or ""
   * hides the key even if the machine publishes it.
   */
  async setMachineMetadata(machineId: string, key: string, value: string | null): Promise<void> {
    const k = this.keys.machineMetadata(machineId, key);
    if (value !== null && typeof value !== 'string') {
      throw new InvalidKeyError(`metadata ${key} of ${machineId}: value must be a string or null`);
    }
    await this.call(`setting metadata ${key} of machine ${machineId}`, () => this.client.put(k).value(value ?? '').exec());
  }

  // ---- unit states (agents publish, everyone reads) ----

  /** Publishes a unit's state on the presence's lease, so it vanishes if the machine dies. */
  async publishUnitState(presence: MachinePresence, state: UnitState): Promise<void> {
    await this.publishUnitStates(presence, [state]);
  }

  /**
   * Publishes several unit states of this machine in as few transactions as etcd allows (MAX_OPS_PER_TXN puts
   * each, in order), all on the presence's lease: an agent that starts many units in one reconcile writes their
   * states with one request instead of one each. Rejects when any chunk failed (earlier chunks may have landed).
   */
  async publishUnitStates(presence: MachinePresence, states: readonly UnitState[]): Promise<void> {
    const puts: IRequestOp[] = [];
    for (const state of states) {
      if (state.machineId !== presence.machineId) {
        throw new InvalidKeyError(`unit state of ${state.name} names machine ${state.machineId}, but this is ${presence.machineId}`);
      }
      if (!isScheduledState(state.agentState)) {
        throw new InvalidKeyError(`unit state of ${state.name}: agentState must be "loaded" or "launched"`);
      }
      puts.push(op.put(this.keys.unitState(state.name, state.machineId), encodeUnitState(state), presence.leaseId));
    }
    if (puts.length === 1) {
      await this.putOnLease(presence, this.keys.unitState(states[0]!.name, presence.machineId), encodeUnitState(states[0]!), `publishing the state of ${states[0]!.name}`);
      return;
    }
    for (let i = 0; i < puts.length; i += MAX_OPS_PER_TXN) {
      presence.assertAlive();
      try {
        await txn(this.client, [], puts.slice(i, i + MAX_OPS_PER_TXN));
      } catch (err) {
        throw presence.wrap(`publishing the states of ${puts.length} units`, err);
      }
    }
  }

  /** Removes a unit state this machine published (no-op if absent or published under another lease). */
  async deleteUnitState(presence: MachinePresence, name: string): Promise<void> {
    await this.deleteOnLease(presence, this.keys.unitState(name, presence.machineId), `deleting the state of ${name}`);
  }

  /**
   * Records that this machine's agent refuses a unit's contents (keys.jobRefusal), on the presence's lease: the
   * engine places the unit elsewhere, and the record goes with the unit (destroy) or with the machine (lease).
   */
  async refuseUnit(presence: MachinePresence, r: UnitRefusal): Promise<void> {
    const key = this.keys.jobRefusal(r.name, presence.machineId);
    checkHash(r.hash);
    await this.putOnLease(presence, key, encodeRefusal(r), `recording the refusal of ${r.name}`);
  }

  /**
   * Records that a unit failed on this machine (keys.jobFailure; Reschedule=on-failure), only while its job still
   * has these contents, so a destroyed or replaced unit gets no stale history. Not on the lease: a failure counts
   * after the machine is gone. Returns false when the job has other contents (or is gone).
   */
  async recordFailure(presence: MachinePresence, f: UnitFailure): Promise<boolean> {
    presence.assertAlive();
    checkHash(f.hash);
    const key = this.keys.jobFailure(f.name, presence.machineId);
    const object = encodeJobObject({ name: f.name, hash: f.hash, global: false });
    return this.call(`recording the failure of ${f.name}`, async () => {
      const res = await txn(this.client, [cmp.value(this.keys.jobObject(f.name), '==', object)], [op.put(key, encodeFailure(f))]);
      return res.succeeded;
    });
  }

  /** Writes a key this machine owns, on its lease (so it goes with the machine). */
  private async putOnLease(presence: MachinePresence, key: string, value: string, what: string): Promise<void> {
    presence.assertAlive();
    try {
      await this.client.kv.put({ key: Buffer.from(key), value: Buffer.from(value), lease: presence.leaseId });
    } catch (err) {
      throw presence.wrap(what, err);
    }
  }

  /** Deletes a key written by putOnLease; a no-op if absent or written under another lease. */
  private async deleteOnLease(presence: MachinePresence, key: string, what: string): Promise<void> {
    await this.call(what, () => txn(this.client, [cmp.lease(key, '==', presence.leaseId)], [op.del(key)]));
  }

  /** Unit states sorted by unit name then machine id, optionally filtered. */
  async listUnitStates(filter: UnitStateFilter = {}): Promise<UnitState[]> {
    const { machineId, unitName } = filter;
    if (machineId !== undefined) checkMachineId(machineId);
    return this.call('listing unit states', async () => {
      const statesKey =
        unitName !== undefined
          ? machineId !== undefined
            ? this.keys.unitState(unitName, machineId)
            : this.keys.unitStatesDir(unitName)
          : this.keys.statesDir;
      // refusals (keys.jobRefusal) live in the job directories: one snapshot for both
      const statesRead = new Projector(statesProjection(this.keys));
      const jobsRead = new Projector(jobsProjection(this.keys));
      await readPages(this.client, [
        statesRead.read(statesKey),
        jobsRead.read(unitName !== undefined ? this.keys.jobDir(unitName) : this.keys.jobsDir),
      ]);
      const all = new Map<string, UnitState>();
      for (const s of (await statesRead.resultSliced()).values()) all.set(`${s.name}\n${s.machineId}`, s);
      const failing = new Map<string, JobRecord>();
      for (const job of (await jobsRead.resultSliced()).values()) {
        for (const [m, reason] of Object.entries(job.refusedBy ?? {})) {
          const key = `${job.name}\n${m}`;
          if (all.has(key)) continue;
          all.set(key, { name: job.name, machineId: m, hash: job.hash, ...REFUSED_STATE, refusal: reason });
        }
        if (job.failedOn) failing.set(job.name, job);
      }
      if (failing.size > 0) {
        for (const [key, s] of all) {
          const job = failing.get(s.name);
          if (job && s.hash === job.hash) all.set(key, { ...s, reschedule: rescheduleStatus(job, s.machineId) });
        }
      }
      return [...all.values()]
        .filter((s) => (machineId === undefined || s.machineId === machineId) && (unitName === undefined || s.name === unitName))
        .sort((a, b) => compareStrings(a.name, b.name) || compareStrings(a.machineId, b.machineId));
    });
  }

  // ---- schedule (engine) ----

  /** Schedule entries, of one machine or of all, sorted by machine then unit. */
  async listSchedule(machineId?: string): Promise<MachineScheduleEntry[]> {
    const dir = machineId === undefined ? this.keys.schedulesDir : this.keys.scheduleDir(machineId);
    return this.call('listing the schedule', async () => {
      const read = new Projector(allSchedulesProjection(this.keys));
      await readPages(this.client, [read.read(dir)]);
      return [...(await read.resultSliced()).values()];
    });
  }

  /**
   * Applies schedule ops, each guarded by its own preconditions, all fenced by the leadership key: one
   * transaction per 128 ops (etcd's default limit), failing as a whole with FencedError when
   * createRevision(fence.key) != fence.createRevision. One op per unit per call.
   */
  async applySchedule(ops: readonly ScheduleOp[], fence: Fence): Promise<ScheduleOpResult[]> {
    checkFence(fence);
    const chunks = chunkOps(ops).map((chunk) => ({ chunk, nested: chunk.map((o) => opTxn(this.keys, o)) }));
    const results: ScheduleOpResult[] = [];
    for (const { chunk, nested } of chunks) {
      const res = await this.call('writing the schedule', () =>
        txn(this.client, [cmp.createRevision(fence.key, '==', fence.createRevision)], nested, [op.get(fence.key)]),
      );
      if (!res.succeeded) {
        throw new FencedError(fence.key, fence.createRevision, rangeAt(res, 0)[0]?.create_revision);
      }
      chunk.forEach((o, i) => results.push({ op: o, applied: res.responses[i]?.response_txn?.succeeded === true }));
    }
    return results;
  }

  // ---- engine leadership ----

  /**
   * The engine leader election of this machine (not started): campaigns for Keyspace.engineLeader on a lease
   * of `ttlSeconds`; its fence guards applySchedule. Its watchdog and pauses run on `clock` (default: real time).
   */
  election(machineId: string, ttlSeconds: number, clock?: Clock): Election {
    return new Election(this.client, this.keys, machineId, ttlSeconds, clock);
  }

  // ---- watches ----

  /** An agent's own schedule: only `P/schedule/<machineId>/` is watched. Map key: unit name. */
  watchSchedule(machineId: string, onChange: ChangeListener<ScheduleEntry>): Promise<WatchHandle> {
    return this.watch(scheduleProjection(this.keys, machineId), onChange, `schedule.${machineId}`);
  }

  /** Global units (`P/global/`). Map key: unit name. */
  watchGlobalUnits(onChange: ChangeListener<GlobalUnitEntry>): Promise<WatchHandle> {
    return this.watch(globalProjection(this.keys), onChange, 'global');
  }

  /** All jobs (`P/job/`), for the engine. Map key: unit name. */
  watchJobs(onChange: ChangeListener<JobRecord>): Promise<WatchHandle> {
    return this.watch(jobsProjection(this.keys), onChange, 'jobs');
  }

  /** Published unit states (`P/state/`), for the API's state stream. Map key: `<unit>/<machine id>`. */
  watchUnitStates(onChange: ChangeListener<UnitState>): Promise<WatchHandle> {
    return this.watch(statesProjection(this.keys), onChange, 'states');
  }

  /** Live machines with merged metadata (`P/machines/`). Map key: machine id. */
  watchMachines(onChange: ChangeListener<MachineRecord>): Promise<WatchHandle> {
    return this.watch(machinesProjection(this.keys), onChange, 'machines');
  }

  /** One machine (`P/machines/<id>/`), e.g. an agent's own record with API metadata overrides applied. */
  watchMachine(machineId: string, onChange: ChangeListener<MachineRecord>): Promise<WatchHandle> {
    return this.watch(machineProjection(this.keys, machineId), onChange, `machine.${machineId}`);
  }

  // ---- internals ----

  private async watch<V>(p: Projection<V>, onChange: ChangeListener<V>, name: string): Promise<WatchHandle> {
    const w = new PrefixWatch<V>(this.client, p, onChange, name);
    const handle: WatchHandle = {
      get revision() {
        return w.revision;
      },
      close: async () => {
        this.watches.delete(w as PrefixWatch<unknown>);
        await w.close();
      },
    };
    this.watches.add(w as PrefixWatch<unknown>);
    try {
      await this.call(`starting the ${name} watch`, () => w.start());
    } catch (err) {
      await handle.close();
      throw err;
    }
    return handle;
  }

  private async call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof FleetError) throw err;
      throw new EtcdRequestError(what, err);
    }
  }

  private async optimistic<T>(what: string, attempt: () => Promise<T | typeof RETRY>): Promise<T> {
    for (let i = 0; i < MAX_ATTEMPTS; i++) {
      const r = await attempt();
      if (r !== RETRY) return r;
    }
    throw new RegistryConflictError(what, MAX_ATTEMPTS);
  }

  private cacheText(hash: string, text: string): void {
    if (this.texts.has(hash)) return;
    if (this.texts.size >= TEXT_CACHE_LIMIT) {
      const oldest = this.texts.keys().next().value;
      if (oldest !== undefined) this.texts.delete(oldest);
    }
    this.texts.set(hash, text);
  }

  /**
   * Texts of the given hashes (missing ones are absent from the map): those not cached are read in batches of
   * MAX_OPS_PER_TXN, TEXT_BATCHES_IN_FLIGHT at a time, or, when more than TEXT_PAGES_FROM are missing, by reading
   * the whole text prefix in pages (16 sub-prefixes side by side). With `revision`, as of that revision (the snapshot the hashes came from).
   */
  private async texts_(hashes: ReadonlySet<string>, revision?: string): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    const missing: string[] = [];
    for (const h of hashes) {
      const t = this.texts.get(h);
      if (t === undefined) missing.push(h);
      else out.set(h, t);
    }
    const found = (h: string, text: string): void => {
      this.cacheText(h, text);
      out.set(h, text);
    };
    if (missing.length > TEXT_PAGES_FROM) {
      const wanted = new Set(missing);
      const dirBytes = Buffer.byteLength(this.keys.unitsDir);
      // texts are content-addressed: one met in an attempt compaction cut short is still right
      const consume = (kvs: readonly IKeyValue[]): void => {
        for (const kv of kvs) {
          const h = kv.key.toString('utf8', dirBytes);
          if (!wanted.has(h)) continue;
          const text = kv.value.toString('utf8');
          out.set(h, text);
          // as many as the cache holds, without evicting one per text read
          if (this.texts.size < TEXT_CACHE_LIMIT) this.texts.set(h, text);
        }
      };
      // hashes are hex: 16 sub-prefixes paged side by side
      const prefixes = [...'0123456789abcdef'].map((c) => ({ prefix: `${this.keys.unitsDir}${c}`, firstPageKeys: TEXT_PAGE_KEYS, consume }));
      await readPages(this.client, prefixes, revision);
      return out;
    }
    const batches: string[][] = [];
    for (let i = 0; i < missing.length; i += MAX_OPS_PER_TXN) batches.push(missing.slice(i, i + MAX_OPS_PER_TXN));
    await eachLimited(batches, TEXT_BATCHES_IN_FLIGHT, async (batch) => {
      const res = await txn(this.client, [], batch.map((h) => op.get(this.keys.unit(h), revision)));
      batch.forEach((h, j) => {
        const kv = rangeAt(res, j)[0];
        if (kv) found(h, kv.value.toString('utf8'));
      });
    });
    return out;
  }

  private statesByUnit(states: ReadonlyMap<string, UnitState>): Map<string, Map<string, UnitState>> {
    const out = new Map<string, Map<string, UnitState>>();
    for (const s of states.values()) {
      let m = out.get(s.name);
      if (!m) out.set(s.name, (m = new Map()));
      m.set(s.machineId, s);
    }
    return out;
  }

  private toRecord(
    job: JobRecord,
    texts: ReadonlyMap<string, string>,
    states: ReadonlyMap<string, UnitState> | undefined,
  ): UnitRecord | undefined {
    const text = texts.get(job.hash);
    if (text === undefined) {
      log.warn('unit text missing from the registry, unit skipped', { unit: job.name, hash: job.hash });
      return undefined;
    }
    return {
      name: job.name,
      hash: job.hash,
      text,
      desiredState: job.desiredState,
      global: job.global,
      ...(job.machineId ? { machineId: job.machineId } : {}),
      currentState: deriveCurrentState(job, states ?? new Map()),
    };
  }
}
