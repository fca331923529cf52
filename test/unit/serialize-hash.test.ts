import t from 'tap';
import {
  UnitFileError, UnitHashError, hashFromBytes, hashToBytes, isUnitHash, parseUnitFile, serializeUnitFile, shortHash,
  unitHash, type UnitFile,
} from '../../lib/unit/index.js';
import { createHash } from 'node:crypto';
import { errorMessage } from '../../lib/errors.js';

const file = (...options: Array<[string, string, string]>): UnitFile => ({
  options: options.map(([section, name, value]) => ({ section, name, value })),
});

t.test('canonical layout: header, Name=Value lines, one blank line between sections, trailing newline', async (t) => {
  t.equal(
    serializeUnitFile(file(['Unit', 'Description', 'Hello'], ['Unit', 'After', 'a.service'], ['Service', 'ExecStart', '/bin/sleep 1000'], ['X-Fleet', 'Global', 'true'])),
    '[Unit]\nDescription=Hello\nAfter=a.service\n\n[Service]\nExecStart=/bin/sleep 1000\n\n[X-Fleet]\nGlobal=true\n',
  );
});

t.test('no options serialize to empty text', async (t) => {
  t.equal(serializeUnitFile({ options: [] }), '');
  t.equal(serializeUnitFile(parseUnitFile('# nothing\n[Unit]\n')), '');
});

t.test('a section seen again is gathered under its first header; option order within it is kept', async (t) => {
  t.equal(
    serializeUnitFile(file(['Service', 'ExecStartPre', '/a'], ['Unit', 'After', 'x'], ['Service', 'ExecStartPre', '/b'], ['Unit', 'Before', 'y'])),
    '[Service]\nExecStartPre=/a\nExecStartPre=/b\n\n[Unit]\nAfter=x\nBefore=y\n',
  );
});

t.test('empty values and repeated keys are written', async (t) => {
  t.equal(serializeUnitFile(file(['Service', 'ExecStart', ''], ['Service', 'ExecStart', '/b'])), '[Service]\nExecStart=\nExecStart=/b\n');
});

const samples: Record<string, string> = {
  plain: '[Unit]\nDescription=Hello\n\n[Service]\nExecStart=/bin/sleep 1000\n',
  messy: '\uFEFF# head\r\n  [Unit]  \r\n Description =  Hello  \r\n; c\r\n[Service]\r\nExecStart=/bin/sh -c \\\r\n  "echo hi"\r\n',
  unicode: '[Unit]\nDescription=Grüße 🚀 日本語\u00a0\n',
  empties: '[Service]\nExecStart=\nEnvironment=\n',
  xfleet: '[X-Fleet]\nMachineMetadata="a=b" "c=d"\nConflicts=a*.service b.service\n',
  backslashes: '[S]\nA=x\\\\\nB=y\\ \nC=\\\\\\ \nD=z\\\\\\\\\n',
  sectionSpaces: '[Section A]\nK=v\n',
  noSections: '# only a comment\n',
  continued: '[Service]\nExecStart=/bin/sh -c \\\n  "echo a; \\\n   echo b"\nEnvironment=A=1 \\\n\n[Install]\nWantedBy=x\n',
  continuedAtEnd: '[Service]\nExecStart=/bin/true \\\n',
};

t.test('round trip: parse(serialize(f)) equals f for parsed files with contiguous sections', async (t) => {
  for (const [what, text] of Object.entries(samples)) {
    const f = parseUnitFile(text);
    t.same(parseUnitFile(serializeUnitFile(f)), f, what);
  }
});

t.test('serialization is idempotent and parsing the canonical text gives the canonical text back', async (t) => {
  const split = '[Unit]\nA=1\n[Service]\nB=2\n[Unit]\nC=3\n';
  for (const [what, text] of Object.entries({ ...samples, split })) {
    const once = serializeUnitFile(parseUnitFile(text));
    t.equal(serializeUnitFile(parseUnitFile(once)), once, what);
  }
});

t.test('values ending in an odd number of backslashes are written so they do not continue', async (t) => {
  const f = parseUnitFile('[S]\nA=x\\ \nB=y\n');
  t.same(f.options.map((o) => o.value), ['x\\', 'y']);
  const text = serializeUnitFile(f);
  t.equal(text, '[S]\nA=x\\ \nB=y\n');
  t.same(parseUnitFile(text), f);
  const built = file(['S', 'A', '\\\\\\'], ['S', 'B', 'c']);
  t.same(parseUnitFile(serializeUnitFile(built)), built);
});

