/**
 * A per-machine hash override of a Global unit (Registry.setGlobalMachineHash, the step a rolling update takes on
 * one machine) on 3 real lab machines: only the overridden machine's fleetd writes the override's unit file and
 * runs it, and publishes its hash; the other two keep the old text and process. Clearing the override brings the
 * machine back to the unit's own text.
 */
import t from 'tap';
import { loadUnit } from '../../lib/unit/index.js';
import { publishedState, serviceText, show, startFleetLab, UNITS_DIR, waitFor, waitRunning } from './lab-helpers.js';

const U = 'gp.service';
const GLOBAL = '\n[X-Fleet]\nGlobal=true\n';

t.test('a hash override switches one machine of a Global unit, and clearing it switches it back', async (t) => {
  const { lab, registry, ids } = await startFleetLab(t, { machines: 3, agentTtl: '5s', prefix: 'gp' });
  const names = ['m1', 'm2', 'm3'];
  const v1 = loadUnit(U, serviceText('gp v1', ['ExecStart=/bin/sleep 1001'], GLOBAL));
  const v2 = loadUnit(U, serviceText('gp v2', ['ExecStart=/bin/sleep 1002'], GLOBAL));
  const file = async (m: string): Promise<string> => (await lab.exec(m, ['cat', `${UNITS_DIR}/${U}`])).stdout;
  const hashOn = async (m: string): Promise<string | undefined> => (await publishedState(registry, U, ids[m]!))?.hash;

  await registry.createUnit({ name: U, text: v1.text, hash: v1.hash, desiredState: 'launched', global: true });
  const pids: Record<string, number> = {};
  for (const m of names) {
    pids[m] = await waitRunning(lab, m, U, 60_000);
    await waitFor(`${m} publishes v1`, async () => ((await hashOn(m)) === v1.hash ? true : undefined));
  }

  // the new text is stored by a unit that uses it (an inactive one runs nowhere), then that unit goes: the
  // override alone keeps the text
  await registry.createUnit({ name: 'gp-hold.service', text: v2.text, hash: v2.hash, desiredState: 'inactive', global: false });
  await registry.setGlobalMachineHash(U, ids.m1!, v2.hash);
  await registry.destroyUnit('gp-hold.service');

  const pid2 = await waitFor('m1 runs v2', async () => {
    const s = await show(lab, 'm1', U);
    const pid = Number(s.MainPID);
    return s.ActiveState === 'active' && pid > 0 && pid !== pids.m1 ? pid : undefined;
  }, 60_000);
  t.match(await file('m1'), 'ExecStart=/bin/sleep 1002', 'm1 has the new unit file');
  t.equal((await lab.exec('m1', ['cat', `/proc/${pid2}/cmdline`])).stdout.split('\0').join(' ').trim(), '/bin/sleep 1002', 'm1 runs the new command');
  await waitFor('m1 publishes v2', async () => ((await hashOn('m1')) === v2.hash ? true : undefined));
  for (const m of ['m2', 'm3']) {
    t.match(await file(m), 'ExecStart=/bin/sleep 1001', `${m} keeps the old unit file`);
    t.equal(Number((await show(lab, m, U)).MainPID), pids[m], `${m} keeps its process`);
    t.equal(await hashOn(m), v1.hash, `${m} publishes v1`);
  }
  t.same((await registry.collectUnitTexts()).removed, [], 'no text collected while the override names it');

  await registry.setGlobalMachineHash(U, ids.m1!, null);
  const pid3 = await waitFor('m1 runs v1 again', async () => {
    const s = await show(lab, 'm1', U);
    const pid = Number(s.MainPID);
    return s.ActiveState === 'active' && pid > 0 && pid !== pid2 ? pid : undefined;
  }, 60_000);
  t.match(await file('m1'), 'ExecStart=/bin/sleep 1001', 'm1 has the unit\'s own file again');
  t.equal((await lab.exec('m1', ['cat', `/proc/${pid3}/cmdline`])).stdout.split('\0').join(' ').trim(), '/bin/sleep 1001');
  await waitFor('m1 publishes v1 again', async () => ((await hashOn('m1')) === v1.hash ? true : undefined));
  for (const m of ['m2', 'm3']) t.equal(Number((await show(lab, m, U)).MainPID), pids[m], `${m} still keeps its process`);
});
