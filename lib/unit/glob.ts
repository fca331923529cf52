/**
 * Go's path.Match: `*` any run of non-`/` characters, `?` one non-`/` character, `[...]` a class of characters
 * and `lo-hi` ranges (`^` negates; a class may match `/`), `\` escapes the next character. The whole name must
 * match. A malformed pattern matches nothing.
 */

type Token =
  | { kind: 'literal'; ch: string }
  | { kind: 'any' }
  | { kind: 'star' }
  | { kind: 'class'; negated: boolean; ranges: Array<[number, number]> };

export function globMatch(pattern: string, name: string): boolean {
  const tokens = compile(pattern);
  if (!tokens) return false;
  return matchTokens(tokens, [...name]);
}

/** globMatch with the pattern compiled once, for matching one pattern against many names. Names that lack the
 * pattern's literal head or tail are refused without running the matcher. */
export function globMatcher(pattern: string): (name: string) => boolean {
  const tokens = tokenize([...pattern]);
  if (!tokens) return () => false;
  const literal = (t: Token): string | undefined => (t.kind === 'literal' ? t.ch : undefined);
  let head = 0;
  while (head < tokens.length && literal(tokens[head] as Token) !== undefined) head++;
  const prefix = tokens.slice(0, head).map(literal).join('');
  if (head === tokens.length) return (name) => name === prefix;
  let tail = tokens.length;
  while (tail > head && literal(tokens[tail - 1] as Token) !== undefined) tail--;
  const suffix = tokens.slice(tail).map(literal).join('');
  return (name) =>
    name.length >= prefix.length + suffix.length &&
    name.startsWith(prefix) &&
    name.endsWith(suffix) &&
    matchTokens(tokens, /[\uD800-\uDFFF]/.test(name) ? [...name] : name);
}

/** Whether the pattern is well formed: classes closed and non-empty, ranges complete, no trailing `\`. */
export function isValidGlob(pattern: string): boolean {
  return compile(pattern) !== undefined;
}

/** Whether the pattern has no wildcard, i.e. matches exactly one name. */
export function isLiteralGlob(pattern: string): boolean {
  const tokens = compile(pattern);
  return tokens !== undefined && tokens.every((t) => t.kind === 'literal');
}

const cache = new Map<string, Token[] | undefined>();

function compile(pattern: string): Token[] | undefined {
  if (cache.has(pattern)) return cache.get(pattern);
  const tokens = tokenize([...pattern]);
  if (cache.size > 1000) cache.clear();
  cache.set(pattern, tokens);
  return tokens;
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
      tokens.push({ kind: 'literal', ch: p[i + 1] as string });
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
      tokens.push({ kind: 'literal', ch });
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

function matchOne(t: Token, ch: string): boolean {
  switch (t.kind) {
    case 'literal':
      return t.ch === ch;
    case 'any':
      return ch !== '/';
    case 'class': {
      const c = ch.codePointAt(0) as number;
      const inClass = t.ranges.some(([lo, hi]) => lo <= c && c <= hi);
      return inClass !== t.negated;
    }
    case 'star':
      return false;
  }
}

/** Dynamic programming over (token, character): linear in pattern × name, no exponential backtracking. */
function matchTokens(tokens: Token[], chars: ArrayLike<string>): boolean {
  let row = new Array<boolean>(chars.length + 1).fill(false);
  row[0] = true;
  for (const t of tokens) {
    const next = new Array<boolean>(chars.length + 1).fill(false);
    if (t.kind === 'star') {
      for (let j = 0; j <= chars.length; j++) {
        next[j] = row[j] === true || (j > 0 && next[j - 1] === true && chars[j - 1] !== '/');
      }
    } else {
      for (let j = 1; j <= chars.length; j++) next[j] = row[j - 1] === true && matchOne(t, chars[j - 1] as string);
    }
    row = next;
  }
  return row[chars.length] === true;
}
