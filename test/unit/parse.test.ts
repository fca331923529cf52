import t from 'tap';
import { FleetError } from '../../lib/errors.js';
import {
  MAX_UNIT_FILE_BYTES, UnitFileError, isValidSectionName, logicalValue, parseUnitFile, splitMultiValue, type UnitOption,
} from '../../lib/unit/index.js';

const opts = (text: string | Uint8Array): Array<[string, string, string]> =>
  parseUnitFile(text).options.map((o: UnitOption) => [o.section, o.name, o.value]);

function parseError(input: string | Uint8Array, source?: string): UnitFileError {
  try {
    parseUnitFile(input, source);
  } catch (err) {
    if (err instanceof UnitFileError) return err;
    throw err;
  }
  throw new Error(`expected a UnitFileError for ${JSON.stringify(input)}`);
}

t.test('sections and options come out in file order', async (t) => {
  t.same(opts('[Unit]\nDescription=Hello\nAfter=a.service\n\n[Service]\nExecStart=/bin/true\n'), [
    ['Unit', 'Description', 'Hello'],
    ['Unit', 'After', 'a.service'],
    ['Service', 'ExecStart', '/bin/true'],
  ]);
});

t.test('repeated keys and repeated sections are all kept in order', async (t) => {
  t.same(opts('[Service]\nExecStartPre=/a\nExecStartPre=/b\n[Unit]\nAfter=x\n[Service]\nExecStartPre=/c\n'), [
    ['Service', 'ExecStartPre', '/a'],
    ['Service', 'ExecStartPre', '/b'],
    ['Unit', 'After', 'x'],
    ['Service', 'ExecStartPre', '/c'],
  ]);
});

t.test('an empty assignment is kept with an empty value', async (t) => {
  t.same(opts('[Service]\nExecStart=/a\nExecStart=\nExecStart=   \nExecStart=/b\n'), [
    ['Service', 'ExecStart', '/a'],
    ['Service', 'ExecStart', ''],
    ['Service', 'ExecStart', ''],
    ['Service', 'ExecStart', '/b'],
  ]);
});

t.test('blanks around "=", before keys and at line ends are trimmed; inner blanks are kept', async (t) => {
  t.same(opts('  [Unit]  \n\t Description \t=\t  Hello   big  world \t\nAfter =x\nBefore= y\n'), [
    ['Unit', 'Description', 'Hello   big  world'],
    ['Unit', 'After', 'x'],
    ['Unit', 'Before', 'y'],
  ]);
});

t.test('only space and tab are trimmed: other Unicode spaces are content', async (t) => {
  t.same(opts('[Unit]\nDescription=\u00a0x\u00a0\nAfter=\u3000y\u2003\n'), [
    ['Unit', 'Description', '\u00a0x\u00a0'],
    ['Unit', 'After', '\u3000y\u2003'],
  ]);
});

t.test('the first "=" separates key and value; the value may hold more', async (t) => {
  t.same(opts('[Service]\nEnvironment=A=1 B=2\nX==y\n'), [
    ['Service', 'Environment', 'A=1 B=2'],
    ['Service', 'X', '=y'],
  ]);
});

t.test('key case and spelling are kept as written', async (t) => {
  t.same(opts('[Unit]\ndescription=a\nDESCRIPTION=b\n'), [
    ['Unit', 'description', 'a'],
    ['Unit', 'DESCRIPTION', 'b'],
  ]);
});

t.test('comments: # and ; at line start, also indented, also before the first section', async (t) => {
  t.same(opts('# head\n; also\n[Unit]\n  # indented\n\t; tabbed\nDescription=x\n#Description=y\n'), [
    ['Unit', 'Description', 'x'],
  ]);
});

t.test('# and ; inside a value are not comments', async (t) => {
  t.same(opts('[Service]\nExecStart=/bin/sh -c "echo a # b; c"\nX=;y\n'), [
    ['Service', 'ExecStart', '/bin/sh -c "echo a # b; c"'],
    ['Service', 'X', ';y'],
  ]);
});

