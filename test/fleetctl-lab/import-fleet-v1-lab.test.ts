/**
 * Issue 14's migration proof: a lab running real fleet v1.0.0 holds a template, instances, a Global unit and
 * units in each desired state (put there by fleet's own fleetctl); `fleetctl import --from <its API>` recreates
 * every one of them in a cluster of ours with the same contents (hash) and desired state; a second import changes
 * nothing. Skipped with one line when the fleet v1.0.0 binaries are absent (FLEET_V1_DIR).
 */
import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { defaultProjectDir } from '../../lab/cluster.js';
import { apiUrl } from '../../lab/endpoint.js';
import { fleetV1Dir, fleetV1Missing } from '../../lab/fleet-v1.js';
import { run } from '../../lab/run.js';
import { parseApiEndpoint } from '../../fleetctl/client/endpoint.js';
import { HttpFleetClient } from '../../fleetctl/client/http.js';
import { hashOfOptions } from '../../fleetctl/unitfile.js';
import { startEtcd } from '../harness/etcd.js';
import { startLab } from '../harness/lab.js';
import { waitFor } from '../harness/wait.js';
import { startApi } from '../api/fixture.js';
import { driverEnv, fleetctl as ours } from '../fleetctl/helpers.js';

const missing = fleetV1Missing(defaultProjectDir());

const UNITS: Record<string, string> = {
  'web@.service': '[Unit]\nDescription=web %i\n\n[Service]\nExecStart=/bin/sleep 100000\n',
  'logger.service': '[Unit]\nDescription=everywhere\n\n[Service]\nExecStart=/bin/sleep 100000\n\n[X-Fleet]\nGlobal=true\n',
  'side.service': '[Service]\nExecStart=/bin/sleep 100000\n\n[X-Fleet]\nMachineOf=web@1.service\n',
  'idle.service': '[Service]\nExecStart=/bin/sleep 100000\n',
};

if (missing) {
  t.test('import from a real fleet v1.0.0 cluster', { skip: missing }, async () => undefined);
} else {
  const realFleetctl = path.join(fleetV1Dir(defaultProjectDir()), 'fleetctl');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fleet-v1-import-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir };

  t.test('import from a real fleet v1.0.0 cluster', async (t) => {
    const lab = await startLab(t, { machines: 2, prefix: 'im', flavor: 'fleet-v1', agentTtl: '30s' });
    t.same(lab.warnings, [], 'up without warnings');
    const endpoint = apiUrl((await lab.machines())[0]!.ip);
    const fleet = (args: readonly string[]) => run(realFleetctl, ['--driver=API', `--endpoint=${endpoint}`, ...args], { env, timeoutMs: 120_000 });
    await waitFor('both fleet v1 machines', async () => ((await fleet(['list-machines', '--no-legend'])).stdout.trim().split('\n').length === 2 ? true : undefined), {
      timeoutMs: 60_000,
      intervalMs: 500,
    });
    for (const [name, text] of Object.entries(UNITS)) writeFileSync(path.join(dir, name), text);
    const file = (n: string) => path.join(dir, n);
    // desired states as fleet v1 keeps them: a template submitted (inactive), an instance launched, another loaded,
    // a Global unit launched, a unit that follows an instance, a unit only submitted
    for (const [cmd, files] of [
      ['submit', [file('web@.service'), file('idle.service')]],
      ['start', [file('web@.service').replace('web@.service', 'web@1.service')]],
      ['load', [file('web@.service').replace('web@.service', 'web@2.service')]],
      ['start', [file('logger.service'), file('side.service')]],
    ] as const) {
      const r = await fleet([cmd, ...(cmd === 'submit' ? [] : ['--no-block']), ...files]);
      t.equal(r.code, 0, `fleet's fleetctl ${cmd}: ${r.stderr}`);
    }
    const source = new HttpFleetClient({ endpoint: parseApiEndpoint(endpoint).endpoint, requestTimeoutMs: 10_000 });
    t.teardown(() => source.close());
    const before = new Map((await source.units()).map((u) => [u.name, u]));
    t.same([...before.keys()].sort(), ['idle.service', 'logger.service', 'side.service', 'web@.service', 'web@1.service', 'web@2.service'], 'fleet v1 holds the units');

    const etcd = await startEtcd(t);
    const target = await startApi(t, { etcd });
    const ourEnv = driverEnv('API', { socket: target.socket, etcdEndpoint: etcd.endpoint, prefix: target.registry.prefix });
    const r = await ours(['import', '--from', endpoint], { env: ourEnv, timeoutMs: 120_000 });
    t.equal(r.code, 0, `our fleetctl import: ${r.stderr}`);
    t.match(r.stdout, new RegExp(`^6 imported, 0 unchanged, 0 skipped, from ${endpoint.replace(/[.]/g, '\\.')}`, 'm'));
    const after = new Map((await target.registry.listUnits()).map((u) => [u.name, u]));
    for (const [name, u] of before) {
      t.equal(after.get(name)?.hash, hashOfOptions(u.options), `${name}: the same contents (fleet's hash)`);
      t.equal(after.get(name)?.desiredState, u.desiredState, `${name}: the same desired state (${u.desiredState})`);
      t.equal(after.get(name)?.global, name === 'logger.service', `${name}: global as in fleet`);
    }
    const again = await ours(['import', '--from', endpoint], { env: ourEnv, timeoutMs: 120_000 });
    t.match(again.stdout, /^0 imported, 6 unchanged, 0 skipped/m, 'a second import changes nothing');
    t.equal((await fleet(['list-unit-files', '--no-legend'])).stdout.trim().split('\n').length, 6, 'the fleet v1 cluster still holds all six');
  });
}
