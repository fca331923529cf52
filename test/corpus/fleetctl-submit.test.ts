/**
 * `fleetctl submit` of bad unit files, through both drivers (etcd, and the API of a real fleetd API server), on a
 * real etcd: one clear line on stderr, exit 1, no stack trace, and not a single write to etcd. The cases run
 * fleetctl inside the test process (test/fleetctl/helpers.ts); the first case of each driver and the last test run
 * the real binary as a child, for what only the process wrapper does.
 */
import t from 'tap';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startEtcd } from '../harness/etcd.js';
import { HELLO, startApi, submitUnit } from '../api/fixture.js';
import { fleetctl } from '../fleetctl/helpers.js';
import { DIST, dataPath, dumpEtcd, hasStackTrace, lines, runNode } from './helpers.js';

const FLEETCTL = path.join(DIST, 'fleetctl/main.cjs');

const etcd = await startEtcd(t);
const f = await startApi(t, { etcd });
await submitUnit(f.registry, 'existing.service', HELLO);
const client = etcd.newClient();

const tmp = mkdtempSync(path.join(os.tmpdir(), 'corpus-fleetctl-'));
t.teardown(() => rmSync(tmp, { recursive: true, force: true }));
const tmpFile = (name: string, content: string | Buffer): string => {
  const p = path.join(tmp, name);
  writeFileSync(p, content);
  return p;
};
mkdirSync(path.join(tmp, 'dir.service'));

const corpus = (name: string): string => dataPath('units', name);
const esc = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** [argument, what stderr must match] */
const cases: [string, RegExp][] = [
  [corpus('unterminated-header.service'), new RegExp(`${esc(corpus('unterminated-header.service'))}:3: unterminated section header`)],
  [corpus('key-outside-section.service'), /key-outside-section\.service:1: assignment outside of any section/],
  [corpus('nul-in-value.service'), /nul-in-value\.service:2: NUL byte in unit file/],
  [corpus('binary-garbage.service'), /binary-garbage\.service:1: /],
  [corpus('invalid-utf8-latin1.service'), /invalid-utf8-latin1\.service:2: invalid UTF-8 at byte offset 22/],
  [corpus('utf16-bom.service'), /utf16-bom\.service:1: invalid UTF-8 at byte offset 0/],
  [corpus('equals-only.service'), /equals-only\.service:2: assignment with an empty key/],
  [corpus('include.service'), /include\.service:2: "\.include" is not supported/],
  [corpus('crlf-cr-mix.service'), /crlf-cr-mix\.service:5: expected "Key=Value"/],
  [corpus('continuation-into-error.service'), /continuation-into-error\.service:4: /],
  // [X-Fleet] combinations fleet refused are refused in fleet's words, which name the options, not the file
  // (docs/fleet-compat.md#fleetctl)
  [corpus('xfleet-machineid-global.service'), /^Error creating units: MachineID cannot be used with Global$/m],
  [corpus('xfleet-conflicts-replaces.service'), /^Error creating units: Conflicts cannot be used with Replaces$/m],
  [corpus('xfleet-sidekick@1.service'), /unresolvable requirements: peer "xfleet-sidekick@1\.service" matches conflict "xfleet-sidekick@\*\.service"/],
  [tmpFile('big.service', `[Unit]\nDescription=${'x'.repeat(2 * 1024 * 1024)}\n`), /big\.service: unit file is \d+ bytes, more than the limit/],
  [tmpFile('peers.service', `[X-Fleet]\n${Array.from({ length: 5000 }, (_, i) => `MachineOf=p${i}.service`).join('\n')}\n`), /MachineOf has 5000 distinct values/],
  [corpus('xfleet-too-many-conflicts.service'), /xfleet-too-many-conflicts\.service: \[X-Fleet\] Conflicts has 33 distinct values; at most 32 are allowed/],
  [tmpFile('globs.service', `[X-Fleet]\n${Array.from({ length: 450 }, (_, i) => `Conflicts=*${'l*'.repeat(465)}x-${i}`).join('\n')}\n`), /globs\.service: \[X-Fleet\] Conflicts value .* is 934 characters long; at most 320 are allowed/],
  [tmpFile('a b.service', '[Service]\nExecStart=/bin/true\n'), /invalid unit name "a b\.service"/],
  [tmpFile('@lead.service', '[Service]\nExecStart=/bin/true\n'), /invalid unit name "@lead\.service": a unit name cannot start with "@"/],
  [tmpFile('semi;colon.service', '[Service]\nExecStart=/bin/true\n'), /semi;colon\.service/],
  [path.join(tmp, 'dir.service'), /dir\.service is a directory, not a unit file/],
  [path.join(tmp, 'missing.service'), /unable to find Unit\(missing\.service\)/],
  [`${'x'.repeat(300)}.service`, /x{300}\.service/],
  [tmpFile('dbus.service', '[Service]\nExecStart=/bin/true\n'), /unit name "dbus\.service" is reserved: /],
  [tmpFile('innocent.service', '[Service]\nExecStart=/bin/true\n[Install]\nAlias=fleet.service\n'), /\[Install\] Alias=fleet\.service names a unit fleet must not manage/],
  ['../x.service', /unable to find Unit\(x\.service\)/],
];