t.test('empty input, blank lines and comment-only input give no options', async (t) => {
  t.same(opts(''), []);
  t.same(opts('\n\n  \n\t\n'), []);
  t.same(opts('# only\n; comments\n'), []);
  t.same(opts(new Uint8Array()), []);
});

t.test('a section without options leaves nothing behind', async (t) => {
  t.same(opts('[Unit]\n[Service]\nType=simple\n[Install]\n'), [['Service', 'Type', 'simple']]);
});

t.test('section names may hold inner spaces and punctuation', async (t) => {
  t.same(opts('[Section A]\nK=v\n[X-Fleet]\nGlobal=true\n[Match.Foo:bar]\nK=w\n'), [
    ['Section A', 'K', 'v'],
    ['X-Fleet', 'Global', 'true'],
    ['Match.Foo:bar', 'K', 'w'],
  ]);
});

t.test('continuations: the value keeps them as fleet (go-systemd) did, docs/fleet-compat.md#unit-files', async (t) => {
  // Each row: unit text, expected options. The expected values are go-systemd's for every text fleet accepted.
  const rows: Array<[string, string, Array<[string, string, string]>]> = [
    ['the backslash stays and the next line follows after a newline, as written',
      '[Service]\nExecStart=/bin/echo a \\\n  b \\\nc\nType=simple\n',
      [['Service', 'ExecStart', '/bin/echo a \\\n  b \\\nc'], ['Service', 'Type', 'simple']]],
    ['no blank before the backslash', '[Service]\nExecStart=/bin/echo a\\\nb\n', [['Service', 'ExecStart', '/bin/echo a\\\nb']]],
    ['the systemd.syntax(7) example: comment lines inside a continuation are skipped (fleet refused this file)',
      '[Section C]\nKeyThree=value 3\\\n# this line is ignored\n; this line is ignored too\n       value 3 continued\n',
      [['Section C', 'KeyThree', 'value 3\\\n       value 3 continued']]],
    ['indented comment lines inside a continuation are skipped too', '[S]\nK=a\\\n   # c1\n\t; c2\nb\n', [['S', 'K', 'a\\\nb']]],
    ['a comment line ending in a backslash does not continue', '[S]\n# comment \\\nK=v\n', [['S', 'K', 'v']]],
    ['a file ending right after the backslash: the backslash continues nothing', '[S]\nK=a \\', [['S', 'K', 'a']]],
    ['a file ending after the backslash and its newline: fleet kept both', '[S]\nK=a \\\n', [['S', 'K', 'a \\\n']]],
    ['a file ending in a comment inside a continuation', '[S]\nK=a \\\n# trailing comment', [['S', 'K', 'a']]],
    ['only a backslash at the end of the file', '[S]\nK=\\', [['S', 'K', '']]],
    ['an empty line ends a continuation, the value keeping backslash and newline', '[S]\nK=a\\\n\nL=b\n', [['S', 'K', 'a\\\n'], ['S', 'L', 'b']]],
    ['so does a blank line', '[S]\nK=a\\\n   \nL=b\n', [['S', 'K', 'a\\\n'], ['S', 'L', 'b']]],
    ['an even number of trailing backslashes is escaped backslashes, not a continuation', '[S]\nK=a\\\\\nL=b\n', [['S', 'K', 'a\\\\'], ['S', 'L', 'b']]],
    ['an odd number continues', '[S]\nK=a\\\\\\\nb\n', [['S', 'K', 'a\\\\\\\nb']]],
    ['a backslash followed by trailing blanks does not continue', '[S]\nK=a\\ \nL=b\n', [['S', 'K', 'a\\'], ['S', 'L', 'b']]],
    ['a continued line can swallow what looks like a section header', '[S]\nK=a\\\n[T]\nL=b\n', [['S', 'K', 'a\\\n[T]'], ['S', 'L', 'b']]],
    ['backslashes inside a value are kept as written', '[S]\nK=a\\nb \\t c\\\\d\n', [['S', 'K', 'a\\nb \\t c\\\\d']]],
    ['blanks around the whole value are trimmed, inside it they stay', '[S]\nK=  a \\\n  b  \n', [['S', 'K', 'a \\\n  b']]],
  ];
  for (const [what, text, want] of rows) t.same(opts(text), want, what);
});

