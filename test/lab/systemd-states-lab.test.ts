/**
 * lib/systemd's unit-state tracking against a real systemd (one lab machine, no fleet): 200 watched units started
 * 16 at a time, as the agent starts a reconcile's units. Every unit's last reported state must be the one systemd
 * has. systemd's PropertiesChanged carries no LoadState, and reading each unit's state per signal went past
 * dbus-daemon's 128 pending replies per connection: the refused reads were dropped, units stayed inactive/dead
 * (agent-poweroff-lab). Once after a daemon-reload, once as new units that systemd first knew as not-found and
 * loads from disk on start with no reload (the agent's reload skip): their LoadState changes with no signal saying
 * so. And a stopped unit that `systemctl status` loads again: reading it must not load it again and again (UnitNew).
 * The pure attacks are test/lib/systemd-unit-states.test.ts.
 */
import t from 'tap';
import { startLab, type TestLab } from '../harness/lab.js';
import { waitFor } from '../harness/wait.js';
import { eachLimited } from '../../lib/limit.js';
import type { SystemdClient, UnitState } from '../../lib/systemd/index.js';

const UNITS = 200;
const key = (s: UnitState | undefined): string => (s ? `${s.loadState}/${s.activeState}/${s.subState}` : 'none');

/** Writes the unit files inside the machine: a sleep, no [Install] section. */
async function writeUnits(lab: TestLab, prefix: string): Promise<string[]> {
  const write = await lab.sh(
    'm1',
    `for i in $(seq -w 0 ${UNITS - 1}); do printf '[Service]\\nExecStart=/bin/sleep infinity\\n' > /run/systemd/system/${prefix}-$i.service; done`,
  );
  if (write.code !== 0) throw new Error(`writing unit files: ${write.stderr}`);
  return Array.from({ length: UNITS }, (_, i) => `${prefix}-${String(i).padStart(3, '0')}.service`);
}

/** Starts the units 16 at a time; resolves once systemd runs them all and returns the units whose reported state is not that. */
async function startAll(sys: SystemdClient, names: readonly string[], last: ReadonlyMap<string, UnitState>): Promise<string[]> {
  await eachLimited(names, 16, async (name) => {
    await sys.startUnit(name, 'replace');
  });
  await waitFor('systemd runs every unit', async () => (await sys.listUnitsByNames(names)).every((r) => key(r) === RUNNING), 60_000);
  await waitFor('every reported state is loaded/active/running', () => names.every((n) => key(last.get(n)) === RUNNING), 30_000).catch(() => false);
  return names.filter((n) => key(last.get(n)) !== RUNNING);
}

const RUNNING = 'loaded/active/running';

t.test(`${UNITS} watched units started 16 at a time: every state reported is systemd's`, async (t) => {
  const lab = await startLab(t, { machines: 1, fleet: false, prefix: 'agc-st' });
  const sys = await lab.systemd('m1');
  const last = new Map<string, UnitState>();
  sys.on('unitStateChanged', (ev) => last.set(ev.unit, ev.state));
  const report = (wrong: readonly string[]): string => `${wrong.length} not: ${wrong.slice(0, 5).map((n) => `${n} ${key(last.get(n))}`).join(', ')}`;

  await t.test('after a daemon-reload', async (t) => {
    const names = await writeUnits(lab, 'agc');
    await sys.watchUnits(names);
    await sys.reload();
    const wrong = await startAll(sys, names, last);
    t.same(wrong, [], `every unit's reported state is ${RUNNING} (${report(wrong)})`);
  });

  await t.test('new units read as not-found first and started with no daemon-reload (systemd loads them on start)', async (t) => {
    // as the agent does: the unit is looked up before its file is written (systemd: not-found), then started
    const names = Array.from({ length: UNITS }, (_, i) => `agn-${String(i).padStart(3, '0')}.service`);
    await sys.watchUnits(names);
    const before = await sys.readUnitStates(names);
    t.ok(names.every((n) => before.get(n)?.loadState === 'not-found'), 'systemd knew none of them');
    t.same(await writeUnits(lab, 'agn'), names);
    const wrong = await startAll(sys, names, last);
    t.same(wrong, [], `every unit's reported state is ${RUNNING} (${report(wrong)})`);
  });

  await t.test('a stopped unit that systemctl status loads again is not read over and over', async (t) => {
    // systemctl status loads the collected unit (UnitNew); reading it after a UnitNew loaded it again, and so on:
    // fleetd and PID 1 kept busy for good
    const name = 'agl.service';
    const write = await lab.sh('m1', `printf '[Service]\\nExecStart=/bin/sleep infinity\\n' > /run/systemd/system/${name}`);
    t.equal(write.code, 0, write.stderr);
    await sys.watchUnits([name]);
    await sys.startUnit(name, 'replace');
    await waitFor('reported running', () => key(last.get(name)) === RUNNING, 30_000);
    await sys.stopUnit(name, { wait: true });
    await waitFor('reported stopped', () => last.get(name)?.activeState === 'inactive', 30_000);
    const read = sys.listUnitsByNames.bind(sys);
    let reads = 0;
    sys.listUnitsByNames = (names) => {
      if (names.includes(name)) reads++;
      return read(names);
    };
    for (let i = 0; i < 3; i++) await lab.sh('m1', `systemctl status ${name} >/dev/null; true`);
    await new Promise((resolve) => setTimeout(resolve, 2000));
    t.ok(reads <= 3, `at most one read per status (${reads} reads)`);
    t.equal(last.get(name)?.activeState, 'inactive', 'still reported inactive');
  });
});
