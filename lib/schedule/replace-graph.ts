/**
 * Who replaces whom among non-global units. fleet ignored circular replaces between two units; we ignore every
 * Replaces relation inside a cycle of any length, so the relation left is acyclic and takeovers always end.
 */
import { globMatch } from '../unit/glob.js';
import { isLiteral } from './constraints.js';
import type { SchedUnit } from './types.js';

const NONE: ReadonlySet<string> = new Set();

export class ReplaceGraph {
  private readonly victims = new Map<string, Set<string>>();
  private readonly replacers = new Map<string, Set<string>>();

  constructor(units: ReadonlyMap<string, SchedUnit>) {
    const raw = new Map<string, Set<string>>();
    let names: string[] | undefined;
    for (const u of units.values()) {
      if (u.requirements.global || u.requirements.replaces.length === 0) continue;
      const out = new Set<string>();
      for (const glob of u.requirements.replaces) {
        if (isLiteral(glob)) {
          if (units.has(glob) && !units.get(glob)!.requirements.global) out.add(glob);
          continue;
        }
        names ??= [...units.values()].filter((x) => !x.requirements.global).map((x) => x.name);
        for (const n of names) if (globMatch(glob, n)) out.add(n);
      }
      out.delete(u.name);
      if (out.size > 0) raw.set(u.name, out);
    }
    const component = stronglyConnected(raw);
    for (const [a, bs] of raw) {
      for (const b of bs) {
        if (component.get(a) === component.get(b)) continue;
        add(this.victims, a, b);
        add(this.replacers, b, a);
      }
    }
  }

  replaces(a: string, b: string): boolean {
    return this.victims.get(a)?.has(b) ?? false;
  }

  victimsOf(a: string): ReadonlySet<string> {
    return this.victims.get(a) ?? NONE;
  }

  replacersOf(b: string): ReadonlySet<string> {
    return this.replacers.get(b) ?? NONE;
  }
}

function add(m: Map<string, Set<string>>, k: string, v: string): void {
  let s = m.get(k);
  if (!s) m.set(k, (s = new Set()));
  s.add(v);
}

/** Tarjan's algorithm without recursion: node -> component number. */
function stronglyConnected(edges: ReadonlyMap<string, ReadonlySet<string>>): Map<string, number> {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const component = new Map<string, number>();
  let counter = 0;
  let components = 0;
  for (const root of edges.keys()) {
    if (index.has(root)) continue;
    const work: { node: string; next: Iterator<string> }[] = [];
    const open = (node: string): void => {
      index.set(node, counter);
      low.set(node, counter);
      counter++;
      stack.push(node);
      onStack.add(node);
      work.push({ node, next: (edges.get(node) ?? new Set<string>()).values() });
    };
    open(root);
    while (work.length > 0) {
      const top = work[work.length - 1]!;
      const step = top.next.next();
      if (!step.done) {
        const w = step.value;
        if (!index.has(w)) open(w);
        else if (onStack.has(w)) low.set(top.node, Math.min(low.get(top.node)!, index.get(w)!));
        continue;
      }
      work.pop();
      if (work.length > 0) {
        const parent = work[work.length - 1]!.node;
        low.set(parent, Math.min(low.get(parent)!, low.get(top.node)!));
      }
      if (low.get(top.node) === index.get(top.node)) {
        for (;;) {
          const w = stack.pop()!;
          onStack.delete(w);
          component.set(w, components);
          if (w === top.node) break;
        }
        components++;
      }
    }
  }
  return component;
}
