/**
 * fleetctl refuses units fleet must never manage (lib/unit/names.ts), through both drivers, before anything is
 * written: submit, load and start of such a name or of a unit whose [Install] Alias=/Also= names one; start of such
 * a unit already in the registry (written before the policy existed) does not change its desired state. fleetctl
 * runs inside the test process (test/fleetctl/helpers.ts) but for the first case of each driver, which runs the
 * real binary.
 */
import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startEtcd } from '../harness/etcd.js';
import { HELLO, startApi, submitUnit } from '../api/fixture.js';
import { fleetctl } from '../fleetctl/helpers.js';
import { dumpEtcd, hasStackTrace, lines } from '../corpus/helpers.js';

const etcd = await startEtcd(t);
const f = await startApi(t, { etcd, prefix: `/names-fleetctl-${process.pid}/` });
// as if written before the policy existed
await submitUnit(f.registry, 'fleet.service', HELLO);
const client = etcd.newClient();

const tmp = mkdtempSync(path.join(os.tmpdir(), 'names-fleetctl-'));
t.teardown(() => rmSync(tmp, { recursive: true, force: true }));
const file = (name: string, extra = ''): string => {
  const p = path.join(tmp, name);
  writeFileSync(p, `[Service]\nExecStart=/bin/sleep 1000\n${extra}`);
  return p;
};

const cases: Array<[string[], RegExp]> = [
  [[file('fleet.service')], /unit name "fleet\.service" is reserved: it is fleet's own unit/],
  [[file('dbus.service')], /unit name "dbus\.service" is reserved: .*D-Bus/],
  [[file('systemd-journald.service')], /unit name "systemd-journald\.service" is reserved/],
  [[file('-.mount')], /unit name "-\.mount" is reserved/],
  // fleetctl appends .service to types it does not know (init.scope means init.scope.service): device is known
  [[file('dev-sda.device')], /unit name "dev-sda\.device" is reserved: fleet does not manage \.device units/],
  [[file('tmp.mount')], /unit name "tmp\.mount" is reserved: it mounts a system directory/],
  [[file('innocent.service', '[Install]\nAlias=dbus.service\n')], /unit "innocent\.service": \[Install\] Alias=dbus\.service names a unit fleet must not manage/],
  [[file('helper.service', '[Install]\nAlso=fleet.socket\n')], /\[Install\] Also=fleet\.socket names a unit fleet must not manage/],
  // a good unit first: nothing at all is written
  [[file('good.service'), file('dbus.socket')], /unit name "dbus\.socket" is reserved/],
  // already in the registry: no state change
  [['fleet.service'], /unit name "fleet\.service" is reserved/],
];

const drivers: Record<string, Record<string, string>> = {
  api: { FLEETCTL_ENDPOINT: `unix://${f.socket}` },
  etcd: { FLEETCTL_DRIVER: 'etcd', FLEETCTL_ENDPOINT: etcd.endpoint, FLEETCTL_ETCD_KEY_PREFIX: f.registry.prefix },
};

for (const [driver, env] of Object.entries(drivers)) {
  t.test(`reserved units are refused before anything is written, ${driver} driver`, async (t) => {
    let first = true;
    for (const cmd of ['submit', 'load', 'start']) {
      for (const [args, expect] of cmd === 'submit' ? cases : cases.slice(-3)) {
        const what = `${cmd} ${args.map((a) => path.basename(a)).join(' ')}`;
        const before = await dumpEtcd(client, '');
        const r = await fleetctl(cmd === 'submit' ? [cmd, ...args] : [cmd, '--no-block', ...args], { env, timeoutMs: 30_000, child: first });
        first = false;
        t.equal(r.code, 1, `${what}: exit 1`);
        t.equal(lines(r.stderr).length, 1, `${what}: one line on stderr: ${r.stderr}`);
        t.match(r.stderr, /^Error creating units: /, `${what}: fleetctl's prefix`);
        t.match(r.stderr, expect, `${what}: names the unit and the reason`);
        t.notOk(hasStackTrace(r.stderr), `${what}: no stack trace`);
        t.same(await dumpEtcd(client, ''), before, `${what}: etcd unchanged`);
      }
    }
  });
}

t.test('destroy of a reserved unit still works (cleaning up)', async (t) => {
  const r = await fleetctl(['destroy', 'fleet.service'], { env: drivers.api!, timeoutMs: 30_000 });
  t.equal(r.code, 0, r.stderr);
  t.equal(await f.registry.getUnit('fleet.service'), undefined);
});