t.test('options that cannot be written back faithfully are refused', async (t) => {
  const bad: Array<[string, UnitFile, RegExp]> = [
    ['newline in value', file(['S', 'K', 'a\nb']), /line breaks/],
    ['CR in value', file(['S', 'K', 'a\rb']), /line breaks/],
    ['NUL in value', file(['S', 'K', 'a\0b']), /NUL/],
    ['leading blank in value', file(['S', 'K', ' a']), /surrounding blanks/],
    ['trailing tab in value', file(['S', 'K', 'a\t']), /surrounding blanks/],
    ['empty key', file(['S', '', 'v']), /key is empty/],
    ['blank around key', file(['S', 'K ', 'v']), /surrounding blanks/],
    ['= in key', file(['S', 'K=L', 'v']), /contains "="/],
    ['comment key', file(['S', '#K', 'v']), /starts with "#"/],
    ['section-like key', file(['S', '[K', 'v']), /starts with/],
    ['newline in key', file(['S', 'K\nL', 'v']), /line breaks/],
    ['newline after escaped backslashes', file(['S', 'K', 'a\\\\\nb']), /line breaks/],
    ['bare newline after a continued line', file(['S', 'K', 'a\\\n[Service]\nExecStartPre=/bin/evil']), /line breaks/],
    ['blank continued line', file(['S', 'K', 'a\\\n\\\nb\\\n\nExecStartPre=/bin/evil']), /blank/],
    ['empty continued line inside', file(['S', 'K', 'a\\\n\nb']), /line breaks|blank/],
    ['blanks-only continued line', file(['S', 'K', 'a\\\n \t']), /blank/],
    ['comment as a continued line', file(['S', 'K', 'a\\\n# c \\\nb']), /comment/],
    ['CR in a continuation', file(['S', 'K', 'a\\\r\nb']), /line breaks/],
    ['empty section', file(['', 'K', 'v']), /invalid section name/],
    ['bracket in section', file(['A]B', 'K', 'v']), /invalid section name/],
  ];
  for (const [what, f, message] of bad) {
    t.throws(() => serializeUnitFile(f), UnitFileError, what);
    try {
      serializeUnitFile(f);
    } catch (err) {
      t.match(errorMessage(err), message, what);
    }
  }
});

t.test('continued values (fleet\'s \\ + newline) are written as they are and hash as fleet hashes them', async (t) => {
  const text = '[Service]\nExecStart=/bin/sh -c \\\n  "echo a"\n';
  const f = parseUnitFile(text);
  t.same(f.options.map((o) => o.value), ['/bin/sh -c \\\n  "echo a"']);
  t.equal(serializeUnitFile(f), text, 'cat prints it as fleet did');
  // fleet: SHA-1 over go-systemd's serialization, which writes the value with its continuation unchanged.
  t.equal(unitHash(f), createHash('sha1').update(text).digest('hex'));
  t.equal(unitHash(f), '5bfbec62fca605e5ccbb9af72f8e8a9596572ea8');
  const endsInNewline = file(['Service', 'ExecStart', '/bin/true \\\n'], ['Service', 'Type', 'simple']);
  t.equal(serializeUnitFile(endsInNewline), '[Service]\nExecStart=/bin/true \\\n\nType=simple\n');
  t.same(parseUnitFile(serializeUnitFile(endsInNewline)), endsInNewline);
});

/** The lines of a unit file that systemd reads as starting a line of their own (not continuing the one before). */
function freshLines(text: string): string[] {
  const lines = text.split('\n');
  return lines.filter((_, i) => i === 0 || !/(?:^|[^\\])(?:\\\\)*\\$/.test(lines[i - 1] as string));
}

t.test('a continued value cannot add an option or a section to the written file (security bound)', async (t) => {
  const smuggle = [
    'x \\\n[Service]\\\nExecStartPre=/bin/evil',
    'x \\\n\\\n[Service]\\\nExecStartPre=/bin/evil',
    'x\\\n  ExecStartPre=/bin/evil \\\n',
  ];
  for (const value of smuggle) {
    const f = file(['Unit', 'Description', value], ['Unit', 'After', 'y']);
    const written = serializeUnitFile(f);
    const back = parseUnitFile(written);
    t.same(back, f, `${JSON.stringify(value)} reads back as the one value it was`);
    t.notOk(back.options.some((o) => o.name === 'ExecStartPre' || o.section === 'Service'), 'nothing smuggled');
    // As systemd reads the file: a line after one ending in an unescaped backslash continues it.
    t.notMatch(freshLines(written).join('\n'), /ExecStartPre|\[Service\]/, 'no line of its own');
  }
});

t.test('hash: SHA-1 hex of the canonical text, the same as fleet computes it', async (t) => {
  const h = unitHash(parseUnitFile(samples.plain as string));
  t.equal(h, 'ea7c914e6663c9d50994eb2bdfb8c3ab190958ec');
  t.equal(unitHash({ options: [] }), 'da39a3ee5e6b4b0d3255bfef95601890afd80709');
  t.ok(isUnitHash(h));
  t.equal(shortHash(h), 'ea7c914');
});

