import t from 'tap';
import { FleetError } from '../../lib/errors.js';
import {
  NO_REQUIREMENTS, RequirementsError, X_FLEET_KEYS, expandSpecifiers, isTruthy, parseRequirements, parseUnitFile,
  type ParsedRequirements, type RequirementsRule,
} from '../../lib/unit/index.js';

const MID = '0123456789abcdef0123456789abcdef';

const req = (xfleet: string, name = 'hello.service'): ParsedRequirements =>
  parseRequirements(parseUnitFile(`[Unit]\nDescription=x\n\n[X-Fleet]\n${xfleet}\n`), name);

function reqError(xfleet: string, name = 'hello.service'): RequirementsError {
  try {
    req(xfleet, name);
  } catch (err) {
    if (err instanceof RequirementsError) return err;
    throw err;
  }
  throw new Error(`expected a RequirementsError for ${JSON.stringify(xfleet)}`);
}

t.test('no [X-Fleet] section: no requirements, no warnings', async (t) => {
  const r = parseRequirements(parseUnitFile('[Unit]\nDescription=x\n[Service]\nExecStart=/bin/true\n'), 'a.service');
  t.same(r.requirements, NO_REQUIREMENTS);
  t.same(r.warnings, []);
  t.same(parseRequirements({ options: [] }, 'a.service').requirements, NO_REQUIREMENTS);
});

t.test('systemd options of the same name in other sections are not fleet requirements', async (t) => {
  const r = parseRequirements(parseUnitFile('[Unit]\nConflicts=other.service\n[Service]\nGlobal=true\n'), 'a.service');
  t.same(r.requirements, NO_REQUIREMENTS);
  t.same(r.warnings, []);
});

t.test('MachineID', async (t) => {
  t.equal(req(`MachineID=${MID}`).requirements.machineId, MID);
  t.equal(req('MachineID=01234567').requirements.machineId, '01234567', 'the 8-character short ID');
  t.same(req(`MachineID=${MID}`).warnings, []);
  const two = req(`MachineID=${MID}\nMachineID=89abcdef`);
  t.equal(two.requirements.machineId, MID, 'the first value is used');
  t.match(two.warnings, [/several machine IDs given .* only the first, 0123456789abcdef0123456789abcdef, is used/]);
  t.match(req('MachineID=host-1').warnings, [/MachineID=host-1 is neither a 32-character machine ID nor its 8-character prefix/]);
  t.equal(req(`MachineID="${MID}" "89abcdef"`).requirements.machineId, MID, 'multi-value form');
});

t.test('legacy machine ID keys: MachineID wins, then X-ConditionMachineID, then X-ConditionMachineBootID', async (t) => {
  const a = req(`X-ConditionMachineBootID=aaaaaaaa\nX-ConditionMachineID=bbbbbbbb\nMachineID=cccccccc`);
  t.equal(a.requirements.machineId, 'cccccccc');
  t.match(a.warnings, [
    /X-ConditionMachineBootID is deprecated; use MachineID/,
    /X-ConditionMachineID is deprecated; use MachineID/,
  ]);
  t.equal(req('X-ConditionMachineBootID=aaaaaaaa\nX-ConditionMachineID=bbbbbbbb').requirements.machineId, 'bbbbbbbb');
  t.equal(req('X-ConditionMachineBootID=aaaaaaaa').requirements.machineId, 'aaaaaaaa');
});

t.test('MachineOf: lines accumulate, legacy values come first, duplicates collapse', async (t) => {
  const r = req('MachineOf=a.service\nX-ConditionMachineOf=b.service\nMachineOf="c.service" "a.service"');
  t.same(r.requirements.machineOf, ['b.service', 'a.service', 'c.service']);
  t.match(r.warnings, [/X-ConditionMachineOf is deprecated; use MachineOf/]);
  t.equal(r.warnings.length, 1);
});

t.test('MachineOf warnings for peers that can never be found', async (t) => {
  t.match(req('MachineOf=hello.service').warnings, [/MachineOf=hello.service names the unit itself/]);
  t.match(req('MachineOf=a.service b.service').warnings, [/MachineOf=a.service b.service is not a valid unit name/]);
  t.same(req('MachineOf=a.service b.service').requirements.machineOf, ['a.service b.service'], 'not split, as in fleet');
});

