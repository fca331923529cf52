/**
 * Drives rolling updates while this engine leads (issue 12, docs/architecture.md "Rolling updates"): watches the
 * rollouts (P/rollout/), and while one is unfinished polls the states of its units, asks the pure core
 * (lib/rollout/core.ts) for the next step and writes it in one transaction fenced by the leadership (status, text
 * swaps, locks). Everything a step needs is in etcd, so a new leader resumes a rollout where the old one left
 * it; nothing is kept in memory across terms. One session per term: started when the term begins, ended with it.
 */
import type { Fence, Registry, WatchHandle } from '../../lib/registry/index.js';
import { FencedError } from '../../lib/registry/index.js';
import { stepRollout } from '../../lib/rollout/core.js';
import { isTerminalPhase, type ObservedUnit, type RolloutRecord, type RolloutStatus } from '../../lib/rollout/types.js';
import { ReconcileLoop } from '../../lib/reconcile.js';
import { sleep, type Clock } from '../../lib/clock.js';
import { errorMessage } from '../../lib/errors.js';
import { logger } from '../../lib/log.js';

const log = logger('engine.rollout');

/** Finished rollouts stay readable (fleetctl rollout status) this long, then the leader deletes them. */
export const ROLLOUT_RETAIN_MS = 24 * 3600_000;

/** The writes of a global unit's rollout that are not the driver's own transaction: a machine's hash override. */
export interface RolloutWrites {
  /** Machine `machineId` runs `hash` of global unit `name` (null: the unit's own hash again). */
  setMachineHash(name: string, machineId: string, hash: string | null, fence: Fence): Promise<void>;
}

/** The real writes: the registry's per-machine hash override of global units. */
export function registryWrites(registry: Registry): RolloutWrites {
  return { setMachineHash: (name, machineId, hash, fence) => registry.setGlobalMachineHash(name, machineId, hash, fence) };
}

export interface RolloutDriverOptions {
  readonly registry: Registry;
  /** Default: registryWrites(registry). */
  readonly writes?: RolloutWrites;
  readonly clock: Clock;
  /** Safety-net pass period (the rollouts watch and the poll wake drive it otherwise). */
  readonly intervalMs: number;
}

export interface RolloutDriverStats {
  /** Steps written (status changes and swaps). */
  steps: number;
  /** Text swaps written. */
  swaps: number;
}

class Session {
  private readonly loop: ReconcileLoop;
  private watch: WatchHandle | undefined;
  private records: ReadonlyMap<string, RolloutRecord> = new Map();
  /** The statuses this session wrote, newer than what the watch may still deliver. */
  private readonly written = new Map<string, RolloutStatus>();
  private ended = false;
  private readonly writes: RolloutWrites;

  constructor(
    private readonly opts: RolloutDriverOptions,
    private readonly fence: Fence,
    private readonly stats: RolloutDriverStats,
  ) {
    this.writes = opts.writes ?? registryWrites(opts.registry);
    this.loop = new ReconcileLoop({
      clock: opts.clock,
      pass: () => this.pass(),
      intervalMs: opts.intervalMs,
      backoff: { firstMs: 100, factor: 2, maxMs: opts.intervalMs },
      onError: (err) => log.warn('rollout step failed; retrying', { err: errorMessage(err) }),
    });
  }

  /** Opens the rollouts watch (retrying while etcd does not answer, until the term ends), then starts passes. */
  async start(): Promise<void> {
    for (let attempt = 1; !this.ended; attempt++) {
      try {
        const w = await this.opts.registry.watchRollouts((snapshot) => {
          this.records = new Map(snapshot);
          this.loop.trigger();
        });
        if (this.ended) return void (await w.close());
        this.watch = w;
        this.loop.start();
        return;
      } catch (err) {
        log.warn('cannot watch rollouts; retrying', { err: errorMessage(err), attempt });
        await sleep(this.opts.clock, Math.min(this.opts.intervalMs, 100 * 2 ** attempt), { unref: true });
      }
    }
  }

  async end(): Promise<void> {
    this.ended = true;
    await this.loop.stop();
    await this.watch?.close();
  }

