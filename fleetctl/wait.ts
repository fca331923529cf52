/**
 * Blocking like fleetctl: poll every 250 ms (the waits follow fleetd's unit and state streams instead, when the
 * server has them); --block-attempts=N gives each unit N attempts of 2 s; 0 waits
 * forever; --no-block (attempts -1) prints "Triggered unit X <op>" and returns at once.
 */
import type { DesiredState } from '../lib/unit/types.js';
import type { ApiUnit, ApiUnitState, StreamWatch, UnitStateFilter } from './client/types.js';
import { machineLegend, type CommandContext } from './context.js';
import { Progress } from './progress.js';
import { debugLog } from './golog.js';
import { isGlobalUnit } from './unitfile.js';

export const POLL_MS = 250;
export const ATTEMPT_MS = 2000;
/** Above this many pending units one list request replaces per-unit requests. */
const LIST_THRESHOLD = 4;

export class WaitTimeoutError extends Error {
  override readonly name = 'WaitTimeoutError';
}

/** fleet's getBlockAttempts: -1 with --no-block, else N (0 = no limit). */
export function blockAttempts(flags: { noBlock?: boolean; blockAttempts?: number }): number {
  if (flags.noBlock) return -1;
  return flags.blockAttempts && flags.blockAttempts > 0 ? Math.floor(flags.blockAttempts) : 0;
}

async function fetchPending(ctx: CommandContext, names: readonly string[]): Promise<Map<string, ApiUnit | undefined>> {
  const result = new Map<string, ApiUnit | undefined>();
  if (names.length > LIST_THRESHOLD) {
    const all = new Map((await ctx.client.units()).map((u) => [u.name, u]));
    for (const n of names) result.set(n, all.get(n));
  } else {
    const units = await Promise.all(names.map((n) => ctx.client.unit(n)));
    names.forEach((n, i) => result.set(n, units[i]));
  }
  return result;
}

/** The state fleet compares: desired state for global units (they have no current state), else current state. */
function observedState(u: ApiUnit): string {
  return isGlobalUnit(u.options) ? (u.desiredState ?? '') : (u.currentState ?? '');
}

/** fleet's line for a unit that reached its state: `Unit X <current state>`, so a global unit, which has no current
 * state, prints `Unit X ` (docs/fleet-compat.md#fleetctl). */
async function reachedLine(ctx: CommandContext, u: ApiUnit): Promise<string> {
  let msg = `Unit ${u.name} ${u.currentState ?? ''}`;
  if (u.machineID) {
    const m = await ctx.machine(u.machineID);
    if (m) msg += ` on ${machineLegend(u.machineID, m, false)}`;
  }
  return msg;
}

/**
 * Waits until every unit reports `target`; prints fleet's `Unit X <state> on <machine>` per unit.
 * Resolves with the first timeout as an error (fleet reports only the first), or undefined.
 */
export async function waitForUnitStates(
  ctx: CommandContext,
  names: readonly string[],
  op: string,
  target: DesiredState,
  attempts: number,
): Promise<Error | undefined> {
  if (attempts < 0) {
    for (const n of names) ctx.out.out(`Triggered unit ${n} ${op}`);
    return undefined;
  }
  if (names.length === 0) return undefined;
  const start = ctx.clock.now();
  const deadline = attempts === 0 ? Infinity : start + attempts * ATTEMPT_MS;
  const progress = new Progress(ctx.out, names, (n) => `${n}: waiting for ${target}`);
  const source = unitFollower(ctx);
  try {
    return await statesLoop(ctx, [...new Set(names)], target, start, deadline, progress, source);
  } finally {
    source.close();
  }
}

async function statesLoop(
  ctx: CommandContext,
  initial: string[],
  target: DesiredState,
  start: number,
  deadline: number,
  progress: Progress,
  source: Follower<ApiUnit>,
): Promise<Error | undefined> {
  let pending = initial;
  for (;;) {
    const streamed = await source.read(pending);
    const units = streamed ? new Map(streamed.map((u) => [u.name, u])) : await fetchPending(ctx, pending);
    const still: string[] = [];
    for (const n of pending) {
      const u = units.get(n);
      if (u && observedState(u) === target) {
        progress.finish(n, await reachedLine(ctx, u));
      } else {
        still.push(n);
        debugLog(ctx, 'fleetctl.go:1245', `Retrying assertion of states. err: ${u ? `Waiting for Unit(${n}) state(${observedState(u)}) to be ${target}` : `Unit ${n} not found`}`);
        const secs = Math.round((ctx.clock.now() - start) / 1000);
        progress.update(n, `${n}: ${u ? observedState(u) || 'unscheduled' : 'not found'}, waiting for ${target} (${secs}s)`);
      }
    }
    pending = still;
    if (pending.length === 0) return undefined;
    if (ctx.clock.now() + POLL_MS > deadline) {
      const n = pending[0]!;
      progress.update(n, `${n}: timed out waiting for ${target}`);
      return new WaitTimeoutError(`timed out waiting for unit ${n} to report state ${target}`);
    }
    await source.next();
  }
}