t.test('MachineMetadata: OR within a key, AND across keys', async (t) => {
  const r = req('MachineMetadata=region=us-east\nMachineMetadata=region=us-west\nMachineMetadata="disk=ssd" "region=eu"\nX-ConditionMachineMetadata=role=db');
  t.same(r.requirements.metadata, { role: ['db'], region: ['us-east', 'us-west', 'eu'], disk: ['ssd'] });
  t.same(Object.keys(r.requirements.metadata), ['role', 'region', 'disk'], 'legacy values first');
  t.match(r.warnings, [/X-ConditionMachineMetadata is deprecated; use MachineMetadata/]);
  t.same(req('MachineMetadata=a=1\nMachineMetadata=a=1').requirements.metadata, { a: ['1'] }, 'duplicates collapse');
});

t.test('malformed metadata pairs are ignored with a warning', async (t) => {
  for (const pair of ['region', '=us', 'region=', 'a=b=c', '=']) {
    const r = req(`MachineMetadata=${pair}\nMachineMetadata=ok=1`);
    t.same(r.requirements.metadata, { ok: ['1'] }, pair);
    t.match(r.warnings, [new RegExp(`MachineMetadata value ${JSON.stringify(pair)} is ignored: expected key=value`)], pair);
  }
});

t.test('metadata keys that look like Object internals are plain keys', async (t) => {
  const m = req('MachineMetadata=__proto__=x\nMachineMetadata=constructor=y').requirements.metadata;
  t.same(Object.keys(m).sort(), ['__proto__', 'constructor']);
  t.same(m['__proto__'], ['x']);
  t.equal(Object.getPrototypeOf(m), Object.prototype);
});

t.test('Conflicts: several globs a line, lines accumulate, legacy X-Conflicts first', async (t) => {
  const r = req('Conflicts=a*.service  b.service\nConflicts=\tc?.service\t\nX-Conflicts=old.service\nConflicts="d.service e.service" "f.service"');
  t.same(r.requirements.conflicts, ['old.service', 'a*.service', 'b.service', 'c?.service', 'd.service', 'e.service', 'f.service']);
  t.match(r.warnings, [/X-Conflicts is deprecated; use Conflicts/]);
  t.same(req('Conflicts=a.service a.service').requirements.conflicts, ['a.service']);
});

t.test('Global: truthy forms in any case, the last value wins', async (t) => {
  for (const v of ['true', 'TRUE', 'True', 'yes', 'YES', '1', 'on', 'On', 't', 'T']) {
    t.equal(req(`Global=${v}`).requirements.global, true, v);
    t.same(req(`Global=${v}`).warnings, [], v);
  }
  for (const v of ['false', 'no', '0', 'off', 'f', 'FALSE']) {
    t.equal(req(`Global=${v}`).requirements.global, false, v);
    t.same(req(`Global=${v}`).warnings, [], v);
  }
  t.equal(req('Global=true\nGlobal=false').requirements.global, false);
  t.equal(req('Global=false\nGlobal=yes').requirements.global, true);
  t.equal(req('Global=true\nGlobal=').requirements.global, false, 'an empty value is the last value and is false');
  t.same(req('Global=true\nGlobal=').warnings, []);
  t.equal(req('Global="true" "off"').requirements.global, false, 'multi-value: the last one');
  const odd = req('Global=y');
  t.equal(odd.requirements.global, false);
  t.match(odd.warnings, [/Global=y is not a recognised boolean and counts as false/]);
  t.ok(isTruthy('ON'));
  t.notOk(isTruthy('enabled'));
});

t.test('Replaces: lines accumulate; a value is one glob', async (t) => {
  const r = req('Replaces=old-*.service\nReplaces="a.service" "b.service"');
  t.same(r.requirements.replaces, ['old-*.service', 'a.service', 'b.service']);
  t.same(r.warnings, []);
  const spaced = req('Replaces=a.service b.service');
  t.same(spaced.requirements.replaces, ['a.service b.service']);
  t.match(spaced.warnings, [/Replaces=a.service b.service is one glob containing blanks and can match no unit/]);
});

