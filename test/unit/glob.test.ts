import t from 'tap';
import { globMatch, isLiteralGlob, isValidGlob } from '../../lib/unit/index.js';

// [pattern, name, matches]; behaviour of Go's path.Match.
const table: Array<[string, string, boolean]> = [
  // literals
  ['web.service', 'web.service', true],
  ['web.service', 'web.socket', false],
  ['web.service', 'Web.service', false],
  ['web', 'web.service', false],
  ['', '', true],
  ['', 'a', false],
  // *
  ['*', 'anything.service', true],
  ['*', '', true],
  ['*.service', 'web.service', true],
  ['*.service', 'web.socket', false],
  ['conflict.*.service', 'conflict.1.service', true],
  ['conflict.*.service', 'conflict..service', true],
  ['conflict.*.service', 'conflict.service', false],
  ['foo@*.service', 'foo@1.service', true],
  ['foo@*.service', 'foo@.service', true],
  ['foo@*.service', 'bar@1.service', false],
  ['a*', 'a', true],
  ['a*', 'abc', true],
  ['*c', 'abc', true],
  ['a**c', 'abc', true],
  ['a*b*c', 'axxbyyc', true],
  ['a*b*c', 'axxbyy', false],
  ['*x', 'xxx', true],
  ['a*b?c*x', 'abxbbxdbxebxczzx', true],
  ['a*b?c*x', 'abxbbxdbxebxczzy', false],
  // * and ? do not cross /
  ['a*', 'ab/c', false],
  ['a*/b', 'abc/b', true],
  ['a*/b', 'a/c/b', false],
  ['*', 'a/b', false],
  ['a?b', 'a/b', false],
  // ?
  ['web?.service', 'web1.service', true],
  ['web?.service', 'web.service', false],
  ['web?.service', 'web12.service', false],
  ['a?b', 'a☺b', true],
  ['a???b', 'a☺b', false],
  // classes
  ['ab[c]', 'abc', true],
  ['ab[b-d]', 'abc', true],
  ['ab[e-g]', 'abc', false],
  ['ab[^c]', 'abc', false],
  ['ab[^b-d]', 'abc', false],
  ['ab[^e-g]', 'abc', true],
  ['ab[^e-g]', 'ab', false],
  ['web[0-9].service', 'web7.service', true],
  ['web[0-9].service', 'webx.service', false],
  ['web[0-9a-f].service', 'webe.service', true],
  ['web[abc].service', 'webb.service', true],
  ['web[abc].service', 'webd.service', false],
  ['a[^a]b', 'a☺b', true],
  ['a[^a][^a][^a]b', 'a☺b', false],
  ['[a-ζ]*', 'α', true],
  ['*[a-ζ]', 'A', false],
  ['[^a]', '/', true],
  ['[!a]', '!', true],
  ['[!a]', 'b', false],
  // escapes
  ['a\\*b', 'a*b', true],
  ['a\\*b', 'ab', false],
  ['a\\*b', 'axb', false],
  ['a\\?b', 'a?b', true],
  ['a\\?b', 'axb', false],
  ['\\a', 'a', true],
  ['[\\]a]', ']', true],
  ['[\\]a]', 'a', true],
  ['[\\-]', '-', true],
  ['[x\\-]', 'x', true],
  ['[x\\-]', '-', true],
  ['[x\\-]', 'z', false],
  ['[\\-x]', '-', true],
  ['[\\-x]', 'a', false],
  ['[a\\-z]', 'm', false],
  ['[\\^a]', '^', true],
];

t.test('globMatch follows Go path.Match', async (t) => {
  for (const [pattern, name, want] of table) {
    t.equal(globMatch(pattern, name), want, `${JSON.stringify(pattern)} vs ${JSON.stringify(name)}`);
    t.ok(isValidGlob(pattern), `${JSON.stringify(pattern)} is valid`);
  }
});

t.test('malformed patterns are invalid and match nothing', async (t) => {
  const bad: Array<[string, string]> = [
    ['[]a]', ']'],
    ['[-]', '-'],
    ['[x-]', 'x'],
    ['[x-]', '-'],
    ['[-x]', 'x'],
    ['\\', '\\'],
    ['a\\', 'a'],
    ['[a-b-c]', 'a'],
    ['[', '['],
    ['[^', 'a'],
    ['[^]', 'a'],
    ['[^bc', 'a'],
    ['a[', 'a'],
    ['a[', 'ab'],
    ['[a', 'a'],
    ['[a-', 'a'],
    ['[a\\', 'a'],
    ['*[', 'x'],
  ];
  for (const [pattern, name] of bad) {
    t.notOk(isValidGlob(pattern), `${JSON.stringify(pattern)} is invalid`);
    t.equal(globMatch(pattern, name), false, `${JSON.stringify(pattern)} matches nothing`);
  }
});

t.test('isLiteralGlob', async (t) => {
  t.ok(isLiteralGlob('web.service'));
  t.ok(isLiteralGlob('a\\*b'), 'an escaped star is a literal');
  t.notOk(isLiteralGlob('web*.service'));
  t.notOk(isLiteralGlob('web?.service'));
  t.notOk(isLiteralGlob('web[12].service'));
  t.notOk(isLiteralGlob('['), 'malformed');
});

/**
 * A plain port of Go's path.Match (scanChunk / matchChunk, with its retries after a `*`), used as the oracle:
 * slow on purpose, and only for short inputs. Patterns are assumed valid.
 */