/**
 * After `start`: waits until systemd reports each unit loaded and active on its machine. `activating` keeps
 * waiting (up to the attempts); `failed` fails at once; any other state (a oneshot that finished, a crash loop
 * between restarts) fails after one attempt (2 s), like fleet's check. `retried` units were failed when their
 * start was requested again: their `failed` counts as not yet acted on (one attempt) until it is seen to change.
 */
export async function waitForSystemdActive(
  ctx: CommandContext,
  names: readonly string[],
  attempts: number,
  retried: ReadonlySet<string> = new Set(),
): Promise<Error | undefined> {
  const stale = new Set(retried);
  if (attempts < 0 || names.length === 0) return undefined;
  const start = ctx.clock.now();
  const deadline = attempts === 0 ? Infinity : start + attempts * ATTEMPT_MS;
  const pending = [...new Set(names)];
  const source = stateFollower(ctx);
  try {
    return await activeLoop(ctx, pending, stale, start, deadline, source);
  } finally {
    source.close();
  }
}

/**
 * Where a wait reads: one of fleetd's streams when the server offers it (one request for the whole wait; a tick
 * comes at each change or after POLL_MS), else the caller polls every POLL_MS as fleet's fleetctl did. A stream
 * that ends (its lifetime, fleetd restarting) is reopened at the next tick; a server that stops offering it is
 * polled. With --debug it is polled, so the request lines are fleet's.
 */
class Follower<T> {
  private watch: StreamWatch<T> | undefined;
  private offered: boolean;
  private seen = 0;

  constructor(
    private readonly ctx: CommandContext,
    private readonly open: ((pending: readonly string[]) => Promise<StreamWatch<T> | undefined>) | undefined,
  ) {
    this.offered = !ctx.debug && open !== undefined;
  }

  /** The streamed entries (of `pending` and maybe others), or undefined: poll. */
  async read(pending: readonly string[]): Promise<T[] | undefined> {
    if (this.offered && !this.watch?.live) {
      this.watch = await this.open!(pending);
      this.offered = this.watch !== undefined;
    }
    if (!this.watch) return undefined;
    this.seen = this.watch.version;
    return [...this.watch.entries.values()];
  }

  /** Until the next tick: POLL_MS, or with a stream the next change if it comes sooner. */
  async next(): Promise<void> {
    return this.ctx.clock.sleep(POLL_MS, this.watch?.changed(this.seen));
  }

  close(): void {
    this.watch?.close();
  }
}

const stateFilter = (pending: readonly string[]): UnitStateFilter => (pending.length === 1 ? { unitName: pending[0]! } : {});

function stateFollower(ctx: CommandContext): Follower<ApiUnitState> {
  const c = ctx.client;
  return new Follower(ctx, c.watchUnitStates && ((pending) => c.watchUnitStates!(stateFilter(pending))));
}

function unitFollower(ctx: CommandContext): Follower<ApiUnit> {
  const c = ctx.client;
  return new Follower(ctx, c.watchUnits && ((pending) => c.watchUnits!(pending.length === 1 ? pending[0] : undefined)));
}

async function activeLoop(
  ctx: CommandContext,
  initial: string[],
  stale: Set<string>,
  start: number,
  deadline: number,
  source: Follower<ApiUnitState>,
): Promise<Error | undefined> {
  let pending = initial;
  const idleSince = new Map<string, number>();
  const fail = (n: string, what: string): Error =>
    new Error(`Failed to find an active unit ${n} within ${((ctx.clock.now() - start) / 1000).toFixed(1)}s, err: systemd reports ${what}`);
  for (;;) {
    const states = (await source.read(pending)) ?? (await ctx.client.unitStates(stateFilter(pending)));
    const still: string[] = [];
    const now = ctx.clock.now();
    for (const n of pending) {
      const s = states.find((x) => x.name === n);
      const active = s?.systemdActiveState;
      if (active === 'active' && s?.systemdLoadState === 'loaded') continue;
      debugLog(ctx, 'fleetctl.go:1245', `Retrying assertion of states. err: Failed to find an active unit ${n}`);
      const what = s ? `${s.systemdLoadState ?? '-'}/${active ?? '-'}/${s.systemdSubState ?? '-'}` : 'no state';
      if (active !== 'failed') stale.delete(n);
      if (active === 'failed' && !stale.has(n)) return fail(n, what);
      if (active === 'activating' || active === 'reloading') idleSince.delete(n);
      else if (!idleSince.has(n)) idleSince.set(n, now);
      else if (now - idleSince.get(n)! >= ATTEMPT_MS) return fail(n, what);
      if (now + POLL_MS > deadline) return fail(n, what);
      still.push(n);
    }
    pending = still;
    if (pending.length === 0) return undefined;
    await source.next();
  }
}
