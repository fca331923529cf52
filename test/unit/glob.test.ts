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

t.test('pathological patterns stay fast', async (t) => {
  const started = Date.now();
  const name = 'a'.repeat(200);
  t.equal(globMatch('a*'.repeat(50) + 'b', name), false);
  t.equal(globMatch('*a*a*a*a*a*a*a*a*a*a*a*a', name), true);
  t.ok(Date.now() - started < 1000, `took ${Date.now() - started} ms`);
});
