import t from 'tap';
import { FleetError } from '../../lib/errors.js';
import {
  MANGLE_UNIT_TYPES, MAX_UNIT_NAME_BYTES, TEMPLATE_UNIT_TYPES, UnitNameError, VALID_UNIT_TYPES, isValidUnitName,
  mangleUnitName, parseUnitName, templateName, validateUnitName, type UnitNameRule,
} from '../../lib/unit/index.js';

function nameError(name: string, fn: (n: string) => unknown = validateUnitName): UnitNameError {
  try {
    fn(name);
  } catch (err) {
    if (err instanceof UnitNameError) return err;
    throw err;
  }
  throw new Error(`expected a UnitNameError for ${JSON.stringify(name)}`);
}

const name255 = `${'a'.repeat(255 - '.service'.length)}.service`;
const name256 = `${'a'.repeat(256 - '.service'.length)}.service`;

t.test('type lists', async (t) => {
  t.same([...VALID_UNIT_TYPES].sort(), [
    'automount', 'busname', 'device', 'mount', 'path', 'scope', 'service', 'slice', 'snapshot', 'socket', 'swap', 'target', 'timer',
  ]);
  t.same([...TEMPLATE_UNIT_TYPES].sort(), ['path', 'service', 'socket', 'target', 'timer']);
  t.same([...MANGLE_UNIT_TYPES].sort(), ['automount', 'device', 'mount', 'path', 'service', 'socket', 'timer']);
  t.equal(MAX_UNIT_NAME_BYTES, 255);
});

t.test('valid names', async (t) => {
  const valid = [
    'hello.service', 'a.service', 'foo@.service', 'foo@bar.service', 'foo@bar@baz.service', 'foo@a.b.c.service',
    'web-1_blue:8080.service', 'dev-disk-by\\x2dlabel-data.device', '-.mount', 'a..service', 'x@.target', 'x@y.timer',
    'x@y.socket', 'x@y.path', 'foo-@.service', name255,
    ...VALID_UNIT_TYPES.map((type) => `unit.${type}`),
  ];
  for (const name of valid) {
    t.doesNotThrow(() => validateUnitName(name), name);
    t.ok(isValidUnitName(name), name);
  }
  t.equal(Buffer.byteLength(name255), 255);
});

t.test('invalid names, each naming the rule it breaks', async (t) => {
  const invalid: Array<[string, UnitNameRule, RegExp]> = [
    ['', 'empty', /cannot be empty/],
    ['a\0.service', 'nul', /NUL/],
    ['\0', 'nul', /NUL/],
    ['../x.service', 'path-separator', /"\/"/],
    ['a/b.service', 'path-separator', /"\/"/],
    ['/etc/passwd.service', 'path-separator', /"\/"/],
    ['foo.service/', 'path-separator', /"\/"/],
    ['.', 'path-element', /directory reference/],
    ['..', 'path-element', /directory reference/],
    [name256, 'too-long', /256 bytes long, the limit is 255/],
    [`${'é'.repeat(125)}.service`, 'too-long', /258 bytes/],
    ['héllo.service', 'invalid-character', /"é" at position 1/],
    ['a b.service', 'invalid-character', /" " at position 1/],
    ['a%i.service', 'invalid-character', /"%"/],
    ['a*.service', 'invalid-character', /"\*"/],
    ['a\n.service', 'invalid-character', /"\\n"/],
    ['a$.service', 'invalid-character', /"\$"/],
    ['🚀.service', 'invalid-character', /position 0/],
    ['@foo.service', 'leading-at', /start with "@"/],
    ['@.service', 'leading-at', /start with "@"/],
    ['.service', 'leading-dot', /start with "\."/],
    ['.hidden.service', 'leading-dot', /start with "\."/],
    ['..service', 'leading-dot', /start with "\."/],
    ['hello', 'no-suffix', /no type suffix/],
    ['foo@bar', 'no-suffix', /no type suffix/],
    ['hello.txt', 'unknown-type', /unknown unit type "txt"/],
    ['hello.', 'unknown-type', /unknown unit type ""/],
    ['hello.Service', 'unknown-type', /"Service"/],
    ['hello.service.bak', 'unknown-type', /"bak"/],
    ['foo@.mount', 'template-type', /only allowed for path service socket target timer units, not mount/],
    ['foo@bar.device', 'template-type', /not device/],
    ['foo@x.slice', 'template-type', /not slice/],
    ['foo@.scope', 'template-type', /not scope/],
  ];
  for (const [name, rule, message] of invalid) {
    const err = nameError(name);
    t.equal(err.rule, rule, JSON.stringify(name));
    t.equal(err.unitName, name);
    t.match(err.message, message, JSON.stringify(name));
    t.ok(err.message.startsWith(`invalid unit name ${JSON.stringify(name)}: `));
    t.ok(err instanceof FleetError);
    t.notOk(isValidUnitName(name));
  }
});

