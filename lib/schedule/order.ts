/** The MachineOf graph of non-global units: processing order (targets before followers) and cycles. */
import type { SchedUnit } from './types.js';

export interface MachineOfGraph {
  /** Every unit: acyclic ones by (chain depth, name), then those in or behind a cycle, by name. */
  readonly order: readonly string[];
  readonly rank: ReadonlyMap<string, number>;
  /** Units on a MachineOf cycle -> the cycle, starting and ending with the unit. */
  readonly cycles: ReadonlyMap<string, readonly string[]>;
  /** Unit -> units that name it in MachineOf. */
  readonly followers: ReadonlyMap<string, readonly string[]>;
}

export function machineOfGraph(units: ReadonlyMap<string, SchedUnit>): MachineOfGraph {
  const peers = new Map<string, string[]>();
  const followers = new Map<string, string[]>();
  for (const u of units.values()) {
    const ps = [...new Set(u.requirements.machineOf)].filter((p) => units.has(p));
    peers.set(u.name, ps);
    for (const p of ps) {
      let fs = followers.get(p);
      if (!fs) followers.set(p, (fs = []));
      fs.push(u.name);
    }
  }
  for (const fs of followers.values()) fs.sort();

  const waiting = new Map<string, number>();
  let level: string[] = [];
  for (const [name, ps] of peers) {
    waiting.set(name, ps.length);
    if (ps.length === 0) level.push(name);
  }
  const order: string[] = [];
  while (level.length > 0) {
    level.sort();
    order.push(...level);
    const next: string[] = [];
    for (const name of level) {
      for (const f of followers.get(name) ?? []) {
        const left = waiting.get(f)! - 1;
        waiting.set(f, left);
        if (left === 0) next.push(f);
      }
    }
    level = next;
  }

  const stuck = [...peers.keys()].filter((n) => waiting.get(n)! > 0).sort();
  const stuckSet = new Set(stuck);
  const cycles = new Map<string, string[]>();
  for (const name of stuck) {
    const path = cycleThrough(name, (n) => (peers.get(n) ?? []).filter((p) => stuckSet.has(p)));
    if (path) cycles.set(name, path);
  }
  order.push(...stuck);

  const rank = new Map<string, number>();
  order.forEach((n, i) => rank.set(n, i));
  return { order, rank, cycles, followers };
}

/** Shortest path start -> ... -> start along `next`, if any. */
function cycleThrough(start: string, next: (n: string) => string[]): string[] | undefined {
  const parent = new Map<string, string>();
  const queue = [start];
  for (let i = 0; i < queue.length; i++) {
    const n = queue[i]!;
    for (const p of [...next(n)].sort()) {
      if (p === start) {
        const path = [start];
        for (let at: string | undefined = n; at !== undefined && at !== start; at = parent.get(at)) path.push(at);
        const loop = [start, ...path.slice(1).reverse(), start];
        return loop;
      }
      if (!parent.has(p)) {
        parent.set(p, n);
        queue.push(p);
      }
    }
  }
  return undefined;
}
