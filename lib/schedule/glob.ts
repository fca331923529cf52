/**
 * Go path.Match for unit-name globs: `*` (any run of non-`/`), `?` (one non-`/`), `[...]`/`[^...]` classes with
 * ranges, `\` escapes. A malformed pattern matches nothing, as in fleet.
 * Stand-in until lib/unit/requirements.ts exports globMatch; then this module re-exports it.
 */
const compiled = new Map<string, RegExp | null>();

export function globMatch(pattern: string, name: string): boolean {
  let re = compiled.get(pattern);
  if (re === undefined) {
    re = compile(pattern);
    compiled.set(pattern, re);
  }
  return re !== null && re.test(name);
}

function lit(ch: string): string {
  return `\\u{${ch.codePointAt(0)!.toString(16)}}`;
}

function compile(pattern: string): RegExp | null {
  const chars = Array.from(pattern);
  let out = '';
  let i = 0;
  while (i < chars.length) {
    const c = chars[i]!;
    if (c === '*') {
      out += '[^/]*';
      i++;
    } else if (c === '?') {
      out += '[^/]';
      i++;
    } else if (c === '\\') {
      if (i + 1 >= chars.length) return null;
      out += lit(chars[i + 1]!);
      i += 2;
    } else if (c === '[') {
      i++;
      let negated = false;
      if (chars[i] === '^') {
        negated = true;
        i++;
      }
      let body = '';
      let ranges = 0;
      for (;;) {
        if (i >= chars.length) return null;
        if (chars[i] === ']' && ranges > 0) {
          i++;
          break;
        }
        const lo = classChar(chars, i);
        if (!lo) return null;
        i = lo.next;
        let hi = lo;
        if (chars[i] === '-') {
          const h = classChar(chars, i + 1);
          if (!h) return null;
          hi = h;
          i = h.next;
        }
        if (lo.ch.codePointAt(0)! <= hi.ch.codePointAt(0)!) body += `${lit(lo.ch)}-${lit(hi.ch)}`;
        ranges++;
      }
      out += `[${negated ? '^' : ''}${body}]`;
    } else {
      out += lit(c);
      i++;
    }
  }
  return new RegExp(`^${out}$`, 'u');
}

function classChar(chars: string[], i: number): { ch: string; next: number } | undefined {
  const c = chars[i];
  if (c === undefined || c === '-' || c === ']') return undefined;
  if (c === '\\') {
    const e = chars[i + 1];
    return e === undefined ? undefined : { ch: e, next: i + 2 };
  }
  return { ch: c, next: i + 1 };
}