const drivers: Record<string, Record<string, string>> = {
  api: { FLEETCTL_ENDPOINT: `unix://${f.socket}` },
  etcd: { FLEETCTL_DRIVER: 'etcd', FLEETCTL_ENDPOINT: etcd.endpoint, FLEETCTL_ETCD_KEY_PREFIX: f.registry.prefix },
};

for (const [driver, env] of Object.entries(drivers)) {
  t.test(`fleetctl submit of bad units, ${driver} driver`, async (t) => {
    for (const [i, [arg, expect]] of cases.entries()) {
      const what = path.basename(arg).slice(0, 60);
      const before = await dumpEtcd(client, '');
      const r = await fleetctl(['submit', arg], { env, child: i === 0 });
      t.equal(r.code, 1, `${what}: exit 1`);
      t.equal(r.stdout, '', `${what}: nothing on stdout`);
      t.equal(lines(r.stderr).length, 1, `${what}: one line on stderr`);
      t.match(r.stderr, /^Error creating units: /, `${what}: fleetctl's prefix`);
      t.match(r.stderr, expect, `${what}: says what and where`);
      t.notOk(hasStackTrace(r.stderr), `${what}: no stack trace`);
      t.same(await dumpEtcd(client, ''), before, `${what}: etcd unchanged`);
    }

    const before = await dumpEtcd(client, '');
    const r = await fleetctl(['submit', corpus('equals-only.service'), corpus('weird-unicode.service')], { env });
    t.equal(r.code, 1, 'a bad unit before a good one: exit 1');
    t.same(await dumpEtcd(client, ''), before, 'the good unit after the bad one was not submitted');
  });
}

t.test('load, start and plan refuse the same way', async (t) => {
  const prefixes: Record<string, RegExp> = { load: /^Error creating units: /, start: /^Error creating units: /, plan: /^Error planning units: / };
  for (const cmd of ['load', 'start', 'plan']) {
    for (const [file, expect] of [
      ['unterminated-header.service', /unterminated-header\.service:3: unterminated section header/],
      ['xfleet-machineid-global.service', /MachineID cannot be used with Global/],
    ] as const) {
      const before = await dumpEtcd(client, '');
      const r = await fleetctl(cmd === 'plan' ? [cmd, corpus(file)] : [cmd, '--no-block', corpus(file)], { env: drivers.api! });
      t.equal(r.code, 1, `${cmd} ${file}: exit 1`);
      t.equal(lines(r.stderr).length, 1, `${cmd} ${file}: one line`);
      t.match(r.stderr, prefixes[cmd]!, `${cmd} ${file}: prefix`);
      t.match(r.stderr, expect, `${cmd} ${file}: says what and where`);
      t.notOk(hasStackTrace(r.stderr), `${cmd} ${file}: no stack trace`);
      t.same(await dumpEtcd(client, ''), before, `${cmd} ${file}: etcd unchanged`);
    }
  }
});

t.test('the dump sees writes: a good unit goes in', async (t) => {
  const before = await dumpEtcd(client, '');
  const good = tmpFile('good.service', '[Service]\nExecStart=/bin/true\n');
  const r = await runNode(FLEETCTL, ['submit', good], { env: drivers.api! });
  t.equal(r.code, 0, r.stderr);
  t.notSame(await dumpEtcd(client, ''), before);
  t.ok(await f.registry.getUnit('good.service'));
});