t.test('parseUnitName', async (t) => {
  t.same(parseUnitName('hello.service'), {
    name: 'hello.service', base: 'hello', prefix: 'hello', instance: undefined, type: 'service',
    template: undefined, isTemplate: false, isInstance: false,
  });
  t.same(parseUnitName('foo@.service'), {
    name: 'foo@.service', base: 'foo@', prefix: 'foo', instance: undefined, type: 'service',
    template: 'foo@.service', isTemplate: true, isInstance: false,
  });
  t.same(parseUnitName('foo@bar.socket'), {
    name: 'foo@bar.socket', base: 'foo@bar', prefix: 'foo', instance: 'bar', type: 'socket',
    template: 'foo@.socket', isTemplate: false, isInstance: true,
  });
  const multi = parseUnitName('foo@a.b@c.service');
  t.equal(multi.prefix, 'foo', 'the prefix ends at the first @');
  t.equal(multi.instance, 'a.b@c', 'the instance runs to the last dot');
  t.equal(multi.template, 'foo@.service');
  t.equal(parseUnitName('a.b.c.mount').base, 'a.b.c');
  t.equal(parseUnitName('a.b.c.mount').type, 'mount');
  t.equal(nameError('bad name.service', parseUnitName).rule, 'invalid-character', 'it validates');
});

t.test('templateName', async (t) => {
  t.equal(templateName('foo@bar.service'), 'foo@.service');
  t.equal(templateName('web@8080.socket'), 'web@.socket');
  t.equal(templateName('foo@a@b.service'), 'foo@.service');
  t.equal(templateName('foo@.service'), 'foo@.service', 'a template is its own template');
  const plain = nameError('foo.service', templateName);
  t.equal(plain.rule, 'not-an-instance');
  t.match(plain.message, /neither a template nor an instance/);
  t.equal(nameError('foo@bar.mount', templateName).rule, 'template-type');
});

t.test('mangleUnitName: base name, .service unless a suffix fleetctl recognises', async (t) => {
  const cases: Array<[string, string]> = [
    ['hello', 'hello.service'],
    ['hello.service', 'hello.service'],
    ['dir/foo.service', 'foo.service'],
    ['path/to/x.socket', 'x.socket'],
    ['/abs/path/bar.timer', 'bar.timer'],
    ['./rel.path', 'rel.path'],
    ['a.device', 'a.device'],
    ['a.mount', 'a.mount'],
    ['a.automount', 'a.automount'],
    ['foo.target', 'foo.target.service'],
    ['foo.slice', 'foo.slice.service'],
    ['foo@bar', 'foo@bar.service'],
    ['foo@', 'foo@.service'],
    ['units/foo@.service', 'foo@.service'],
    ['foo.service/', 'foo.service'],
    ['dir//foo', 'foo.service'],
    ['', '..service'],
    ['/', '/.service'],
    ['.service', '.service'],
    ['hello.txt', 'hello.txt.service'],
  ];
  for (const [arg, want] of cases) t.equal(mangleUnitName(arg), want, JSON.stringify(arg));
});

t.test('mangled names of sensible arguments validate; of silly ones they do not', async (t) => {
  t.ok(isValidUnitName(mangleUnitName('some/dir/hello')));
  t.notOk(isValidUnitName(mangleUnitName('')));
  t.notOk(isValidUnitName(mangleUnitName('/')));
  t.notOk(isValidUnitName(mangleUnitName('..')));
});
