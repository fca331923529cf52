/**
 * Walks a parsed YAML document against a Spec: keys normalized (`-` becomes `_`), every problem reported with
 * its path and position, substitutions applied to string values. Produces plain values for the valid parts.
 */
import { isAlias, isMap, isScalar, isSeq, visit, type Alias, type Document, type LineCounter, type Node, type Pair } from 'yaml';
import { FleetError } from '../lib/errors.js';
import { DiagnosticSink, type Position } from './diagnostics.js';
import { decodeBase64 } from './encoding.js';
import type { Spec } from './spec.js';
import { SUBSTITUTION_VARIABLES, substitute } from './substitute.js';
import type { Substitutions } from './types.js';

export type Plain = string | number | boolean | Uint8Array | Plain[] | PlainMap;
export interface PlainMap {
  [key: string]: Plain;
}

export interface WalkContext {
  readonly doc: Document;
  readonly lines: LineCounter;
  readonly sink: DiagnosticSink;
  readonly substitutions: Substitutions;
  /** path -> position of its value (or key, when the value is empty) */
  readonly positions: Map<string, Position>;
}

export function positionOf(ctx: WalkContext, node: { range?: [number, number, number] | null } | null | undefined): Position | undefined {
  const start = node?.range?.[0];
  if (start === undefined) return undefined;
  const p = ctx.lines.linePos(start);
  return { line: p.line, column: p.col };
}

function describe(v: unknown): string {
  if (v === null || v === undefined) return 'nothing';
  if (typeof v === 'string') return `a string (${JSON.stringify(v.length > 40 ? v.slice(0, 37) + '...' : v)})`;
  if (typeof v === 'number' || typeof v === 'bigint') return `a number (${String(v)})`;
  if (typeof v === 'boolean') return `a boolean (${String(v)})`;
  if (v instanceof Uint8Array) return 'binary data';
  return 'something else';
}

function describeNode(node: Node): string {
  if (isMap(node)) return 'a mapping';
  if (isSeq(node)) return 'a list';
  if (isScalar(node)) return describe(node.value);
  return 'something else';
}

/** Plain words YAML 1.1 (and so coreos-cloudinit's go-yaml) reads as booleans; YAML 1.2 reads them as text. */
const YAML11_BOOLEANS: Readonly<Record<string, boolean>> = Object.fromEntries([
  ...['y', 'Y', 'yes', 'Yes', 'YES', 'on', 'On', 'ON'].map((w) => [w, true] as const),
  ...['n', 'N', 'no', 'No', 'NO', 'off', 'Off', 'OFF'].map((w) => [w, false] as const),
]);

const EXPECTED: Record<Spec['t'], string> = {
  string: 'a string',
  content: 'a string',
  bool: 'a boolean (true or false)',
  int: 'an integer',
  float: 'a number',
  list: 'a list',
  map: 'a mapping',
};

/** How many nodes the aliases of one document may expand to, in total (go-yaml also refuses excessive aliasing). */
export const ALIAS_EXPANSION_LIMIT = 100_000;

/** The document's aliases expand to more than ALIAS_EXPANSION_LIMIT nodes (a "billion laughs" document). */
export class AliasExpansionError extends FleetError {
  override readonly name = 'AliasExpansionError';
  constructor(readonly position: Position | undefined) {
    super(`aliases expand the document to more than ${ALIAS_EXPANSION_LIMIT} values; write the values out or use fewer aliases`);
  }
}

const aliasBudget = new WeakMap<WalkContext, { left: number }>();
const nodeCounts = new WeakMap<Node, number>();

function nodeCount(root: Node): number {
  const known = nodeCounts.get(root);
  if (known !== undefined) return known;
  let n = 0;
  const stack: unknown[] = [root];
  while (stack.length > 0) {
    const x = stack.pop();
    n++;
    if (isMap(x)) for (const p of x.items) stack.push(p.key, p.value);
    else if (isSeq(x)) for (const i of x.items) stack.push(i);
  }
  nodeCounts.set(root, n);
  return n;
}

const aliasTargets = new WeakMap<Document, Map<Alias, Node | null>>();

/** What each alias of the document refers to: the last node before it with that anchor, as Alias.resolve finds
 * it, but in one pass over the document (Alias.resolve walks the whole document on every call). */
function aliasTarget(doc: Document, alias: Alias): Node | null {
  let targets = aliasTargets.get(doc);
  if (!targets) {
    const found = new Map<Alias, Node | null>();
    const anchors = new Map<string, Node>();
    visit(doc, {
      Node: (_key, node) => {
        if (isAlias(node)) found.set(node, anchors.get(node.source) ?? null);
        else if (node.anchor) anchors.set(node.anchor, node);
      },
    });
    aliasTargets.set(doc, (targets = found));
  }
  return targets.get(alias) ?? null;
}

