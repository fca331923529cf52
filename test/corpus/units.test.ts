/**
 * Bad unit files and unit names: the hand-written corpus in test/corpus/data/units, generated giants, and a
 * seeded fuzzer mutating valid units. Every input either loads or throws a typed FleetError whose message names
 * the source and, when a line applies, the line; nothing else may escape, and nothing may take long.
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { FleetError, errorMessage } from '../../lib/errors.js';
import {
  MAX_UNIT_FILE_BYTES,
  MAX_X_FLEET_VALUES,
  RequirementsError,
  UnitFileError,
  UnitNameError,
  loadUnit,
  loadUnitFile,
  parseUnitFile,
  serializeUnitFile,
  validateUnitName,
  type LoadedUnit,
} from '../../lib/unit/index.js';
import { dataPath, prng, readJson } from './helpers.js';

interface FileCase {
  ok?: boolean;
  warning?: string;
  error?: 'UnitFileError' | 'RequirementsError';
  line?: number;
  match?: string;
  rule?: string;
}

interface Manifest {
  files: Record<string, FileCase>;
  names: { name: string; rule: string }[];
}

const manifest = readJson<Manifest>('units', 'manifest.json');
const ERROR_CLASSES = { UnitFileError, RequirementsError } as const;

type Outcome = { unit: LoadedUnit } | { err: unknown };

function attempt(fn: () => LoadedUnit): Outcome {
  try {
    return { unit: fn() };
  } catch (err) {
    return { err };
  }
}

function physicalLines(bytes: Uint8Array): number {
  return Buffer.from(bytes).toString('latin1').split(/\r\n|\r|\n/).length;
}

/**
 * The contract every input must meet: loads, or throws one of the unit model's FleetErrors; a UnitFileError
 * starts with `source:` or `source:line:` (line within the input), a RequirementsError with the unit name.
 * Returns a problem description, or undefined.
 */
function contractProblem(name: string, source: string, input: Uint8Array, outcome: Outcome): string | undefined {
  if ('unit' in outcome) {
    const again = parseUnitFile(outcome.unit.text, 'canonical');
    if (serializeUnitFile(again) !== outcome.unit.text) return 'canonical text does not serialize back to itself';
    if (loadUnitFile(name, again).hash !== outcome.unit.hash) return 'canonical text hashes differently';
    return undefined;
  }
  const err = outcome.err;
  if (!(err instanceof FleetError)) return `not a FleetError: ${String(err)}`;
  if (err instanceof UnitFileError) {
    if (err.source !== source) return `UnitFileError names ${err.source}, not ${source}`;
    const prefix = err.line === undefined ? `${source}: ` : `${source}:${err.line}: `;
    if (!err.message.startsWith(prefix)) return `message ${JSON.stringify(err.message)} does not start with ${prefix}`;
    if (err.line !== undefined && (err.line < 1 || err.line > physicalLines(input))) return `line ${err.line} is outside the input`;
    if (err.reason.trim() === '') return 'empty reason';
    return undefined;
  }
  if (err instanceof RequirementsError) {
    return err.message.startsWith(`${name}: [X-Fleet] `) ? undefined : `message ${JSON.stringify(err.message)} does not start with the unit name`;
  }
  if (err instanceof UnitNameError) {
    return err.message.startsWith(`invalid unit name ${JSON.stringify(name)}: `) ? undefined : `message ${JSON.stringify(err.message)} does not name the unit`;
  }
  return `unexpected FleetError ${err.name}`;
}

