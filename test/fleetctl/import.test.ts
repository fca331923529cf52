/**
 * Issue 14, migration: `fleetctl import --from ENDPOINT` copies the units of another cluster, read through its
 * fleet v1 API, into this one with their contents and desired states: templates, instances, Global units,
 * MachineOf/Conflicts options, each desired state. A unit already here with the same contents is left alone; one
 * with other contents, or one this cluster refuses, is skipped and reported (exit 1); --dry-run writes nothing.
 * The source here is this project's fleetd API (its wire format is fleet v1's, checked byte for byte by
 * test/api/real-fleetctl.test.ts); both drivers write the target.
 */
import t from 'tap';
import { startEtcd } from '../harness/etcd.js';
import { M1, request, startApi, unitOptions, type Fixture } from '../api/fixture.js';
import { driverEnv, fleetctl } from './helpers.js';

const etcd = await startEtcd(t);

/** Creates a unit as fleet's clients do: PUT /fleet/v1/units/NAME with its options and desired state. */
async function put(f: Fixture, name: string, text: string, desiredState: string): Promise<void> {
  const r = await request(f, 'PUT', `/fleet/v1/units/${encodeURIComponent(name)}`, { body: { desiredState, options: unitOptions(text) } });
  if (r.status !== 201 && r.status !== 204) throw new Error(`PUT ${name}: ${r.status} ${r.text}`);
}

const UNITS: Record<string, { text: string; desired: 'inactive' | 'loaded' | 'launched' }> = {
  'web@.service': { text: '[Unit]\nDescription=web %i\n\n[Service]\nExecStart=/bin/sleep 1000\n', desired: 'inactive' },
  'web@1.service': { text: '[Unit]\nDescription=web %i\n\n[Service]\nExecStart=/bin/sleep 1000\n', desired: 'launched' },
  'web@2.service': { text: '[Unit]\nDescription=web %i\n\n[Service]\nExecStart=/bin/sleep 1000\n\n[X-Fleet]\nConflicts=web@*.service\n', desired: 'loaded' },
  'logger.service': { text: '[Service]\nExecStart=/bin/sleep 1000\n\n[X-Fleet]\nGlobal=true\n', desired: 'launched' },
  'sidekick.service': { text: '[Service]\nExecStart=/bin/sleep 1000\n\n[X-Fleet]\nMachineOf=web@1.service\n', desired: 'launched' },
  'same.service': { text: '[Service]\nExecStart=/bin/true\n', desired: 'loaded' },
  'clash.service': { text: '[Service]\nExecStart=/bin/true\n', desired: 'launched' },
};

for (const driver of ['API', 'etcd'] as const) {
  t.test(`driver ${driver}`, async (t) => {
    const source = await startApi(t, { etcd, machineId: M1 });
    const target = await startApi(t, { etcd, machineId: M1 });
    for (const [name, u] of Object.entries(UNITS)) {
      await put(source, name, u.text, u.desired);
    }
    await put(target, 'same.service', UNITS['same.service']!.text, 'loaded');
    await put(target, 'clash.service', '[Service]\nExecStart=/bin/false\n', 'inactive');
    const env = driverEnv(driver, { socket: target.socket, etcdEndpoint: etcd.endpoint, prefix: target.registry.prefix });
    const from = `unix://${source.socket}`;

    const dry = await fleetctl(['import', '--from', from, '--dry-run'], { env });
    t.equal(dry.code, 1, 'a skipped unit makes the exit status 1');
    t.match(dry.stdout, /^Would import web@1\.service \(launched\)$/m);
    t.equal((await target.registry.listUnits()).length, 2, '--dry-run created nothing');

    const r = await fleetctl(['import', '--from', from], { env });
    t.equal(r.code, 1);
    t.equal(
      r.stdout,
      [
        'Imported logger.service (launched)',
        'Unchanged same.service: already here with the same contents (loaded)',
        'Imported sidekick.service (launched)',
        'Imported web@.service (inactive)',
        'Imported web@1.service (launched)',
        'Imported web@2.service (loaded)',
        `5 imported, 1 unchanged, 1 skipped, from ${from}`,
        '',
      ].join('\n'),
    );
    t.equal(r.stderr, 'Skipped clash.service: a unit of this name with other contents exists here; destroy it first to import this one\n');

    const imported = new Map((await target.registry.listUnits()).map((u) => [u.name, u]));
    const originals = new Map((await source.registry.listUnits()).map((u) => [u.name, u]));
    for (const name of ['web@.service', 'web@1.service', 'web@2.service', 'logger.service', 'sidekick.service']) {
      t.equal(imported.get(name)?.hash, originals.get(name)?.hash, `${name}: same contents (hash)`);
      t.equal(imported.get(name)?.desiredState, UNITS[name]!.desired, `${name}: same desired state`);
    }
    t.equal(imported.get('clash.service')?.desiredState, 'inactive', 'the unit here with other contents was not touched');

    const again = await fleetctl(['import', '--from', from], { env });
    t.match(again.stdout, /^0 imported, 6 unchanged, 1 skipped/m, 'a second import changes nothing');
  });
}

t.test('bad use: no --from, arguments, an unreachable source', async (t) => {
  const target = await startApi(t, { etcd, machineId: M1 });
  const env = driverEnv('API', { socket: target.socket, etcdEndpoint: etcd.endpoint, prefix: target.registry.prefix });
  const none = await fleetctl(['import'], { env });
  t.equal(none.code, 1);
  t.match(none.stderr, /import needs --from ENDPOINT/);
  const args = await fleetctl(['import', '--from', 'unix:///nonexistent.sock', 'x.service'], { env });
  t.match(args.stderr, /import takes no arguments/);
  const gone = await fleetctl(['import', '--from', 'unix:///nonexistent/fleet.sock'], { env });
  t.equal(gone.code, 1);
  t.match(gone.stderr, /cannot reach the fleet API at unix:\/\/\/nonexistent\/fleet\.sock/);
  t.notMatch(gone.stderr, /\n\s+at /, 'no stack trace');
});
