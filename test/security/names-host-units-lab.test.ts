/**
 * The agent refuses units that would replace the host's own (fleetd/agent/host-units.ts), on two real lab machines:
 * a unit named like a unit file the host has in /etc/systemd/system, a unit whose [Install] Alias= names a host
 * unit, and fleet.service itself written straight into etcd. The host's unit keeps running untouched, the refusal
 * shows in the unit states with its reason, and the engine places the unit on the other machine or leaves it
 * unscheduled: it is never offered to the refusing machine again in a loop.
 */
import t from 'tap';
import type { TestLab } from '../harness/lab.js';
import { fileExists, pinTo, serviceText, show, sleep, startFleetLab, submit, waitFor, waitRunning } from '../fleetd/lab-helpers.js';

/** Installs and starts a unit of the host itself (not fleet's) on a machine; returns its MainPID. */
async function hostUnit(lab: TestLab, machine: string, name: string, seconds: number): Promise<number> {
  const text = `[Unit]\\nDescription=host unit ${name}\\n[Service]\\nExecStart=/bin/sleep ${seconds}\\n`;
  const r = await lab.sh(machine, `printf '${text}' > /etc/systemd/system/${name} && systemctl daemon-reload && systemctl start ${name}`);
  if (r.code !== 0) throw new Error(`installing ${name} on ${machine}: ${r.stderr}`);
  return waitRunning(lab, machine, name);
}

/** How often the machine's fleetd logged refusing the unit. */
async function refusalsLogged(lab: TestLab, machine: string, unit: string): Promise<number> {
  const r = await lab.exec(machine, ['journalctl', '-u', 'fleet.service', '-o', 'cat', '--no-pager']);
  return r.stdout.split('\n').filter((l) => l.includes('unit refused on this machine') && l.includes(`"${unit}"`)).length;
}

t.test('agents refuse units that would replace the host\'s own', async (t) => {
  const { lab, registry, ids, names } = await startFleetLab(t, { machines: 2, agentTtl: '5s', prefix: 'names' });
  const m1 = ids.m1!;
  const m2 = ids.m2!;

  await t.test('a unit named like a host unit goes to the machine that has none', async (t) => {
    const name = 'hostonly.service';
    const pid = await hostUnit(lab, 'm1', name, 2001);
    // m1 is the least-loaded machine, so the engine tries it first
    for (const i of [1, 2]) await submit(registry, `ballast${i}.service`, serviceText('ballast', ['ExecStart=/bin/sleep 2002'], pinTo(m2)));
    const u = await submit(registry, name, serviceText('fleet\'s hostonly', ['ExecStart=/bin/sleep 2003']));
    await waitRunning(lab, 'm2', name);
    const states = await waitFor('refusal in the unit states', async () => {
      const s = await registry.listUnitStates({ unitName: name });
      return s.some((x) => x.machineId === m1 && x.loadState === 'refused') ? s : undefined;
    });
    t.match(states.find((s) => s.machineId === m1), {
      hash: u.hash, loadState: 'refused', subState: 'refused',
      refusal: new RegExp(`${name.replace('.', '\\.')} is already a unit of this machine, from /etc/systemd/system/${name.replace('.', '\\.')}`),
    });
    t.equal((await registry.getUnit(name))?.machineId, m2, 'scheduled to m2');
    const host = await show(lab, 'm1', name, ['ActiveState', 'MainPID', 'FragmentPath']);
    t.same(host, { ActiveState: 'active', MainPID: String(pid), FragmentPath: `/etc/systemd/system/${name}` }, 'the host unit on m1 runs on, untouched');
    t.notOk(await fileExists(lab, 'm1', `/run/systemd/system/${name}`), 'nothing linked on m1');
    t.notOk(await fileExists(lab, 'm1', `/run/fleet/units/${name}`), 'nothing written on m1');

    await sleep(6000);
    t.equal((await registry.getUnit(name))?.machineId, m2, 'still on m2: no reschedule');
    t.equal(await refusalsLogged(lab, 'm1', name), 1, 'refused once, not in a loop');
    t.equal((await show(lab, 'm1', name, ['MainPID'])).MainPID, String(pid), 'host unit still the same process');
  });

  await t.test('[Install] Alias= naming a host unit, refused on both machines: unscheduled, pending, no loop', async (t) => {
    const pids: Record<string, number> = {};
    for (const m of ['m1', 'm2']) pids[m] = await hostUnit(lab, m, 'hostalias.service', 2004);
    const name = 'innocent.service';
    await submit(registry, name, serviceText('innocent', ['ExecStart=/bin/sleep 2005'], '[Install]\nAlias=hostalias.service\nWantedBy=multi-user.target\n'));
    const states = await waitFor('refused on both machines', async () => {
      const s = (await registry.listUnitStates({ unitName: name })).filter((x) => x.loadState === 'refused');
      return s.length === 2 ? s : undefined;
    }, 30_000);
    for (const s of states) {
      t.match(s.refusal, /^\[Install\] Alias=hostalias\.service: hostalias\.service is already a unit of this machine, from \/etc\/systemd\/system\/hostalias\.service/, names[s.machineId]!);
    }
    await waitFor('unscheduled', async () => ((await registry.getUnit(name))?.machineId === undefined ? true : undefined));
    await sleep(6000);
    t.equal((await registry.getUnit(name))?.machineId, undefined, 'stays unscheduled');
    for (const m of ['m1', 'm2']) {
      t.equal(await refusalsLogged(lab, m, name), 1, `${m}: refused once`);
      t.same(await show(lab, m, 'hostalias.service', ['ActiveState', 'MainPID', 'FragmentPath']),
        { ActiveState: 'active', MainPID: String(pids[m]), FragmentPath: '/etc/systemd/system/hostalias.service' }, `${m}: host unit untouched`);
      t.notOk(await fileExists(lab, m, '/run/systemd/system/hostalias.service'), `${m}: no alias link`);
      t.equal((await show(lab, m, name, ['LoadState'])).LoadState, 'not-found', `${m}: fleet's unit not loaded`);
    }
  });

  await t.test('fleet.service written straight into etcd: refused, fleetd keeps running', async (t) => {
    const before = await show(lab, 'm1', 'fleet.service', ['ActiveState', 'MainPID', 'FragmentPath']);
    await submit(registry, 'fleet.service', serviceText('not fleet', ['ExecStart=/bin/sleep 2006'], pinTo(m1)));
    const s = await waitFor('fleet.service refused on m1', async () =>
      (await registry.listUnitStates({ unitName: 'fleet.service', machineId: m1 })).find((x) => x.loadState === 'refused'));
    t.match(s.refusal, /unit name "fleet\.service" is reserved: it is fleet's own unit/);
    await sleep(3000);
    t.same(await show(lab, 'm1', 'fleet.service', ['ActiveState', 'MainPID', 'FragmentPath']), before, 'fleetd on m1 untouched');
    await registry.destroyUnit('fleet.service');
    await sleep(2000);
    t.same(await show(lab, 'm1', 'fleet.service', ['ActiveState', 'MainPID', 'FragmentPath']), before, 'destroy does not stop fleetd');
    t.same(await registry.listUnitStates({ unitName: 'fleet.service' }), [], 'destroy removes the refusal');
  });
});