t.test('hand-written unit files', async (t) => {
  const names = Object.keys(manifest.files);
  t.ok(names.length >= 40, `${names.length} unit files in the corpus`);
  for (const file of names) {
    const c = manifest.files[file]!;
    const bytes = readFileSync(dataPath('units', file));
    const source = `corpus/${file}`;
    const outcome = attempt(() => loadUnit(file, bytes, source));
    t.equal(contractProblem(file, source, bytes, outcome), undefined, `${file}: contract`);
    if (c.ok) {
      t.ok('unit' in outcome, `${file}: loads`);
      if ('unit' in outcome && c.warning) t.match(outcome.unit.warnings.join('\n'), new RegExp(c.warning), `${file}: warns`);
      continue;
    }
    if (!('err' in outcome)) {
      t.fail(`${file}: expected ${c.error}, but it loaded`);
      continue;
    }
    const err = outcome.err as Error;
    t.type(err, ERROR_CLASSES[c.error!], `${file}: ${c.error}`);
    if (err instanceof UnitFileError) t.equal(err.line, c.line, `${file}: line ${c.line}`);
    if (err instanceof RequirementsError) t.equal(err.rule, c.rule, `${file}: rule ${c.rule}`);
    if (c.match) t.match(err.message, new RegExp(c.match), `${file}: message`);

    // The same text handed over as a string (as the API and a JS caller do) fails the same way.
    const text = new TextDecoder('utf-8', { fatal: false }).decode(bytes);
    if (Buffer.from(text, 'utf8').equals(bytes)) {
      const asString = attempt(() => loadUnit(file, text, source));
      t.equal('err' in asString && errorMessage(asString.err), err.message, `${file}: same error from a string`);
    }
  }
});

t.test('bad unit names', async (t) => {
  t.ok(manifest.names.length >= 15);
  for (const { name, rule } of manifest.names) {
    const what = JSON.stringify(name);
    const outcome = attempt(() => loadUnit(name, '[Service]\nExecStart=/bin/true\n'));
    t.ok('err' in outcome, `${what} refused`);
    if (!('err' in outcome)) continue;
    t.type(outcome.err, UnitNameError, `${what}: UnitNameError`);
    t.equal((outcome.err as UnitNameError).rule, rule, `${what}: ${rule}`);
    t.match(errorMessage(outcome.err), /^invalid unit name ".*": \S/, `${what}: message says what is wrong`);
    t.ok(errorMessage(outcome.err).length < 1000, `${what}: message stays readable`);
  }
});