function goMatch(pattern: string, name: string): boolean {
  const P = [...pattern];
  let N = [...name];
  let p = 0;
  const chunkAt = (q: number): { star: boolean; chunk: string[]; next: number } => {
    let star = false;
    while (P[q] === '*') {
      q++;
      star = true;
    }
    let i = q;
    let inRange = false;
    for (; i < P.length; i++) {
      const c = P[i];
      if (c === '\\') i++;
      else if (c === '[') inRange = true;
      else if (c === ']') inRange = false;
      else if (c === '*' && !inRange) break;
    }
    return { star, chunk: P.slice(q, i), next: i };
  };
  const matchChunk = (chunk: string[], s: string[]): string[] | undefined => {
    let c = 0;
    let k = 0;
    while (c < chunk.length) {
      const ch = chunk[c]!;
      if (ch === '[') {
        if (k >= s.length) return undefined;
        const r = s[k]!.codePointAt(0)!;
        k++;
        c++;
        const negated = chunk[c] === '^';
        if (negated) c++;
        let match = false;
        let n = 0;
        for (;;) {
          if (chunk[c] === ']' && n > 0) {
            c++;
            break;
          }
          const esc = (): number => {
            if (chunk[c] === '\\') c++;
            return chunk[c++]!.codePointAt(0)!;
          };
          const lo = esc();
          let hi = lo;
          if (chunk[c] === '-') {
            c++;
            hi = esc();
          }
          if (lo <= r && r <= hi) match = true;
          n++;
        }
        if (match === negated) return undefined;
      } else if (ch === '?') {
        if (k >= s.length || s[k] === '/') return undefined;
        k++;
        c++;
      } else {
        const lit = ch === '\\' ? chunk[++c]! : ch;
        if (k >= s.length || s[k] !== lit) return undefined;
        k++;
        c++;
      }
    }
    return s.slice(k);
  };
  while (p < P.length) {
    const { star, chunk, next } = chunkAt(p);
    p = next;
    if (star && chunk.length === 0) return !N.includes('/');
    const rest = matchChunk(chunk, N);
    if (rest && (rest.length === 0 || p < P.length)) {
      N = rest;
      continue;
    }
    let found = false;
    if (star) {
      for (let i = 0; i < N.length && N[i] !== '/'; i++) {
        const r = matchChunk(chunk, N.slice(i + 1));
        if (r) {
          if (p >= P.length && r.length > 0) continue;
          N = r;
          found = true;
          break;
        }
      }
    }
    if (!found) return false;
  }
  return N.length === 0;
}

t.test('agrees with a port of Go path.Match on random short patterns and names', async (t) => {
  let seed = 42;
  const rnd = (n: number): number => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  const pieces = ['a', 'b', '/', '*', '*', '?', '[ab]', '[^a]', '[/b]', '\\*', 'ab', 'ba'];
  const chars = ['a', 'b', '/', '*'];
  let disagreements = 0;
  for (let i = 0; i < 20000; i++) {
    const pattern = Array.from({ length: rnd(7) }, () => pieces[rnd(pieces.length)]).join('');
    const name = Array.from({ length: rnd(9) }, () => chars[rnd(chars.length)]).join('');
    if (globMatch(pattern, name) !== goMatch(pattern, name)) {
      if (disagreements++ < 5) t.fail(`${JSON.stringify(pattern)} vs ${JSON.stringify(name)}: Go says ${goMatch(pattern, name)}`);
    }
  }
  t.equal(disagreements, 0);
});

t.test('matching is linear in the name: steps counted on pathological patterns', async (t) => {
  const n = 100_000;
  const as = 'a'.repeat(n);
  const cases: Array<[string, string, string, boolean, number]> = [
    // [what, pattern, name, matches, at most this many steps per name character]
    ['*a*a*…*b: many one-character chunks', '*a'.repeat(10_000) + '*b', as, false, 3],
    ['*a*a*…*a', '*a'.repeat(10_000), as, true, 3],
    ['a*'.repeat(50) + 'b', 'a*'.repeat(50) + 'b', as, false, 3],
    ['one long plain chunk that almost matches everywhere (KMP)', '*' + 'a'.repeat(999) + 'b*', as, false, 3],
    ['a long chunk with ? that almost matches everywhere (Shift-And)', '*' + 'a?'.repeat(127) + 'b*', as, false, 2 * Math.ceil(255 / 32) + 1],
    ['classes', '*' + '[a-c]'.repeat(200) + '[^a]*', as, false, 2 * Math.ceil(200 / 32) + 1],
    ['a long last chunk', '*' + 'a'.repeat(5000), as, true, 2],
  ];
  for (const [what, pattern, name, want, perChar] of cases) {
    const meter = { steps: 0 };
    t.equal(globMatch(pattern, name, meter), want, `${what}: result`);
    const bound = perChar * name.length + 2 * [...pattern].length;
    t.ok(meter.steps <= bound, `${what}: ${meter.steps} steps, at most ${bound} (pattern × name would be ${[...pattern].length * name.length})`);
  }
});

t.test('pathological patterns stay fast', async (t) => {
  const name = 'a'.repeat(200);
  t.equal(globMatch('a*'.repeat(50) + 'b', name), false);
  t.equal(globMatch('*a*a*a*a*a*a*a*a*a*a*a*a', name), true);
});