t.test('only a value may be continued: a continued key or section header is refused', async (t) => {
  t.match(parseError('[S]\nExec\\\nStart=x\n').message, /a key cannot be continued/);
  t.equal(parseError('[S]\nExec\\\nStart=x\n').line, 2);
  t.match(parseError('[Sec\\\ntion]\nK=v\n').message, /a section header cannot be continued/);
});

t.test('logicalValue: a value as systemd reads it, each continuation one space', async (t) => {
  t.equal(logicalValue('/bin/echo a \\\n  b \\\nc'), '/bin/echo a    b  c');
  t.equal(logicalValue('a\\\n'), 'a');
  t.equal(logicalValue('a\\\\b'), 'a\\\\b');
  t.equal(logicalValue('plain'), 'plain');
});

t.test('line endings', async (t) => {
  const want = [['Unit', 'Description', 'x'], ['Service', 'ExecStart', '/a \\\nb']];
  t.same(opts('[Unit]\r\nDescription=x\r\n\r\n[Service]\r\nExecStart=/a \\\r\nb\r\n'), want, 'CRLF, also in a continuation');
  t.same(opts('[Unit]\rDescription=x\r\r[Service]\rExecStart=/a \\\rb\r'), want, 'lone CR ends a line, as in systemd');
  t.same(opts('[Unit]\r\nDescription=x\n[Service]\rExecStart=/a \\\r\nb'), want, 'mixed');
  t.same(opts('[Unit]\r\nDescription=x  \r\n'), [['Unit', 'Description', 'x']], 'no CR left in a value');
});

t.test('a UTF-8 byte order mark at the start is dropped', async (t) => {
  const want = [['Unit', 'Description', 'x']];
  t.same(opts('\uFEFF[Unit]\nDescription=x\n'), want, 'in a string');
  t.same(opts(Buffer.from('\uFEFF[Unit]\nDescription=x\n', 'utf8')), want, 'in bytes');
  t.same(opts(new Uint8Array([0xef, 0xbb, 0xbf, ...Buffer.from('# c\n[Unit]\nDescription=x')])), want, 'before a comment');
  t.same(opts('[Unit]\nDescription=\uFEFFx\n'), [['Unit', 'Description', '\uFEFFx']], 'elsewhere it is content');
});

t.test('Unicode values survive from strings and from bytes', async (t) => {
  const text = '[Unit]\nDescription=Grüße 🚀 日本語 e\u0301 — ok\n';
  const want = [['Unit', 'Description', 'Grüße 🚀 日本語 e\u0301 — ok']];
  t.same(opts(text), want);
  t.same(opts(new TextEncoder().encode(text)), want);
  t.same(opts(Buffer.from(text)), want, 'a Buffer is a Uint8Array');
});

t.test('X-Fleet multi-value options keep the raw value', async (t) => {
  t.same(opts('[X-Fleet]\nMachineMetadata="a=b" "c=d"\n'), [['X-Fleet', 'MachineMetadata', '"a=b" "c=d"']]);
});

t.test('splitMultiValue', async (t) => {
  const cases: Array<[string, string[]]> = [
    ['"a=b" "c=d"', ['a=b', 'c=d']],
    ['"a=b"', ['a=b']],
    ['"a=b c" "d"', ['a=b c', 'd']],
    ['"a"   "b"', ['a', 'b']],
    ['"a"\t"b"', ['a', 'b']],
    ['"a" b "c"', ['a', 'b', 'c']],
    ['"a"b"c"', ['abc']],
    ['""', []],
    ['"" "x"', ['x']],
    ['a=b c=d', ['a=b c=d']],
    ['"a=b', ['"a=b']],
    ['a=b"', ['a=b"']],
    ['"', ['"']],
    ['', ['']],
    ['x', ['x']],
  ];
  for (const [input, want] of cases) t.same(splitMultiValue(input), want, JSON.stringify(input));
});

