import t from 'tap';
import {
  RequirementsError, UnitFileError, UnitNameError, describeUnit, hasSection, loadUnit, loadUnitFile, optionValues,
  parseUnitFile, serializeUnitFile, unitHash,
} from '../../lib/unit/index.js';

const HELLO = '# say hello\n[Unit]\nDescription = Hello  \n\n[Service]\nExecStart=/bin/sh -c \\\n  "while true; do echo hi; sleep 1; done"\n\n[X-Fleet]\nConflicts=hello*.service\n';

t.test('loadUnit validates, parses, canonicalises, hashes and reads requirements', async (t) => {
  const u = loadUnit('hello.service', HELLO);
  t.equal(u.name, 'hello.service');
  t.same(u.file, parseUnitFile(HELLO));
  t.equal(u.text, '[Unit]\nDescription=Hello\n\n[Service]\nExecStart=/bin/sh -c \\\n  "while true; do echo hi; sleep 1; done"\n\n[X-Fleet]\nConflicts=hello*.service\n');
  t.equal(u.text, serializeUnitFile(u.file));
  t.equal(u.hash, unitHash(u.file));
  t.match(u.hash, /^[0-9a-f]{40}$/);
  t.same(u.requirements.conflicts, ['hello*.service']);
  t.same(u.warnings, []);
});

t.test('loading the canonical text again gives the same unit', async (t) => {
  const a = loadUnit('hello.service', HELLO);
  const b = loadUnit('hello.service', a.text);
  t.equal(b.text, a.text);
  t.equal(b.hash, a.hash);
  t.same(b.file, a.file);
});

t.test('loadUnit accepts bytes', async (t) => {
  t.equal(loadUnit('hello.service', Buffer.from(HELLO)).hash, loadUnit('hello.service', HELLO).hash);
});

t.test('the unit name feeds specifiers and warnings', async (t) => {
  const u = loadUnit('web@1.service', '[X-Fleet]\nMachineOf=db@%i.service\nX-Conflicts=%p@*.service\n');
  t.same(u.requirements.machineOf, ['db@1.service']);
  t.same(u.requirements.conflicts, ['web@*.service']);
  t.same(u.warnings, ['web@1.service: [X-Fleet] X-Conflicts is deprecated; use Conflicts']);
});

t.test('an invalid name is refused before the file is read', async (t) => {
  t.throws(() => loadUnit('../evil.service', '[Unit'), UnitNameError);
  try {
    loadUnit('hello', '[Unit]\n');
    t.fail('expected a UnitNameError');
  } catch (err) {
    t.equal((err as UnitNameError).rule, 'no-suffix');
  }
});

t.test('parse errors name the unit, or the given source', async (t) => {
  t.throws(() => loadUnit('hello.service', '[Unit]\nbad\n'), { name: 'UnitFileError', message: /^hello\.service:2: / });
  t.throws(() => loadUnit('hello.service', '[Unit]\nbad\n', 'units/hello.service'), UnitFileError);
  t.throws(() => loadUnit('hello.service', '[Unit]\nbad\n', 'units/hello.service'), { message: /^units\/hello\.service:2: / });
});

t.test('contradictory requirements are refused', async (t) => {
  t.throws(() => loadUnit('hello.service', '[X-Fleet]\nGlobal=true\nMachineOf=a.service\n'), RequirementsError);
});

t.test('loadUnitFile works on options that are already parsed', async (t) => {
  const file = { options: [{ section: 'Unit', name: 'Description', value: 'x' }, { section: 'X-Fleet', name: 'Global', value: 'true' }] };
  const u = loadUnitFile('g.service', file);
  t.equal(u.text, '[Unit]\nDescription=x\n\n[X-Fleet]\nGlobal=true\n');
  t.equal(u.requirements.global, true);
  t.throws(() => loadUnitFile('g', file), UnitNameError);
  t.throws(() => loadUnitFile('g.service', { options: [{ section: 'Unit', name: 'A', value: 'a\nb' }] }), UnitFileError);
});

t.test('describeUnit: the first [Unit] Description', async (t) => {
  t.equal(describeUnit(parseUnitFile(HELLO)), 'Hello');
  t.equal(describeUnit(parseUnitFile('[Unit]\nDescription=first\nDescription=second\n')), 'first');
  t.equal(describeUnit(parseUnitFile('[Service]\nDescription=not here\n')), undefined);
  t.equal(describeUnit(parseUnitFile('[Unit]\nAfter=x\n')), undefined);
  t.equal(describeUnit(parseUnitFile('[Unit]\nDescription=\n')), undefined, 'empty');
  t.equal(describeUnit({ options: [] }), undefined);
});

t.test('optionValues and hasSection', async (t) => {
  const f = parseUnitFile('[Service]\nExecStartPre=/a\nExecStart=/x\nExecStartPre=\nExecStartPre=/b\n[Install]\nWantedBy=multi-user.target\n');
  t.same(optionValues(f, 'Service', 'ExecStartPre'), ['/a', '', '/b']);
  t.same(optionValues(f, 'Service', 'Nope'), []);
  t.ok(hasSection(f, 'Install'));
  t.notOk(hasSection(f, 'Unit'));
  t.notOk(hasSection(parseUnitFile('[Install]\n'), 'Install'), 'a section without options does not exist');
});