t.test('giants: size limit, long lines, long continuations, repeated keys', async (t) => {
  const giant = (what: string, input: string | Uint8Array, expect: RegExp | 'ok', maxMs = 5000): void => {
    const t0 = Date.now();
    const outcome = attempt(() => loadUnit('giant.service', input, `corpus/${what}`));
    const ms = Date.now() - t0;
    const bytes = typeof input === 'string' ? Buffer.from(input, 'utf8') : input;
    t.equal(contractProblem('giant.service', `corpus/${what}`, bytes, outcome), undefined, `${what}: contract`);
    if (expect === 'ok') t.ok('unit' in outcome, `${what}: loads`);
    else t.match('err' in outcome ? errorMessage(outcome.err) : 'loaded', expect, `${what}: refused`);
    t.ok(ms < maxMs, `${what}: ${ms} ms`);
  };
  const two = 2 * 1024 * 1024;
  giant('2mib.service', `[Unit]\nDescription=${'x'.repeat(two)}\n`, /^corpus\/2mib\.service: unit file is \d+ bytes, more than the limit of 1048576 bytes/);
  giant('2mib-bytes.service', Buffer.alloc(two, 0x41), /more than the limit/);
  giant('limit-plus-one.service', `[Unit]\nA=${'y'.repeat(MAX_UNIT_FILE_BYTES - 9)}\n`, /is 1048577 bytes/);
  giant('at-limit.service', `[Unit]\nA=${'y'.repeat(MAX_UNIT_FILE_BYTES - 10)}\n`, 'ok');
  giant('900k-line.service', `[Service]\nExecStart=/bin/echo ${'z'.repeat(900_000)}\n`, 'ok');
  giant('900k-bad-line.service', `[Service]\n${'z'.repeat(900_000)}\n`, /^corpus\/900k-bad-line\.service:2: expected "Key=Value".*\.\.\."$/);
  giant('300k-continuations.service', `[Unit]\nDescription=a\\\n${'b\\\n'.repeat(300_000)}c\n`, 'ok');
  giant('300k-continuations-then-bad.service', `[Unit]\n${'b\\\n'.repeat(300_000)}c\n`, /:2: expected "Key=Value"/);
  giant('60k-repeated-keys.service', `[Service]\n${'Environment=A=1\n'.repeat(60_000)}`, 'ok');
  giant('60k-sections.service', Array.from({ length: 60_000 }, (_, i) => `[S${i}]\nK=v`).join('\n'), 'ok');
  giant('error-on-last-of-100k-lines.service', `[Unit]\n${'A=b\n'.repeat(100_000)}oops\n`, /:100002: expected "Key=Value", .*"oops"/);
  giant('nul-on-line-50k.service', `[Unit]\n${'A=b\n'.repeat(50_000)}\0\n`, /:50002: NUL byte/);
  giant('1m-cr.service', '\r'.repeat(1_000_000), 'ok');
  giant('1m-backslashes.service', '\\'.repeat(1_000_000), /:1: expected "Key=Value"/);
  giant('1m-minus-1-backslashes.service', '\\'.repeat(999_999), /:1: expected "Key=Value"/);
  giant('1m-brackets.service', '['.repeat(1_000_000), /:1: unterminated section header "\[{77}\.\.\."/);
});

t.test('[X-Fleet] value counts are bounded, so validation stays fast', async (t) => {
  const peers = Array.from({ length: 20_000 }, (_, i) => `MachineOf=m${i}.service`).join('\n');
  const globs = Array.from({ length: 20_000 }, (_, i) => `Conflicts=c${i}*`).join('\n');
  let t0 = Date.now();
  t.throws(() => loadUnit('many.service', `[X-Fleet]\n${peers}\n${globs}\n`), {
    name: 'RequirementsError',
    rule: 'too-many-values',
    message: `many.service: [X-Fleet] MachineOf has 20000 distinct values; at most ${MAX_X_FLEET_VALUES} are allowed`,
  });
  t.ok(Date.now() - t0 < 5000, `20000 peers x 20000 globs refused in ${Date.now() - t0} ms`);

  t0 = Date.now();
  const oneLine = `Conflicts=${Array.from({ length: 100_000 }, (_, i) => `c${i}`).join(' ')}`;
  t.throws(() => loadUnit('wide.service', `[X-Fleet]\n${oneLine}\nMachineOf=a.service\n`), { rule: 'too-many-values', message: /Conflicts has 100000 distinct values/ });
  t.ok(Date.now() - t0 < 5000, `100000 globs on one line refused in ${Date.now() - t0} ms`);

  // At the limit, every peer against every wildcard glob that cannot be pre-filtered.
  const n = MAX_X_FLEET_VALUES;
  const atLimit = [
    '[X-Fleet]',
    ...Array.from({ length: n }, (_, i) => `MachineOf=peer${i}.service`),
    ...Array.from({ length: n }, (_, i) => `Conflicts=*q${i}*`),
  ].join('\n');
  t0 = Date.now();
  const u = loadUnit('wide.service', atLimit);
  t.equal(u.requirements.machineOf.length, n);
  t.ok(Date.now() - t0 < 30_000, `${n} peers x ${n} wildcard globs checked in ${Date.now() - t0} ms`);
});

t.test('too many, too long and pathological globs (the dry-run stall of issue 10) are refused or cheap', async (t) => {
  // The reported attack: 450 Conflicts globs of about 940 characters.
  const long = Array.from({ length: 450 }, (_, i) => `Conflicts=*${'l*'.repeat(465)}x-${i}`).join('\n');
  let t0 = Date.now();
  t.throws(() => loadUnit('attack.service', `[X-Fleet]\n${long}\n`), { rule: 'value-too-long', message: /^attack\.service: \[X-Fleet\] Conflicts value ".*" is 934 characters long; at most 320 are allowed$/ });
  t.ok(Date.now() - t0 < 5000, `refused in ${Date.now() - t0} ms`);
  const many = Array.from({ length: 450 }, (_, i) => `Conflicts=*l*l*l*x-${i}`).join('\n');
  t.throws(() => loadUnit('attack.service', `[X-Fleet]\n${many}\n`), { rule: 'too-many-values', message: /Conflicts has 450 distinct values; at most 32 are allowed/ });
  // Legacy keys count with their modern ones, and a line of blank-separated globs counts each glob.
  const mixed = `[X-Fleet]\nX-Conflicts=${Array.from({ length: 20 }, (_, i) => `a${i}*`).join(' ')}\nConflicts=${Array.from({ length: 15 }, (_, i) => `b${i}*`).join(' ')}\n`;
  t.throws(() => loadUnit('mixed.service', mixed), { rule: 'too-many-values', message: /Conflicts has 35 distinct values/ });
  // Specifiers are expanded before the length is checked.
  const name = `${'n'.repeat(240)}.service`;
  t.throws(() => loadUnit(name, '[X-Fleet]\nConflicts=%n-%n\n'), { name: 'RequirementsError', rule: 'value-too-long' });
  t.ok(loadUnit(name, '[X-Fleet]\nConflicts=%n-*\n'), 'a long name with a short addition fits');
});

t.test('API-style options that cannot be written are refused naming the unit', async (t) => {
  const opts = (section: string, name: string, value: string): { options: { section: string; name: string; value: string }[] } => ({
    options: [{ section, name, value }],
  });
  const cases: [string, ReturnType<typeof opts>, RegExp][] = [
    ['lone high surrogate in value', opts('Unit', 'Description', 'a\uD800b'), /unpaired surrogate/],
    ['lone low surrogate in key', opts('Unit', 'K\uDC00', 'v'), /unpaired surrogate/],
    ['lone surrogate in section', opts('S\uDBFF', 'K', 'v'), /unpaired surrogate/],
    ['newline in value', opts('Unit', 'Description', 'a\nb'), /line breaks and NUL/],
    ['NUL in value', opts('Unit', 'Description', 'a\0b'), /line breaks and NUL/],
    ['bracket in section', opts('Un]it', 'K', 'v'), /invalid section name/],
    ['empty key', opts('Unit', '', 'v'), /key is empty/],
    ['equals in key', opts('Unit', 'A=B', 'v'), /contains "="/],
    ['padded value', opts('Unit', 'K', ' v'), /surrounding blanks/],
  ];
  for (const [what, file, message] of cases) {
    t.throws(() => loadUnitFile('api.service', file), UnitFileError, what);
    try {
      loadUnitFile('api.service', file);
    } catch (err) {
      t.match(errorMessage(err), /^api\.service: cannot write option /, `${what}: names the unit`);
      t.match(errorMessage(err), message, what);
    }
  }
});

const SEEDS: readonly string[] = [
  '[Unit]\nDescription=Hello World\nAfter=docker.service\n\n[Service]\nExecStartPre=-/usr/bin/docker rm -f hello\nExecStart=/usr/bin/docker run --name hello busybox /bin/sh -c "while true; do echo hi; sleep 1; done"\nExecStop=/usr/bin/docker stop hello\n\n[X-Fleet]\nConflicts=hello@*.service\n',
  '[Unit]\nDescription=Sidekick\nBindsTo=web@%i.service\n\n[Service]\nExecStart=/bin/sh -c \\\n  "while true; do etcdctl set /web/%i up --ttl 60; sleep 45; done"\n\n[X-Fleet]\nMachineOf=web@%i.service\nMachineMetadata="region=us-west" "disk=ssd"\n',
  '# global\r\n[Service]\r\nExecStart=/usr/bin/true\r\n[X-Fleet]\r\nGlobal=true\r\nMachineMetadata=role=edge\r\n',
  '[Unit]\nDescription=caf\u00e9 \u2603\n[Service]\nEnvironment="A=1" "B=\\\\x"\nExecStart=/bin/echo %n\n[Install]\nWantedBy=multi-user.target\n',
];
const INSERTS = ['[', ']', '\\', '=', '\0', '\n', '\r', '\r\n', '#', ';', '"', ' ', '\t', '\xff', '\xc3', '\ud83d\udca9', '[X-Fleet]\n', 'Global=true\n', 'MachineID=01234567\n'];

/** One mutation of `input`, chosen by `r`. */
function mutate(input: Buffer, r: ReturnType<typeof prng>): Buffer {
  const at = input.length === 0 ? 0 : r.int(input.length);
  switch (r.int(7)) {
    case 0: {
      const b = Buffer.from(input);
      if (b.length > 0) b[at] = (b[at] as number) ^ (1 << r.int(8));
      return b;
    }
    case 1:
      return input.subarray(0, at);
    case 2: {
      const ins = r.pick(INSERTS);
      const bytes = ins === '\xff' || ins === '\xc3' ? Buffer.from([ins.charCodeAt(0)]) : Buffer.from(ins, 'utf8');
      return Buffer.concat([input.subarray(0, at), bytes, input.subarray(at)]);
    }
    case 3:
      return Buffer.concat([input.subarray(0, at), input.subarray(Math.min(input.length, at + 1 + r.int(8)))]);
    case 4: {
      const len = r.int(40);
      return Buffer.concat([input.subarray(0, at), input.subarray(at, at + len), input.subarray(at)]);
    }
    case 5: {
      const ls = input.toString('latin1').split('\n');
      const i = r.int(ls.length);
      const j = r.int(ls.length);
      [ls[i], ls[j]] = [ls[j] as string, ls[i] as string];
      return Buffer.from(ls.join('\n'), 'latin1');
    }
    default:
      return Buffer.concat([input.subarray(0, at), Buffer.from([r.int(256)]), input.subarray(at)]);
  }
}

t.test('fuzzed unit files (seeded): load or a typed error naming source and line', async (t) => {
  const r = prng(0x7f1ee7);
  const CASES = 600;
  let loaded = 0;
  let refused = 0;
  const kinds = new Map<string, number>();
  for (let i = 0; i < CASES; i++) {
    let bytes: Buffer = Buffer.from(r.pick(SEEDS), 'utf8');
    const rounds = 1 + r.int(4);
    for (let k = 0; k < rounds; k++) bytes = mutate(bytes, r);
    const source = `fuzz/${i}.service`;
    const name = r.next() < 0.9 ? 'fuzz@1.service' : mutate(Buffer.from('fuzz@1.service'), r).toString('utf8');
    const outcome = attempt(() => loadUnit(name, bytes, source));
    const problem = contractProblem(name, source, bytes, outcome);
    if (problem !== undefined) t.fail(`case ${i} (${JSON.stringify(bytes.toString('latin1').slice(0, 200))}, name ${JSON.stringify(name)}): ${problem}`);
    if ('unit' in outcome) loaded++;
    else {
      refused++;
      const e = outcome.err as Error;
      kinds.set(e.name, (kinds.get(e.name) ?? 0) + 1);
    }
    // Text given as a string must meet the same contract.
    const text = bytes.toString('utf8');
    const fromString = attempt(() => loadUnit(name, text, source));
    const p2 = contractProblem(name, source, Buffer.from(text, 'utf8'), fromString);
    if (p2 !== undefined) t.fail(`case ${i} as a string: ${p2}`);
  }
  t.equal(loaded + refused, CASES);
  t.ok(loaded > 30 && refused > 30, `a mix: ${loaded} loaded, ${refused} refused (${[...kinds].map(([k, n]) => `${k} ${n}`).join(', ')})`);
});

t.test('fuzzed unit names (seeded): valid or a UnitNameError', async (t) => {
  const r = prng(0x5eed);
  const bases = ['hello.service', 'web@1.service', 'a-b_c:d\\x2d.socket', 'x@.timer', 'data.mount'];
  for (let i = 0; i < 300; i++) {
    let name: Buffer = Buffer.from(r.pick(bases), 'utf8');
    for (let k = 0; k < 1 + r.int(3); k++) name = mutate(name, r);
    const s = name.toString('utf8');
    try {
      validateUnitName(s);
    } catch (err) {
      if (!(err instanceof UnitNameError)) t.fail(`name ${JSON.stringify(s)}: ${String(err)}`);
      else if (!err.message.startsWith(`invalid unit name ${JSON.stringify(s)}: `)) t.fail(`name ${JSON.stringify(s)}: ${err.message}`);
    }
  }
  t.pass('300 names');
});
