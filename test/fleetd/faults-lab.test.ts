/**
 * fleetd faults on two real lab machines (agent_ttl 5s): a fleetd restart or crash keeps units where and as
 * they run; etcd cut off longer than agent_ttl keeps units running, and after the heal the machine registers
 * again and republishes; a clean stop stops the units (shutdown_units=stop) or keeps them (keep).
 *
 * Both units run on one machine, "the victim": roam.service goes wherever the engine puts it, pinned.service
 * is pinned there with MachineID. While the victim is cut off the engine moves roam.service to the other
 * machine (nothing stops the victim's copy until it is back); pinned.service has nowhere else to go.
 */
import t, { type Test } from 'tap';
import {
  fileExists, fleetdJournalProblems, pinTo, waitFleetdReady, publishedState, serviceText, show, sleep, startFleetLab, submit, UNITS_DIR, waitFor, waitRunning,
} from './lab-helpers.js';

const TTL_MS = 5000;

t.test('fleetd faults on real machines', async (t) => {
  const { lab, registry, ids } = await startFleetLab(t, { machines: 2, agentTtl: '5s', prefix: 'ff' });

  const roam = 'roam.service';
  const pinned = 'pinned.service';
  await submit(registry, roam, serviceText('goes where the engine puts it', ['ExecStart=/bin/sleep 2001']));
  const victimId = await waitFor('roam scheduled', async () => (await registry.getUnit(roam))?.machineId);
  const victim = Object.entries(ids).find(([, id]) => id === victimId)![0];
  const other = victim === 'm1' ? 'm2' : 'm1';
  await submit(registry, pinned, serviceText('pinned to the victim', ['ExecStart=/bin/sleep 2002'], pinTo(victimId)));
  const pids = { roam: await waitRunning(lab, victim, roam), pinned: await waitRunning(lab, victim, pinned) };

  const unitsUnmoved = async (t: Test, what: string): Promise<void> => {
    for (const [unit, pid] of [[roam, pids.roam], [pinned, pids.pinned]] as const) {
      t.match(await show(lab, victim, unit), { ActiveState: 'active', MainPID: String(pid) }, `${what}: ${unit} keeps its PID`);
      t.equal((await registry.getUnit(unit))?.machineId, victimId, `${what}: ${unit} still scheduled to ${victim}`);
      t.equal((await show(lab, other, unit)).LoadState, 'not-found', `${what}: ${unit} not started on ${other}`);
    }
  };
  // systemd keeps the exit status only until it resets the unit; killed by SIGTERM would be code 2 (CLD_KILLED)
  const cleanExit = async (t: Test, what: string): Promise<void> => {
    const s = await show(lab, victim, 'fleet.service', ['ActiveState', 'Result', 'ExecMainCode', 'ExecMainStatus']);
    t.match(s, { ActiveState: 'inactive', Result: 'success', ExecMainStatus: '0' }, what);
    t.not(s.ExecMainCode, '2', `${what}: not killed by the signal`);
  };
  const statesPublished = (): Promise<true> =>
    waitFor('states published by the victim', async () => {
      for (const unit of [roam, pinned]) if ((await publishedState(registry, unit, victimId))?.activeState !== 'active') return undefined;
      return true;
    });

  await t.test('systemctl restart fleet.service keeps units running where they are', async (t) => {
    const before = (await show(lab, victim, 'fleet.service')).MainPID;
    const r = await lab.exec(victim, ['systemctl', 'restart', 'fleet.service']);
    t.equal(r.code, 0, r.stderr);
    t.not((await show(lab, victim, 'fleet.service')).MainPID, before, 'a new fleetd');
    // past the old incarnation's lease: states must have moved to the new one
    await sleep(TTL_MS + 2000);
    await unitsUnmoved(t, 'after restart');
    await statesPublished();
  });

  await t.test('a crashed fleetd (SIGKILL, Restart=always) keeps units running where they are', async (t) => {
    const before = (await show(lab, victim, 'fleet.service')).MainPID;
    const k = await lab.exec(victim, ['systemctl', 'kill', '--kill-who=main', '-s', 'KILL', 'fleet.service']);
    t.equal(k.code, 0, k.stderr);
    await waitFor('fleetd restarted by systemd', async () => {
      const s = await show(lab, victim, 'fleet.service');
      return s.ActiveState === 'active' && s.MainPID !== before && s.MainPID !== '0' ? true : undefined;
    });
    await sleep(TTL_MS + 2000);
    await unitsUnmoved(t, 'after crash');
    await statesPublished();
  });

  await t.test('etcd cut off longer than agent_ttl: units keep running; after the heal fleetd re-registers', async (t) => {
    // unscheduled while the victim is away: kept through the rejoin hold, unlike a unit moved elsewhere
    const parked = 'parked.service';
    await submit(registry, parked, serviceText('unloaded while its machine is cut off', ['ExecStart=/bin/sleep 2003'], pinTo(victimId)));
    await waitRunning(lab, victim, parked);
    await lab.lab.cut(victim);
    let healed = false;
    t.teardown(async () => {
      if (!healed) await lab.lab.heal(victim);
    });
    await waitFor('the victim dropped out of etcd', async () => {
      const live = (await registry.listMachines()).map((m) => m.id);
      return live.includes(victimId) ? undefined : true;
    }, 3 * TTL_MS);
    // the engine moves what can move; the victim's agent cannot know and keeps both
    const movedTo = await waitFor('roam moved away', async () => {
      const id = (await registry.getUnit(roam))?.machineId;
      return id !== undefined && id !== victimId ? id : undefined;
    });
    t.equal(movedTo, ids[other], `roam moved to ${other}`);
    const moved = await waitRunning(lab, other, roam);
    // the engine's business, shown for the record: fleet unscheduled units of a lost machine, pinned or not
    t.comment(`while cut, pinned.service is scheduled to: ${(await registry.getUnit(pinned))?.machineId ?? 'nowhere'}`);
    await registry.setDesiredState(parked, 'inactive');
    await waitFor('parked unscheduled', async () => ((await registry.getUnit(parked))?.machineId === undefined ? true : undefined));
    await sleep(1000);
    for (const [unit, pid] of [[roam, pids.roam], [pinned, pids.pinned]] as const) {
      t.match(await show(lab, victim, unit), { ActiveState: 'active', MainPID: String(pid) }, `cut: ${unit} keeps running on ${victim}`);
    }

    await lab.lab.heal(victim);
    healed = true;
    await waitFor('the victim registered again', async () => {
      const live = (await registry.listMachines()).map((m) => m.id);
      return live.includes(victimId) ? true : undefined;
    }, 3 * TTL_MS);
    await waitFor('pinned scheduled to the victim again', async () => ((await registry.getUnit(pinned))?.machineId === victimId ? true : undefined));
    await waitFor('pinned state republished', async () => ((await publishedState(registry, pinned, victimId))?.activeState === 'active' ? true : undefined));
    // the victim's copy of roam runs on another machine already: it goes at once; parked (placed nowhere) is kept
    // until the engine had time to place units here again
    await waitFor(`roam unloaded on ${victim}`, async () => ((await show(lab, victim, roam)).LoadState === 'not-found' ? true : undefined), 30_000);
    t.equal((await show(lab, victim, parked)).ActiveState, 'active', 'the moved copy went first: parked is still held');
    await waitFor(`parked unloaded on ${victim} after the hold`, async () => ((await show(lab, victim, parked)).LoadState === 'not-found' ? true : undefined), 30_000);
    t.match(await show(lab, victim, pinned), { ActiveState: 'active', MainPID: String(pids.pinned) }, 'healed: pinned never restarted');
    t.match(await show(lab, other, roam), { ActiveState: 'active', MainPID: String(moved) }, `healed: roam runs on ${other} only`);
    t.equal((await registry.getUnit(roam))?.currentState, 'launched');
  });

  await t.test('shutdown_units=keep: a clean stop leaves units running; a start adopts them', async (t) => {
    const w = await lab.sh(victim, "echo 'shutdown_units=keep' >> /etc/fleet/fleet.conf && systemctl restart fleet.service");
    t.equal(w.code, 0, w.stderr);
    await waitFleetdReady(lab, victim);
    await lab.lab.stopFleet(victim);
    await cleanExit(t, 'SIGTERM: fleetd exited 0');
    await sleep(1000);
    t.match(await show(lab, victim, pinned), { ActiveState: 'active', MainPID: String(pids.pinned) }, 'pinned still running');
    t.ok(await fileExists(lab, victim, `${UNITS_DIR}/${pinned}`), 'its file stays');
    await lab.lab.startFleet(victim);
    await waitFor('pinned state republished', async () => ((await publishedState(registry, pinned, victimId))?.activeState === 'active' ? true : undefined));
    t.match(await show(lab, victim, pinned), { ActiveState: 'active', MainPID: String(pids.pinned) }, 'adopted, not restarted');
  });

  await t.test('shutdown_units=stop (default): a clean stop stops and removes the units, and leaves the cluster', async (t) => {
    const w = await lab.sh(victim, "sed -i '/^shutdown_units=/d' /etc/fleet/fleet.conf && systemctl restart fleet.service");
    t.equal(w.code, 0, w.stderr);
    await waitFleetdReady(lab, victim);
    await lab.lab.stopFleet(victim);
    await cleanExit(t, 'SIGTERM: fleetd exited 0');
    t.equal((await show(lab, victim, pinned)).LoadState, 'not-found', 'pinned stopped and unloaded');
    t.notOk(await fileExists(lab, victim, `${UNITS_DIR}/${pinned}`), 'its file removed');
    t.notOk((await lab.exec(victim, ['kill', '-0', String(pids.pinned)])).code === 0, 'its process is gone');
    t.equal(await registry.getMachine(victimId), undefined, 'machine left etcd at once (lease revoked)');
    t.equal(await publishedState(registry, pinned, victimId), undefined, 'its unit states are gone');

    await lab.lab.startFleet(victim);
    const pid = await waitRunning(lab, victim, pinned);
    t.not(pid, pids.pinned, 'started again when fleetd came back');

    // a stop while fleetd waits for etcd (it never registered) stops the units it finds too
    await waitFor('pinned state published', async () => ((await publishedState(registry, pinned, victimId))?.activeState === 'active' ? true : undefined));
    await lab.lab.cut(victim);
    let healed = false;
    t.teardown(async () => {
      if (!healed) await lab.lab.heal(victim);
    });
    const since = `@${Math.floor(Date.now() / 1000)}`;
    const r = await lab.exec(victim, ['systemctl', 'restart', 'fleet.service']);
    t.equal(r.code, 0, r.stderr);
    await waitFor('fleetd waiting for etcd', async () => {
      const j = await lab.exec(victim, ['journalctl', '-u', 'fleet.service', '--since', since, '-o', 'cat', '--no-pager']);
      return j.stdout.includes('cannot register this machine in etcd yet') ? true : undefined;
    }, 30_000);
    await lab.lab.stopFleet(victim);
    await cleanExit(t, 'SIGTERM while waiting for etcd: fleetd exited 0');
    t.equal((await show(lab, victim, pinned)).LoadState, 'not-found', 'pinned stopped and unloaded');
    t.notOk((await lab.exec(victim, ['kill', '-0', String(pid)])).code === 0, 'its process is gone');
    await lab.lab.heal(victim);
    healed = true;
    await lab.lab.startFleet(victim);
    await waitRunning(lab, victim, pinned);
  });

  await t.test('fleetd logged no stack trace and nothing unstructured', async (t) => {
    for (const m of ['m1', 'm2']) t.same(await fleetdJournalProblems(lab, m), [], m);
  });
});
