/**
 * Go's path.Match, as fleet uses it for Conflicts= and Replaces=: `*` any run of non-`/` characters, `?` one
 * non-`/` character, `[...]` a class of characters and `lo-hi` ranges (`^` negates; a class may match `/`), `\`
 * escapes the next character. The whole name must match. A malformed pattern matches nothing.
 *
 * Why it is written this way: unit files are hostile input, and one dry run once matched hundreds of long globs
 * against long names with an O(pattern × name) matcher per pair, holding the event loop for tens of seconds. So a
 * pattern is compiled once (cached) into chunks, each the run of single-character tokens after a `*`, and matched
 * like Go does, greedily: every chunk takes its leftmost place after the previous one, the last chunk must end the
 * name. Finding that place never backtracks: a chunk of plain characters is searched with Knuth-Morris-Pratt, one
 * with `?` or classes with bit-parallel Shift-And (32 pattern positions per machine word). The work of one match is
 * therefore O(name length × ⌈chunk length / 32⌉ + pattern length): linear in the name for any pattern a unit may
 * carry (lib/unit/requirements.ts bounds a glob to MAX_X_FLEET_VALUE_LENGTH characters). `GlobMeter` counts the
 * steps, so tests can assert this without timing.
 */

type CharToken =
  | { kind: 'literal'; code: number }
  | { kind: 'any' }
  | { kind: 'class'; negated: boolean; ranges: Array<[number, number]> };

type Token = CharToken | { kind: 'star' };

/** Masks of Shift-And kept per chunk for this many distinct characters (unit names use about 70). */
const MASK_CACHE_LIMIT = 256;
/** Compiled patterns kept for globMatch(); the oldest is dropped first. */
const COMPILED_CACHE_LIMIT = 4096;
const SLASH = 0x2f;

/** Counts the work of matches (one step: one token compared, or one name character against one machine word). */
export interface GlobMeter {
  steps: number;
}

interface Chunk {
  /** Preceded by `*`: may start anywhere from the current position up to the next `/` of the name. */
  readonly star: boolean;
  readonly tokens: readonly CharToken[];
  /** Code points when every token is a literal (searched with KMP), else undefined (Shift-And). */
  readonly literal: readonly number[] | undefined;
  /** KMP failure function of `literal`. */
  readonly fail: readonly number[] | undefined;
  /** Shift-And masks by character, filled on first use. */
  masks: Map<number, Uint32Array> | undefined;
}

/** A pattern compiled once for matching many names. */
export interface CompiledGlob {
  readonly pattern: string;
  /** No wildcard: matches exactly one name. */
  readonly literal: boolean;
  matches(name: string, meter?: GlobMeter): boolean;
}

export function globMatch(pattern: string, name: string, meter?: GlobMeter): boolean {
  const g = compileGlob(pattern);
  return g !== undefined && g.matches(name, meter);
}

/** globMatch with the pattern compiled once, for matching one pattern against many names. */
export function globMatcher(pattern: string): (name: string) => boolean {
  const g = compileGlob(pattern);
  return g ? (name) => g.matches(name) : () => false;
}

/** Whether the pattern is well formed: classes closed and non-empty, ranges complete, no trailing `\`. */
export function isValidGlob(pattern: string): boolean {
  return compileGlob(pattern) !== undefined;
}

/** Whether the pattern has no wildcard, i.e. matches exactly one name. */
export function isLiteralGlob(pattern: string): boolean {
  return compileGlob(pattern)?.literal === true;
}

const cache = new Map<string, CompiledGlob | undefined>();

/** The compiled pattern (cached), or undefined when it is malformed. */
export function compileGlob(pattern: string): CompiledGlob | undefined {
  if (cache.has(pattern)) return cache.get(pattern);
  const tokens = tokenize([...pattern]);
  const compiled = tokens ? build(pattern, tokens) : undefined;
  if (cache.size >= COMPILED_CACHE_LIMIT) cache.delete(cache.keys().next().value as string);
  cache.set(pattern, compiled);
  return compiled;
}

