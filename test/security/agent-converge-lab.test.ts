/**
 * An agent always converges, on real lab machines (systemd as PID 1):
 * - a unit whose systemd link vanished behind fleet's back (or whose unload a killed fleetd left half done) is
 *   still unloaded on destroy: file removed, state gone from etcd, no error repeating in the journal;
 * - the longest unit names fleet accepts (255 bytes, a plain unit with [Install] and a template instance) load,
 *   start and unload like any other.
 */
import t, { type Test } from 'tap';
import { MAX_UNIT_NAME_BYTES } from '../../lib/unit/index.js';
import type { Registry } from '../../lib/registry/index.js';
import type { TestLab } from '../harness/lab.js';
import {
  fileExists, pinTo, publishedState, serviceText, show, sleep, startFleetLab, submit, UNITS_DIR, waitFor, waitRunning,
} from '../fleetd/lab-helpers.js';

/** fleet.service journal lines of this boot that report a failed agent task for `unit`. */
async function taskFailures(lab: TestLab, machine: string, unit: string): Promise<string[]> {
  const r = await lab.exec(machine, ['journalctl', '-u', 'fleet.service', '-o', 'cat', '--no-pager']);
  return r.stdout.split('\n').filter((l) => l.includes('agent task failed') && l.includes(unit));
}

async function goneEverywhere(t: Test, lab: TestLab, registry: Registry, machine: string, machineId: string, name: string): Promise<void> {
  await waitFor(`${name} state gone from etcd`, async () => ((await publishedState(registry, name, machineId)) === undefined ? true : undefined), 30_000);
  await waitFor(`${name} file removed`, async () => ((await fileExists(lab, machine, `${UNITS_DIR}/${name}`)) ? undefined : true), 30_000);
  t.notOk((await registry.listUnitStates()).some((s) => s.name === name), 'not in list-units');
  t.equal((await show(lab, machine, name)).LoadState, 'not-found', 'unknown to systemd');
  await sleep(3000);
  t.same(await taskFailures(lab, machine, name), [], 'no failed unload in the journal');
  t.notOk(await fileExists(lab, machine, `${UNITS_DIR}/${name}`), 'the file stays gone');
}

t.test('agents converge on real machines', async (t) => {
  const { lab, registry, ids } = await startFleetLab(t, { machines: 1, agentTtl: '10s', prefix: 'agent-cv' });
  const m1 = ids.m1!;

  await t.test('the systemd link removed behind fleet\'s back: destroy still unloads the unit', async (t) => {
    const name = 'ghost.service';
    await submit(registry, name, serviceText('ghost', ['ExecStart=/bin/sleep infinity'], pinTo(m1)));
    await waitRunning(lab, 'm1', name);
    const r = await lab.sh('m1', `rm /run/systemd/system/${name} && systemctl stop ${name} && systemctl daemon-reload`);
    t.equal(r.code, 0, `link removed, unit stopped, systemd reloaded ${r.code === 0 ? '' : r.stderr}`);
    t.equal((await show(lab, 'm1', name)).LoadState, 'not-found', 'systemd no longer knows the unit');
    t.ok(await fileExists(lab, 'm1', `${UNITS_DIR}/${name}`), 'its file is still in the units directory');
    await registry.destroyUnit(name);
    await goneEverywhere(t, lab, registry, 'm1', m1, name);
  });

  await t.test('an unload interrupted by a killed fleetd is finished by the next fleetd', async (t) => {
    const name = 'halfway.service';
    await submit(registry, name, serviceText('halfway', ['ExecStart=/bin/sleep infinity'], pinTo(m1)));
    await waitRunning(lab, 'm1', name);
    // what a fleetd killed between disabling the unit and removing its file leaves behind
    const before = (await show(lab, 'm1', 'fleet.service')).MainPID;
    const r = await lab.sh('m1', `systemctl kill -s KILL fleet.service && rm /run/systemd/system/${name} && systemctl stop ${name} && systemctl daemon-reload`);
    t.equal(r.code, 0, `fleetd killed, link removed, unit stopped ${r.code === 0 ? '' : r.stderr}`);
    await registry.destroyUnit(name);
    await waitFor('fleetd restarted by systemd', async () => {
      const s = await show(lab, 'm1', 'fleet.service');
      return s.ActiveState === 'active' && s.MainPID !== before && s.MainPID !== '0' ? true : undefined;
    }, 30_000);
    await goneEverywhere(t, lab, registry, 'm1', m1, name);
  });

  await t.test('the longest accepted names load, start and unload', async (t) => {
    const plain = `${'l'.repeat(MAX_UNIT_NAME_BYTES - '.service'.length)}.service`;
    const instance = `long@${'i'.repeat(MAX_UNIT_NAME_BYTES - 'long@.service'.length)}.service`;
    t.equal(Buffer.byteLength(plain), MAX_UNIT_NAME_BYTES);
    t.equal(Buffer.byteLength(instance), MAX_UNIT_NAME_BYTES);
    await submit(registry, plain, serviceText('longest plain name', ['ExecStart=/bin/sleep infinity'], `\n[Install]\nWantedBy=multi-user.target\n${pinTo(m1)}`));
    await submit(registry, instance, serviceText('longest instance name %i', ['ExecStart=/bin/sleep infinity'], pinTo(m1)));
    for (const name of [plain, instance]) {
      await waitRunning(lab, 'm1', name, 30_000);
      const st = await waitFor(`${name.slice(0, 12)}... running in etcd`, async () => {
        const s = await publishedState(registry, name, m1);
        return s?.subState === 'running' ? s : undefined;
      }, 30_000);
      t.match(st, { loadState: 'loaded', activeState: 'active', agentState: 'launched' }, `${name.slice(0, 12)}... (${name.length} bytes) runs`);
    }
    t.ok(await fileExists(lab, 'm1', `/run/systemd/system/multi-user.target.wants/${plain}`), 'the [Install] unit is enabled');
    const leftovers = await lab.sh('m1', `ls -A ${UNITS_DIR} | grep '^\\.' || true`);
    t.equal(leftovers.stdout.trim(), '', 'no temporary file left in the units directory');
    for (const name of [plain, instance]) {
      await registry.destroyUnit(name);
      await goneEverywhere(t, lab, registry, 'm1', m1, name);
    }
  });
});