t.test('the same unit spelled differently hashes the same', async (t) => {
  const base = unitHash(parseUnitFile('[Unit]\nDescription=Hello world\n\n[Service]\nExecStart=/bin/sh -c "sleep 1"\nExecStart=\n'));
  const spellings = {
    spacing: '[Unit]\n   Description   =   Hello world   \n[Service]\nExecStart =/bin/sh -c "sleep 1"\n\tExecStart=\t\n',
    comments: '# a\n[Unit]\n; b\nDescription=Hello world\n# c\n\n\n[Service]\nExecStart=/bin/sh -c "sleep 1"\nExecStart=\n# end',
    crlf: '[Unit]\r\nDescription=Hello world\r\n\r\n[Service]\r\nExecStart=/bin/sh -c "sleep 1"\r\nExecStart=\r\n',
    bom: '\uFEFF[Unit]\nDescription=Hello world\n[Service]\nExecStart=/bin/sh -c "sleep 1"\nExecStart=',
    bytes: Buffer.from('[Unit]\nDescription=Hello world\n[Service]\nExecStart=/bin/sh -c "sleep 1"\nExecStart=\n'),
  };
  for (const [what, text] of Object.entries(spellings)) t.equal(unitHash(parseUnitFile(text)), base, what);
  t.equal(
    unitHash(parseUnitFile('[Unit]\nA=1\n[Service]\nB=2\n[Unit]\nC=3\n')),
    unitHash(parseUnitFile('[Unit]\nA=1\nC=3\n[Service]\nB=2\n')),
    'a section split in two hashes as if written once at its first place',
  );
});

t.test('a section is placed by its first option, not by an empty header', async (t) => {
  t.equal(
    serializeUnitFile(parseUnitFile('[Unit]\n[Service]\nExecStart=/x\n[Unit]\nDescription=d\n')),
    '[Service]\nExecStart=/x\n\n[Unit]\nDescription=d\n',
  );
});

t.test('real changes change the hash', async (t) => {
  const base = '[Unit]\nDescription=Hello\n\n[Service]\nExecStart=/bin/true\n';
  const h = unitHash(parseUnitFile(base));
  const changes = {
    value: '[Unit]\nDescription=Hello!\n\n[Service]\nExecStart=/bin/true\n',
    innerSpace: '[Unit]\nDescription=Hel lo\n\n[Service]\nExecStart=/bin/true\n',
    keyCase: '[Unit]\ndescription=Hello\n\n[Service]\nExecStart=/bin/true\n',
    sectionCase: '[unit]\nDescription=Hello\n\n[Service]\nExecStart=/bin/true\n',
    sectionOrder: '[Service]\nExecStart=/bin/true\n\n[Unit]\nDescription=Hello\n',
    addedEmpty: '[Unit]\nDescription=Hello\n\n[Service]\nExecStart=/bin/true\nExecStart=\n',
    duplicate: '[Unit]\nDescription=Hello\nDescription=Hello\n\n[Service]\nExecStart=/bin/true\n',
    moved: '[Unit]\n\n[Service]\nDescription=Hello\nExecStart=/bin/true\n',
    continuationSpace: '[Unit]\nDescription=Hel\\\nlo\n\n[Service]\nExecStart=/bin/true\n',
  };
  for (const [what, text] of Object.entries(changes)) t.not(unitHash(parseUnitFile(text)), h, what);
  const orderA = unitHash(parseUnitFile('[Service]\nA=1\nB=2\n'));
  const orderB = unitHash(parseUnitFile('[Service]\nB=2\nA=1\n'));
  t.not(orderA, orderB, 'option order within a section matters');
});

t.test('shortHash, isUnitHash', async (t) => {
  t.equal(shortHash('0123456789abcdef0123456789abcdef01234567'), '0123456');
  t.ok(isUnitHash('0123456789abcdef0123456789abcdef01234567'));
  t.notOk(isUnitHash('0123456789ABCDEF0123456789abcdef01234567'), 'upper case');
  t.notOk(isUnitHash('0123456'), 'short');
  t.notOk(isUnitHash('0123456789abcdef0123456789abcdef0123456g'));
});

t.test('hash bytes: fleet stores UnitHash as 20 byte values', async (t) => {
  const h = 'ea7c914e6663c9d50994eb2bdfb8c3ab190958ec';
  const bytes = hashToBytes(h);
  t.equal(bytes.length, 20);
  t.same(bytes.slice(0, 3), [0xea, 0x7c, 0x91]);
  t.equal(hashFromBytes(bytes), h);
  t.throws(() => hashToBytes('xyz'), UnitHashError);
  t.throws(() => hashFromBytes([1, 2, 3]), UnitHashError);
  t.throws(() => hashFromBytes(new Array<number>(20).fill(256)), UnitHashError);
  t.throws(() => hashFromBytes(new Array<number>(20).fill(1.5)), UnitHashError);
});