function build(pattern: string, tokens: readonly Token[]): CompiledGlob {
  // Split at the stars: the first run is anchored at the start, every later one follows a `*`.
  const runs: CharToken[][] = [[]];
  for (const t of tokens) {
    if (t.kind === 'star') runs.push([]);
    else runs[runs.length - 1]!.push(t);
  }
  const chunks = runs.map((r, i) => makeChunk(i > 0, r));
  // A pattern ending in `*` leaves an empty last run: the rest of the name only has to be free of `/`.
  const trailingStar = chunks.length > 1 && chunks[chunks.length - 1]!.tokens.length === 0;
  if (trailingStar) chunks.pop();
  if (chunks.length > 1 && chunks[0]!.tokens.length === 0) chunks.shift();
  const literal = tokens.every((t) => t.kind === 'literal');
  return { pattern, literal, matches: (name, meter) => walk(chunks, trailingStar, codePoints(name), meter) };
}

function makeChunk(star: boolean, tokens: CharToken[]): Chunk {
  const allLiteral = tokens.every((t) => t.kind === 'literal');
  const literal = allLiteral ? tokens.map((t) => (t as { code: number }).code) : undefined;
  return { star, tokens, literal, fail: literal ? failure(literal) : undefined, masks: undefined };
}

/** Scratch space reused by every match (matching is synchronous): no allocation per name or chunk. */
let nameBuf = new Int32Array(256);
let stateBuf = new Uint32Array(16);

/** The name's code points, in the shared buffer. */
function codePoints(name: string): Int32Array {
  if (nameBuf.length < name.length) nameBuf = new Int32Array(Math.max(name.length, nameBuf.length * 2));
  let n = 0;
  for (let i = 0; i < name.length; i++) {
    const c = name.codePointAt(i)!;
    nameBuf[n++] = c;
    if (c > 0xffff) i++;
  }
  return nameBuf.subarray(0, n);
}

/** The greedy walk over the chunks (Go's path.Match). */
function walk(chunks: readonly Chunk[], trailingStar: boolean, s: Int32Array, meter: GlobMeter | undefined): boolean {
  const n = s.length;
  let hasSlash = false;
  for (let i = 0; i < n && !hasSlash; i++) hasSlash = s[i] === SLASH;
  if (meter) meter.steps += n;
  const nextSlash = hasSlash ? slashTable(s) : undefined;
  let cur = 0;
  for (let idx = 0; idx < chunks.length; idx++) {
    const c = chunks[idx]!;
    const k = c.tokens.length;
    const limit = !c.star ? cur : nextSlash ? nextSlash[cur]! : n;
    if (idx === chunks.length - 1 && !trailingStar) {
      const start = n - k;
      return start >= cur && start <= limit && matchAt(c, s, start, meter);
    }
    const start = k === 0 ? cur : c.literal ? searchLiteral(c, s, cur, limit, meter) : searchShiftAnd(c, s, cur, limit, meter);
    if (start < 0) return false;
    cur = start + k;
  }
  if (trailingStar) return nextSlash === undefined || nextSlash[cur] === n;
  return cur === n;
}

/** For each position, the index of the first `/` at or after it (n when none). */
function slashTable(s: Int32Array): Int32Array {
  const t = new Int32Array(s.length + 1);
  t[s.length] = s.length;
  for (let i = s.length - 1; i >= 0; i--) t[i] = s[i] === SLASH ? i : t[i + 1]!;
  return t;
}

function matchAt(c: Chunk, s: Int32Array, start: number, meter: GlobMeter | undefined): boolean {
  if (meter) meter.steps += c.tokens.length;
  for (let j = 0; j < c.tokens.length; j++) if (!matchOne(c.tokens[j]!, s[start + j]!)) return false;
  return true;
}

/** KMP: the leftmost start in [from, limit] where the literal chunk occurs, or -1. */
function searchLiteral(c: Chunk, s: Int32Array, from: number, limit: number, meter: GlobMeter | undefined): number {
  const p = c.literal!;
  const fail = c.fail!;
  const k = p.length;
  const end = Math.min(s.length, limit + k);
  let q = 0;
  let steps = 0;
  for (let i = from; i < end; i++) {
    steps++;
    while (q > 0 && p[q] !== s[i]) {
      q = fail[q - 1]!;
      steps++;
    }
    if (p[q] === s[i]) q++;
    if (q === k) {
      if (meter) meter.steps += steps;
      return i - k + 1;
    }
  }
  if (meter) meter.steps += steps;
  return -1;
}