  private async pass(): Promise<void> {
    if (this.ended) return;
    const now = this.opts.clock.now();
    const active: RolloutRecord[] = [];
    for (const r of this.records.values()) {
      const mine = this.written.get(r.spec.id);
      const status = mine && (!r.status || r.status.updatedAt <= mine.updatedAt) ? mine : r.status;
      if (status && isTerminalPhase(status.phase)) {
        if (status.finishedAt !== undefined && now - status.finishedAt > ROLLOUT_RETAIN_MS) await this.forget(r.spec.id);
        continue;
      }
      active.push({ ...r, ...(status ? { status } : {}) });
    }
    if (active.length === 0) return this.loop.wakeAt('poll', undefined);
    const plain = active.filter((r) => !isGlobal(r));
    const observed = plain.length === 0
      ? new Map<string, ObservedUnit>()
      : await this.opts.registry.observeRolloutUnits([...new Set(plain.flatMap((r) => r.spec.units.map((u) => u.name)))]);
    let wake: number | undefined;
    for (const r of active) {
      if (this.ended) return;
      const seen = isGlobal(r)
        ? await this.opts.registry.observeGlobalRollout(r.spec.units[0]!.name, r.spec.units.map((u) => u.machine!))
        : observed;
      const step = stepRollout(r.spec, r.status, r.control, seen, now);
      if (step.changed || step.swaps.length > 0) {
        try {
          // a global unit's machine swaps first (back to the unit's own hash: no override), so a status that says
          // "updating" is never ahead of etcd
          for (const sw of step.swaps) {
            if (sw.machine !== undefined) await this.writes.setMachineHash(sw.name, sw.machine, sw.to === r.spec.units[0]!.from ? null : sw.to, this.fence);
          }
          const res = await this.opts.registry.applyRolloutStep(r.spec, step.status, step.swaps, this.fence, step.commit);
          if (!res.written) continue;
          if (res.committed) await this.dropOverrides(r);
        } catch (err) {
          if (err instanceof FencedError) {
            log.info('rollout step refused: no longer the leader', { rollout: r.spec.id });
            this.ended = true;
            return;
          }
          throw err;
        }
        this.written.set(r.spec.id, step.status);
        this.stats.steps++;
        this.stats.swaps += step.swaps.length;
        if (step.swaps.length > 0 || step.status.phase !== r.status?.phase) {
          log.info('rollout step', {
            rollout: r.spec.id,
            phase: step.status.phase,
            swaps: step.swaps.map((s) => s.name).join(' '),
            ...(step.status.failure ? { failed: step.status.failure.unit, reason: step.status.failure.reason } : {}),
          });
        }
      }
      if (step.wakeAt !== undefined) wake = Math.min(wake ?? step.wakeAt, step.wakeAt);
    }
    this.loop.wakeAt('poll', wake);
  }

  /** After a global unit's commit: its machines run the unit's (now new) hash without an override. */
  private async dropOverrides(r: RolloutRecord): Promise<void> {
    for (const u of r.spec.units) {
      try {
        await this.writes.setMachineHash(u.name, u.machine!, null, this.fence);
      } catch (err) {
        // an override left behind names the unit's own hash: harmless
        log.warn('could not remove a machine override after a global rollout', { unit: u.name, machine: u.machine, err: errorMessage(err) });
      }
    }
  }

  private async forget(id: string): Promise<void> {
    try {
      await this.opts.registry.deleteRollout(id, this.fence);
      this.written.delete(id);
    } catch (err) {
      if (err instanceof FencedError) this.ended = true;
      else throw err;
    }
  }
}

function isGlobal(r: RolloutRecord): boolean {
  return r.spec.units[0]?.machine !== undefined;
}

export class RolloutDriver {
  readonly stats: RolloutDriverStats = { steps: 0, swaps: 0 };
  private session: Session | undefined;
  private ending: Promise<void> = Promise.resolve();

  constructor(private readonly opts: RolloutDriverOptions) {}

  /** A term began: drive rollouts under its fence (ending any earlier session). */
  lead(fence: Fence): void {
    void this.end();
    const s = new Session(this.opts, fence, this.stats);
    this.session = s;
    void s.start();
  }

  /** The term ended: no more steps; resolves once the step in flight (of this or any earlier session) is done. */
  async end(): Promise<void> {
    const s = this.session;
    this.session = undefined;
    if (s) this.ending = Promise.all([this.ending, s.end()]).then(() => undefined);
    await this.ending;
  }
}
