/**
 * lib/systemd's unit-state tracking against a real systemd (one lab machine, no fleet): 200 watched units started
 * 16 at a time, as the agent starts a reconcile's units. Every unit's last reported state must be the one systemd
 * has. systemd's PropertiesChanged carries no LoadState, and reading each unit's state per signal went past
 * dbus-daemon's 128 pending replies per connection: the refused reads were dropped, units stayed inactive/dead
 * (agent-poweroff-lab). The pure attacks are test/lib/systemd-unit-states.test.ts.
 */
import t from 'tap';
import { startLab } from '../harness/lab.js';
import { waitFor } from '../harness/wait.js';
import { eachLimited } from '../../lib/limit.js';
import type { UnitState } from '../../lib/systemd/index.js';

const UNITS = 200;
const key = (s: UnitState | undefined): string => (s ? `${s.loadState}/${s.activeState}/${s.subState}` : 'none');

t.test(`${UNITS} watched units started 16 at a time: every state reported is systemd's`, async (t) => {
  const lab = await startLab(t, { machines: 1, fleet: false, prefix: 'agc-st' });
  const names = Array.from({ length: UNITS }, (_, i) => `agc-${String(i).padStart(3, '0')}.service`);
  const write = await lab.sh(
    'm1',
    `for i in $(seq -w 0 ${UNITS - 1}); do printf '[Service]\\nExecStart=/bin/sleep infinity\\n' > /run/systemd/system/agc-$i.service; done`,
  );
  t.equal(write.code, 0, write.stderr);
  const sys = await lab.systemd('m1');
  const last = new Map<string, UnitState>();
  sys.on('unitStateChanged', (ev) => last.set(ev.unit, ev.state));
  await sys.watchUnits(names);
  await sys.reload();
  await eachLimited(names, 16, async (name) => {
    await sys.startUnit(name, 'replace');
  });
  const running = 'loaded/active/running';
  const inSystemd = await waitFor(
    'systemd runs every unit',
    async () => {
      const rows = await sys.listUnitsByNames(names);
      return rows.every((r) => key(r) === running) ? rows : undefined;
    },
    60_000,
  );
  t.equal(inSystemd.length, UNITS, 'systemd runs them all');
  const reported = await waitFor(
    'every reported state is loaded/active/running',
    () => (names.every((n) => key(last.get(n)) === running) ? true : undefined),
    { timeoutMs: 30_000 },
  ).catch(() => false);
  const wrong = names.filter((n) => key(last.get(n)) !== running);
  t.ok(reported, `every unit's reported state is ${running} (${wrong.length} not: ${wrong.slice(0, 5).map((n) => `${n} ${key(last.get(n))}`).join(', ')})`);
});