function failure(p: readonly number[]): number[] {
  const f = new Array<number>(p.length).fill(0);
  let q = 0;
  for (let i = 1; i < p.length; i++) {
    while (q > 0 && p[q] !== p[i]) q = f[q - 1]!;
    if (p[q] === p[i]) q++;
    f[i] = q;
  }
  return f;
}

/** Shift-And: the leftmost start in [from, limit] where the chunk matches, or -1. */
function searchShiftAnd(c: Chunk, s: Int32Array, from: number, limit: number, meter: GlobMeter | undefined): number {
  const k = c.tokens.length;
  const words = (k + 31) >>> 5;
  const lastWord = (k - 1) >>> 5;
  const lastBit = 1 << ((k - 1) & 31);
  if (stateBuf.length < words) stateBuf = new Uint32Array(Math.max(words, stateBuf.length * 2));
  const d = stateBuf;
  d.fill(0, 0, words);
  const end = Math.min(s.length, limit + k);
  let steps = 0;
  for (let i = from; i < end; i++) {
    const m = maskOf(c, s[i]!, meter);
    let carry = 1;
    for (let w = 0; w < words; w++) {
      const v = d[w]!;
      d[w] = ((v << 1) | carry) & m[w]!;
      carry = v >>> 31;
    }
    steps += words;
    if ((d[lastWord]! & lastBit) !== 0) {
      if (meter) meter.steps += steps;
      return i - k + 1;
    }
  }
  if (meter) meter.steps += steps;
  return -1;
}

/** Bit j set when token j of the chunk accepts the character. */
function maskOf(c: Chunk, ch: number, meter: GlobMeter | undefined): Uint32Array {
  c.masks ??= new Map();
  const cached = c.masks.get(ch);
  if (cached) return cached;
  const m = new Uint32Array((c.tokens.length + 31) >>> 5);
  for (let j = 0; j < c.tokens.length; j++) if (matchOne(c.tokens[j]!, ch)) m[j >>> 5]! |= 1 << (j & 31);
  if (meter) meter.steps += c.tokens.length;
  if (c.masks.size < MASK_CACHE_LIMIT) c.masks.set(ch, m);
  return m;
}

function matchOne(t: CharToken, ch: number): boolean {
  switch (t.kind) {
    case 'literal':
      return t.code === ch;
    case 'any':
      return ch !== SLASH;
    case 'class': {
      let inClass = false;
      for (const [lo, hi] of t.ranges) {
        if (lo <= ch && ch <= hi) {
          inClass = true;
          break;
        }
      }
      return inClass !== t.negated;
    }
  }
}

function tokenize(p: string[]): Token[] | undefined {
  const tokens: Token[] = [];
  let i = 0;
  while (i < p.length) {
    const ch = p[i] as string;
    if (ch === '*') {
      if (tokens[tokens.length - 1]?.kind !== 'star') tokens.push({ kind: 'star' });
      i++;
    } else if (ch === '?') {
      tokens.push({ kind: 'any' });
      i++;
    } else if (ch === '\\') {
      if (i + 1 >= p.length) return undefined;
      tokens.push({ kind: 'literal', code: (p[i + 1] as string).codePointAt(0)! });
      i += 2;
    } else if (ch === '[') {
      i++;
      let negated = false;
      if (p[i] === '^') {
        negated = true;
        i++;
      }
      const ranges: Array<[number, number]> = [];
      for (;;) {
        if (p[i] === ']' && ranges.length > 0) {
          i++;
          break;
        }
        const lo = classChar(p, i);
        if (!lo) return undefined;
        i = lo.next;
        let hi = lo;
        if (p[i] === '-') {
          const h = classChar(p, i + 1);
          if (!h) return undefined;
          hi = h;
          i = h.next;
        }
        ranges.push([lo.code, hi.code]);
      }
      tokens.push({ kind: 'class', negated, ranges });
    } else {
      tokens.push({ kind: 'literal', code: ch.codePointAt(0)! });
      i++;
    }
  }
  return tokens;
}

/** One class character (Go's getEsc): `-` and `]` must be escaped, the pattern must not end. */
function classChar(p: string[], i: number): { code: number; next: number } | undefined {
  let ch = p[i];
  if (ch === undefined || ch === '-' || ch === ']') return undefined;
  let next = i + 1;
  if (ch === '\\') {
    ch = p[i + 1];
    if (ch === undefined) return undefined;
    next = i + 2;
  }
  return { code: ch.codePointAt(0) as number, next };
}