/** Aliases that name no anchor defined before them (go-yaml: "unknown anchor referenced"). */
export function danglingAliases(doc: Document): Alias[] {
  const out: Alias[] = [];
  visit(doc, {
    Alias: (_key, node) => {
      if (aliasTarget(doc, node) === null) out.push(node);
    },
  });
  return out;
}

function resolve(ctx: WalkContext, node: unknown): Node | null {
  if (isAlias(node)) {
    const target = aliasTarget(ctx.doc, node);
    let budget = aliasBudget.get(ctx);
    if (!budget) aliasBudget.set(ctx, (budget = { left: ALIAS_EXPANSION_LIMIT }));
    budget.left -= target ? nodeCount(target) : 1;
    if (budget.left < 0) throw new AliasExpansionError(positionOf(ctx, node));
    return target;
  }
  return (node as Node | null) ?? null;
}

function isEmpty(node: Node | null): boolean {
  return node === null || (isScalar(node) && node.value === null);
}

function keyText(ctx: WalkContext, key: unknown): string | undefined {
  const k = resolve(ctx, key);
  if (!isScalar(k)) return undefined;
  if (typeof k.value === 'string') return k.value;
  return typeof k.source === 'string' ? k.source : String(k.value);
}

/** The pairs of a mapping with `<<` merge keys expanded (explicit keys first, then merged ones). A mapping merged
 * a second time adds nothing (its keys are already there), so each is merged once. */
function pairsOf(ctx: WalkContext, node: Node, merging = new Set<Node>()): Pair[] {
  if (!isMap(node)) return [];
  const own: Pair[] = [];
  const merged: Pair[] = [];
  for (const pair of node.items) {
    if (keyText(ctx, pair.key) === '<<') {
      const v = resolve(ctx, pair.value);
      const sources = isSeq(v) ? v.items.map((i) => resolve(ctx, i)) : [v];
      for (const s of sources) {
        if (!s || merging.has(s)) continue;
        merging.add(s);
        for (const p of pairsOf(ctx, s, merging)) merged.push(p);
      }
    } else {
      own.push(pair);
    }
  }
  return own.concat(merged);
}

function substituted(ctx: WalkContext, path: string, text: string, pos: Position | undefined): string {
  const r = substitute(text, ctx.substitutions);
  for (const name of r.missing) {
    const spec = SUBSTITUTION_VARIABLES[name];
    ctx.sink.warning(path, `$${name} has no value (give ${spec.flag} or set ${spec.env}); replaced by ""`, pos);
  }
  return r.text;
}

function runCheck(ctx: WalkContext, path: string, spec: Extract<Spec, { t: 'string' }>, v: string, pos: Position | undefined): boolean {
  if (spec.singleLine && /[\r\n]/.test(v)) {
    ctx.sink.error(path, 'must be a single line', pos);
    return false;
  }
  if (spec.singleLine && v.includes('\0')) {
    ctx.sink.error(path, 'must not contain a NUL character', pos);
    return false;
  }
  if (spec.oneOf && !spec.oneOf.includes(v)) {
    ctx.sink.error(path, `${JSON.stringify(v)} is not one of ${spec.oneOf.join('|')}`, pos);
    return false;
  }
  if (spec.check && v !== '') {
    const problem = spec.check(v);
    if (typeof problem === 'string') {
      ctx.sink.error(path, problem, pos);
      return false;
    }
    if (problem) ctx.sink.warning(path, problem.warning, pos);
  }
  return true;
}