t.test('malformed globs are kept but warned about', async (t) => {
  const r = req('Conflicts=[abc');
  t.same(r.requirements.conflicts, ['[abc']);
  t.match(r.warnings, [/Conflicts=\[abc is not a valid glob and matches nothing/]);
  t.match(req('Replaces=a[').warnings, [/Replaces=a\[ is not a valid glob/]);
});

t.test('empty values are ignored with a warning', async (t) => {
  const r = req('MachineOf=\nConflicts=\nReplaces=\nMachineID=\nMachineMetadata=');
  t.same(r.requirements, NO_REQUIREMENTS);
  for (const k of ['MachineOf', 'Conflicts', 'Replaces', 'MachineID', 'MachineMetadata']) {
    t.match(r.warnings.join('\n'), new RegExp(`empty ${k}= is ignored`), k);
  }
});

t.test('specifiers %n %N %p %i', async (t) => {
  t.equal(expandSpecifiers('%n|%N|%p|%i', 'foo@bar.service'), 'foo@bar.service|foo@bar|foo|bar');
  t.equal(expandSpecifiers('%n|%N|%p|%i', 'foo@.service'), 'foo@.service|foo@|foo|');
  t.equal(expandSpecifiers('%n|%N|%p|%i', 'plain.service'), 'plain.service|plain|plain|');
  t.equal(expandSpecifiers('%n|%N|%p|%i', 'a.b@c.d.socket'), 'a.b@c.d.socket|a.b@c.d|a.b|c.d');
  t.equal(expandSpecifiers('%m %H %% %', 'x@y.service'), '%m %H %% %', 'others are left alone');
  t.equal(expandSpecifiers('%%i', 'x@y.service'), '%y', 'no %% escape, as in fleet');
  t.equal(expandSpecifiers('%i%i', 'x@y.service'), 'yy');
});

t.test('specifiers are expanded in every X-Fleet option', async (t) => {
  const name = 'web@8080.service';
  const r = req([
    'MachineOf=%p-data@%i.service',
    'MachineMetadata=port=%i',
    'Conflicts=%p@*.service',
    'Global=false',
  ].join('\n'), name);
  t.same(r.requirements.machineOf, ['web-data@8080.service']);
  t.same(r.requirements.metadata, { port: ['8080'] });
  t.same(r.requirements.conflicts, ['web@*.service']);
  t.equal(req('MachineID=%i', 'db@0123abcd.service').requirements.machineId, '0123abcd');
  t.same(req('Replaces=%N-old.service', name).requirements.replaces, ['web@8080-old.service']);
  t.same(req('X-Conflicts=%n.bak', name).requirements.conflicts, ['web@8080.service.bak']);
  t.same(req('MachineOf="%p-a@%i.service" "%p-b@%i.service"', name).requirements.machineOf,
    ['web-a@8080.service', 'web-b@8080.service'], 'in multi-value form');
});

t.test('unexpanded specifiers are warned about', async (t) => {
  const r = req('MachineMetadata=host=%H');
  t.same(r.requirements.metadata, { host: ['%H'] });
  t.match(r.warnings, [/specifier %H is not expanded \(fleet expands only %n %N %p %i\)/]);
});

t.test('unknown keys warn (with a hint for a wrong case) and are ignored', async (t) => {
  const r = req('Frobnicate=1\nmachineid=0123abcd\nGlobal=true');
  t.equal(r.requirements.global, true);
  t.equal(r.requirements.machineId, undefined);
  t.match(r.warnings, [
    /\[X-Fleet\] unknown option "Frobnicate" is ignored$/,
    /unknown option "machineid" is ignored; did you mean MachineID\? \(keys are case-sensitive\)/,
  ]);
  // fleetctl words these as fleet did, by key: they come with their keys, once per key, as the same strings
  const again = req('Frobnicate=1\nmachineid=0123abcd\nFrobnicate=2');
  t.same(again.unknownOptions.map((u) => u.key), ['Frobnicate', 'machineid']);
  t.ok(again.unknownOptions.every((u) => again.warnings.includes(u.warning)), 'each is one of the warnings');
});

t.test('a wrongly cased [X-Fleet] section is ignored with a warning', async (t) => {
  const r = parseRequirements(parseUnitFile('[x-fleet]\nGlobal=true\nMachineOf=a.service\n'), 'a2.service');
  t.same(r.requirements, NO_REQUIREMENTS);
  t.same(r.warnings, ['a2.service: section [x-fleet] is ignored; fleet reads only [X-Fleet] (the name is case-sensitive)']);
});

t.test('warnings name the unit and the section, each only once', async (t) => {
  const r = req('X-Conflicts=a.service\nX-Conflicts=b.service', 'u.service');
  t.same(r.warnings, ['u.service: [X-Fleet] X-Conflicts is deprecated; use Conflicts']);
});

t.test('every known key is accepted without an unknown-key warning', async (t) => {
  for (const key of X_FLEET_KEYS) {
    const value = key.includes('Metadata') ? 'a=b' : key.includes('MachineID') || key.includes('BootID') ? '0123abcd' : key === 'Global' ? 'false' : key === 'Reschedule' ? 'no' : key.startsWith('Reschedule') ? '2' : 'x.service';
    const r = req(`${key}=${value}`);
    t.notMatch(r.warnings.join('\n'), /unknown option/, key);
  }
});

t.test('invalid combinations are refused with fleet\'s meaning', async (t) => {
  const cases: Array<[string, RequirementsRule, RegExp]> = [
    [`MachineID=${MID}\nMachineOf=a.service`, 'MachineID+MachineOf', /MachineID cannot be used with MachineOf/],
    [`MachineID=${MID}\nConflicts=a*.service`, 'MachineID+Conflicts', /MachineID cannot be used with Conflicts/],
    [`MachineID=${MID}\nGlobal=true`, 'MachineID+Global', /MachineID cannot be used with Global/],
    [`MachineID=${MID}\nReplaces=a.service`, 'MachineID+Replaces', /MachineID cannot be used with Replaces/],
    ['Global=true\nMachineOf=a.service', 'Global+MachineOf', /Global cannot be used with MachineOf/],
    ['Global=yes\nReplaces=a.service', 'Global+Replaces', /Global cannot be used with Replaces/],
    ['Conflicts=a.service\nReplaces=b.service', 'Conflicts+Replaces', /Conflicts cannot be used with Replaces/],
    ['MachineOf=db.service\nConflicts=d*.service', 'MachineOf-matches-Conflicts',
      /unresolvable requirements: MachineOf peer "db.service" matches Conflicts glob "d\*.service"/],
    ['MachineOf=db.service\nReplaces=db.service', 'MachineOf-matches-Replaces',
      /unresolvable requirements: MachineOf peer "db.service" matches Replaces glob "db.service"/],
    // legacy keys count the same
    ['X-ConditionMachineID=0123abcd\nX-ConditionMachineOf=a.service', 'MachineID+MachineOf', /MachineID cannot be used with MachineOf/],
    ['X-ConditionMachineBootID=0123abcd\nX-Conflicts=a.service', 'MachineID+Conflicts', /MachineID cannot be used with Conflicts/],
    ['X-ConditionMachineOf=db.service\nX-Conflicts=db.*', 'MachineOf-matches-Conflicts', /unresolvable/],
  ];
  for (const [xfleet, rule, message] of cases) {
    const err = reqError(xfleet, 'hello.service');
    t.equal(err.rule, rule, xfleet);
    t.match(err.message, /^hello\.service: \[X-Fleet\] /);
    t.match(err.message, message, xfleet);
    t.equal(err.unitName, 'hello.service');
    t.ok(err instanceof FleetError);
  }
});

t.test('unresolvable peers are found after specifier expansion', async (t) => {
  const err = reqError('MachineOf=%p-db@%i.service\nConflicts=%p-*', 'web@1.service');
  t.equal(err.rule, 'MachineOf-matches-Conflicts');
  t.match(err.message, /peer "web-db@1.service" matches Conflicts glob "web-\*"/);
});

t.test('unresolvable requirements are reported before plain combinations, as fleet does', async (t) => {
  t.equal(reqError(`MachineID=${MID}\nMachineOf=a.service\nConflicts=a.*`).rule, 'MachineOf-matches-Conflicts');
});

t.test('allowed combinations', async (t) => {
  const ok = [
    `MachineID=${MID}\nGlobal=false`,
    `MachineID=${MID}\nMachineMetadata=a=b`,
    'Global=true\nConflicts=x*.service\nMachineMetadata=role=web',
    'MachineOf=db.service\nConflicts=web*.service',
    'MachineOf=db.service\nReplaces=old.service',
    'Global=false\nReplaces=old.service\nMachineOf=db.service',
    'MachineMetadata=a=b\nReplaces=old.service',
    'MachineID=',
  ];
  for (const xfleet of ok) t.doesNotThrow(() => req(xfleet), xfleet);
  const r = req('MachineOf=db.service\nConflicts=web*.service\nMachineMetadata="a=1" "a=2" "b=3"');
  t.same(r.requirements, {
    machineOf: ['db.service'], metadata: { a: ['1', '2'], b: ['3'] }, conflicts: ['web*.service'], replaces: [], global: false,
  });
  t.notOk('machineId' in r.requirements, 'no machineId key when none is required');
});

t.test('StopOnDisconnect: a boolean like Global, absent unless true, ignored with a warning on global units', async (t) => {
  t.equal(req('StopOnDisconnect=true').requirements.stopOnDisconnect, true);
  t.same(req('StopOnDisconnect=yes').warnings, []);
  t.notOk('stopOnDisconnect' in req('StopOnDisconnect=false').requirements, 'false leaves the field out');
  t.notOk('stopOnDisconnect' in req('MachineOf=x.service').requirements, 'absent by default');
  t.equal(req('StopOnDisconnect=true\nStopOnDisconnect=').requirements.stopOnDisconnect, undefined, 'an empty value resets it');
  t.match(req('StopOnDisconnect=maybe').warnings, [/StopOnDisconnect=maybe is not a recognised boolean and counts as false/]);
  const g = req('Global=true\nStopOnDisconnect=true');
  t.equal(g.requirements.stopOnDisconnect, undefined);
  t.match(g.warnings, [/StopOnDisconnect is ignored for a Global unit/]);
  t.match(req('stopondisconnect=true').warnings, [/did you mean StopOnDisconnect\?/]);
});

t.test('Reschedule=on-failure (ours): defaults, bounds, a bad value is an error at submission', async (t) => {
  t.same(req('Reschedule=on-failure').requirements.reschedule, { attempts: 3, delaySec: 10 });
  t.same(req('Reschedule=on-failure').warnings, []);
  t.same(req('Reschedule=On-Failure\nRescheduleAttempts=5\nRescheduleDelaySec=2').requirements.reschedule, { attempts: 5, delaySec: 2 });
  t.notOk('reschedule' in req('Reschedule=no').requirements, 'no leaves the field out');
  t.notOk('reschedule' in req('Reschedule=on-failure\nReschedule=').requirements, 'an empty value resets it');
  t.same(req('RescheduleAttempts=10\nRescheduleDelaySec=3600\nReschedule=on-failure').requirements.reschedule, { attempts: 10, delaySec: 3600 });
  for (const [bad, why] of [
    ['Reschedule=always', /Reschedule=always is not supported/],
    ['Reschedule=on-failure\nRescheduleAttempts=0', /RescheduleAttempts=0 must be a whole number from 1 to 10/],
    ['Reschedule=on-failure\nRescheduleAttempts=11', /from 1 to 10/],
    ['Reschedule=on-failure\nRescheduleDelaySec=3601', /RescheduleDelaySec=3601 must be a whole number from 1 to 3600/],
    ['Reschedule=on-failure\nRescheduleDelaySec=1.5', /RescheduleDelaySec=1.5/],
    ['RescheduleDelaySec=-1', /RescheduleDelaySec=-1/],
  ] as const) {
    const err = reqError(bad);
    t.equal(err.rule, 'bad-reschedule', bad);
    t.match(err.message, why, bad);
  }
  t.match(req('RescheduleAttempts=2').warnings, [/ignored without Reschedule=on-failure/]);
  const g = req('Global=true\nReschedule=on-failure');
  t.notOk('reschedule' in g.requirements);
  t.match(g.warnings, [/Reschedule is ignored for a Global unit/]);
});