t.test('isValidSectionName', async (t) => {
  for (const ok of ['Unit', 'X-Fleet', 'Section A', 'a.b:c_d', 'Ünit']) t.ok(isValidSectionName(ok), ok);
  for (const bad of ['', ' Unit', 'Unit ', '\tUnit', 'a[b', 'a]b', 'a\\b', 'a"b', "a'b", 'a\x01b', 'a\x7fb']) {
    t.notOk(isValidSectionName(bad), JSON.stringify(bad));
  }
});

t.test('errors carry source, line and an actionable message', async (t) => {
  const cases: Array<[string, number, RegExp]> = [
    ['# c\n\nDescription=x\n[Unit]\n', 3, /assignment outside of any section/],
    ['[Unit]\nA=b\n[Service\nB=c\n', 3, /unterminated section header "\[Service"/],
    ['[Unit] trailing\n', 1, /unexpected text after the section header/],
    ['[Unit]\nA=b\njust words\n', 3, /expected "Key=Value", a \[Section\] header or a comment, got "just words"/],
    ['[Unit]\n\n\n  =value\n', 4, /empty key/],
    ['[Unit]\n=\n', 2, /empty key/],
    ['[]\n', 1, /invalid section name ""/],
    ['[Unit]\nA=b\n[ Unit]\n', 3, /invalid section name " Unit"/],
    ['[Un"it]\n', 1, /invalid section name/],
    ['[a]b]\n', 1, /invalid section name "a\]b"/],
    ['[a\\b]\n', 1, /invalid section name/],
    ['[a\tb\x01]\n', 1, /invalid section name/],
    ['[Unit]\n.include /etc/foo.service\n', 2, /\.include" is not supported/],
  ];
  for (const [text, line, message] of cases) {
    const err = parseError(text, 'hello.service');
    t.equal(err.line, line, `line of ${JSON.stringify(text)}`);
    t.equal(err.source, 'hello.service');
    t.match(err.message, new RegExp(`^hello\\.service:${line}: `));
    t.match(err.message, message);
    t.equal(err.message, `hello.service:${line}: ${err.reason}`);
  }
});

t.test('errors are typed FleetErrors', async (t) => {
  const err = parseError('A=b\n', 'hello.service');
  t.ok(err instanceof FleetError);
  t.equal(err.name, 'UnitFileError');
  t.equal(err.message, 'hello.service:1: assignment outside of any section: "A=b" comes before the first [Section] header');
});

t.test('without a source the message names <unit file>', async (t) => {
  t.match(parseError('A=b').message, /^<unit file>:1: /);
});

t.test('line numbers count CRLF, CR and continuations correctly', async (t) => {
  t.equal(parseError('[Unit]\r\nA=b\r\n\r\nbad\r\n').line, 4);
  t.equal(parseError('[Unit]\rA=b\r\rbad\r').line, 4);
  t.equal(parseError('[Unit]\nA=b \\\nc \\\nd\nbad\n').line, 5, 'after a continuation');
  t.equal(parseError('[Unit]\nA=b\nno equals \\\nsign here\n').line, 3, 'an error in a continued line names its first line');
  t.equal(parseError('\uFEFF[Unit]\nbad\n').line, 2, 'a BOM does not shift lines');
});

t.test('NUL bytes are rejected with their line', async (t) => {
  const s = parseError('[Unit]\nDescription=a\0b\n', 'n.service');
  t.equal(s.line, 2);
  t.match(s.message, /^n\.service:2: NUL byte/);
  t.equal(parseError(Buffer.from('[Unit]\n\nA=\0\n')).line, 3);
});

t.test('bytes that are not UTF-8 are rejected with byte offset and line', async (t) => {
  const prefix = Buffer.from('[Unit]\nDescription=');
  const cases: Array<[string, number[]]> = [
    ['a stray continuation byte', [0x80]],
    ['an invalid lead byte', [0xff]],
    ['Latin-1', [0x47, 0x72, 0xfc, 0xdf, 0x65]],
    ['a truncated sequence at the end', [0xe2, 0x82]],
    ['an overlong encoding', [0xc0, 0xaf]],
    ['an overlong three-byte encoding', [0xe0, 0x80, 0xaf]],
    ['a UTF-16 surrogate', [0xed, 0xa0, 0x80]],
    ['a code point above U+10FFFF', [0xf4, 0x90, 0x80, 0x80]],
    ['a lead byte followed by ASCII', [0xc3, 0x41]],
  ];
  for (const [what, bytes] of cases) {
    const input = Buffer.concat([prefix, Buffer.from(bytes), Buffer.from('\n')]);
    const err = parseError(input, 'b.service');
    const offset = what === 'Latin-1' ? prefix.length + 2 : prefix.length;
    t.equal(err.line, 2, what);
    t.match(err.message, new RegExp(`^b\\.service:2: invalid UTF-8 at byte offset ${offset} `), what);
  }
  t.equal(parseError(Buffer.from([0x5b, 0x55, 0x5d, 0x0d, 0x0a, 0x0d, 0x0a, 0x41, 0x3d, 0xfe])).line, 3, 'line after CRLFs');
});

t.test('well-formed UTF-8 of every length is accepted', async (t) => {
  const value = 'a\u00e9\u0800\uffff\u{10000}\u{10ffff}z';
  t.same(opts(Buffer.from(`[S]\nK=${value}\n`)), [['S', 'K', value]]);
});

t.test('strings with unpaired surrogates are rejected (they cannot be UTF-8)', async (t) => {
  const err = parseError('[Unit]\nDescription=a\uD800b\n');
  t.equal(err.line, 2);
  t.match(err.message, /unpaired surrogate U\+D800/);
  t.equal(parseError('[Unit]\nDescription=\uDC00\n').line, 2);
});

t.test('input over 1 MiB is rejected; exactly 1 MiB is accepted', async (t) => {
  t.equal(MAX_UNIT_FILE_BYTES, 1048576);
  const head = '[Service]\nExecStart=';
  const exact = head + 'x'.repeat(MAX_UNIT_FILE_BYTES - head.length - 1) + '\n';
  t.equal(Buffer.byteLength(exact), MAX_UNIT_FILE_BYTES);
  t.equal(parseUnitFile(exact).options[0]?.value.length, MAX_UNIT_FILE_BYTES - head.length - 1);
  t.equal(parseUnitFile(Buffer.from(exact)).options.length, 1);

  const over = exact + 'x';
  const err = parseError(over, 'big.service');
  t.equal(err.line, undefined);
  t.equal(err.message, 'big.service: unit file is 1048577 bytes, more than the limit of 1048576 bytes (1 MiB)');
  t.equal(parseError(Buffer.from(over)).line, undefined);
  const multibyte = head + 'é'.repeat(MAX_UNIT_FILE_BYTES / 2);
  t.match(parseError(multibyte).message, /unit file is \d+ bytes/, 'the limit counts UTF-8 bytes, not characters');
});

t.test('long lines and many lines parse in reasonable time', async (t) => {
  const started = Date.now();
  parseUnitFile(`[S]\nK=${' '.repeat(500_000)}x${' '.repeat(500_000)}\n`);
  parseUnitFile('[S]\n' + 'K=v \\\n'.repeat(100_000) + 'end\n');
  parseUnitFile('[S]\n' + 'K=v\n'.repeat(200_000));
  t.ok(Date.now() - started < 5000, `took ${Date.now() - started} ms`);
});