/** The plain value of `node` if it matches `spec`; undefined (after reporting) otherwise or when empty. */
export function walk(ctx: WalkContext, rawNode: unknown, spec: Spec, path: string): Plain | undefined {
  const node = resolve(ctx, rawNode);
  const pos = positionOf(ctx, node);
  if (pos) ctx.positions.set(path, pos);
  if (node === null || isEmpty(node)) return undefined;
  const mismatch = (): undefined => {
    ctx.sink.error(path, `expected ${EXPECTED[spec.t]}, got ${describeNode(node)}`, pos);
    return undefined;
  };

  switch (spec.t) {
    case 'string':
    case 'content': {
      if (!isScalar(node)) return mismatch();
      let v: unknown = node.value;
      if (spec.t === 'content' && v instanceof Uint8Array) {
        try {
          decodeBase64(typeof node.source === 'string' ? node.source : '');
        } catch {
          ctx.sink.error(path, '!!binary value is not valid base64', pos);
          return undefined;
        }
        return v;
      }
      if (typeof v !== 'string' && spec.t === 'string' && spec.literal && node.type === 'PLAIN' && typeof node.source === 'string') {
        v = node.source;
      }
      if (typeof v !== 'string') {
        const hint = typeof v === 'number' || typeof v === 'boolean' ? '; put it in quotes if you mean the text' : '';
        ctx.sink.error(path, `expected a string, got ${describe(v)}${hint}`, pos);
        return undefined;
      }
      const text = substituted(ctx, path, v, pos);
      if (spec.t === 'string' && !runCheck(ctx, path, spec, text, pos)) return undefined;
      return text;
    }
    case 'bool': {
      if (!isScalar(node)) return mismatch();
      if (typeof node.value === 'boolean') return node.value;
      const word = node.type === 'PLAIN' && typeof node.value === 'string' ? YAML11_BOOLEANS[node.value] : undefined;
      return word ?? mismatch();
    }
    case 'int':
    case 'float': {
      if (!isScalar(node)) return mismatch();
      const v = typeof node.value === 'bigint' ? Number(node.value) : node.value;
      if (typeof v !== 'number' || !Number.isFinite(v) || (spec.t === 'int' && !Number.isInteger(v))) return mismatch();
      if (spec.min !== undefined && v < spec.min) {
        ctx.sink.error(path, `must be at least ${spec.min}, got ${v}`, pos);
        return undefined;
      }
      const problem = spec.check?.(String(v));
      if (typeof problem === 'string') {
        ctx.sink.error(path, problem, pos);
        return undefined;
      }
      if (problem) ctx.sink.warning(path, problem.warning, pos);
      return v;
    }
    case 'list': {
      if (!isSeq(node)) return mismatch();
      const out: Plain[] = [];
      node.items.forEach((item, i) => {
        const itemPath = `${path}[${i}]`;
        if (isEmpty(resolve(ctx, item))) {
          ctx.sink.error(itemPath, `expected ${EXPECTED[spec.of.t]}, got nothing`, positionOf(ctx, item as Node) ?? pos);
          return;
        }
        const v = walk(ctx, item, spec.of, itemPath);
        if (v !== undefined) out.push(v);
      });
      return out;
    }
    case 'map': {
      if (!isMap(node)) return mismatch();
      const out: PlainMap = {};
      const seen = new Map<string, { raw: string; pos?: Position }>();
      const empty = new Set<string>();
      for (const pair of pairsOf(ctx, node)) {
        const raw = keyText(ctx, pair.key);
        const keyPos = positionOf(ctx, resolve(ctx, pair.key));
        if (raw === undefined) {
          ctx.sink.warning(path, 'a key that is not a plain name is ignored', keyPos);
          continue;
        }
        const key = raw.replace(/-/g, '_');
        const childPath = path === '' ? key : `${path}.${key}`;
        const earlier = seen.get(key);
        if (earlier) {
          if (earlier.raw !== raw) {
            const at = (p?: Position): string => (p ? ` at line ${p.line}` : '');
            ctx.sink.error(
              childPath,
              `given twice (as ${JSON.stringify(earlier.raw)}${at(earlier.pos)} and ${JSON.stringify(raw)}${at(keyPos)}); dashes and underscores are equivalent`,
              keyPos,
            );
          }
          continue;
        }
        seen.set(key, { raw, ...(keyPos ? { pos: keyPos } : {}) });
        const child = spec.fields[key];
        if (!child) {
          const why = spec.ignored?.[key];
          ctx.sink.warning(childPath, why ? `${why} (ignored)` : `unknown key ${JSON.stringify(raw)} (ignored)`, keyPos);
          continue;
        }
        if (child.deprecated) ctx.sink.warning(childPath, `deprecated: ${child.deprecated}`, keyPos);
        if (isEmpty(resolve(ctx, pair.value))) empty.add(key);
        const v = walk(ctx, pair.value, child, childPath);
        if (!ctx.positions.has(childPath) && keyPos) ctx.positions.set(childPath, keyPos);
        if (v !== undefined) out[key] = v;
      }
      for (const key of spec.required ?? []) {
        const childPath = path === '' ? key : `${path}.${key}`;
        const v = out[key];
        if (!seen.has(key)) ctx.sink.error(childPath, 'missing (required)', pos);
        else if (empty.has(key) || v === '') ctx.sink.error(childPath, 'must not be empty', ctx.positions.get(childPath) ?? pos);
      }
      return out;
    }
  }
}
