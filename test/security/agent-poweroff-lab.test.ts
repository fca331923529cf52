/**
 * A clean poweroff of a busy machine (200 units) on a real lab machine: systemd stops fleetd before what fleetd
 * needs to leave the cluster (D-Bus, the network to etcd), so fleetd stops its units and leaves at once; its
 * engine, the leader, moves them to the other machine before it steps down: not after agent_ttl.
 */
import t from 'tap';
import { eachLimited } from '../../lib/limit.js';
import type { Registry } from '../../lib/registry/index.js';
import { serviceText, sleep, startFleetLab, submit, waitFor } from '../fleetd/lab-helpers.js';

const UNITS = 200;
const AGENT_TTL_S = 30;

async function scheduledOn(registry: Registry, machineId: string): Promise<number> {
  return (await registry.listSchedule(machineId)).filter((e) => e.name.startsWith('busy-')).length;
}

async function runningOn(registry: Registry, machineId: string): Promise<number> {
  const states = await registry.listUnitStates({ machineId });
  return states.filter((s) => s.name.startsWith('busy-') && s.activeState === 'active' && s.subState === 'running').length;
}

t.test(`a clean poweroff of a machine with ${UNITS} units: it leaves the cluster at once, its units move promptly`, async (t) => {
  const { lab, registry, ids } = await startFleetLab(t, { machines: 2, agentTtl: `${AGENT_TTL_S}s`, prefix: 'agent-po' });
  const m1 = ids.m1!;
  const m2 = ids.m2!;
  // every unit on m1: m2's fleetd is away while they are placed; so m1's engine leads too, the hard case (a
  // successor engine would first give missing machines agent_ttl to come back)
  await lab.lab.stopFleet('m2');
  const m1Leads = Date.now();
  await waitFor('m2 left the cluster', async () => ((await registry.getMachine(m2)) === undefined ? true : undefined), 30_000);
  const names = Array.from({ length: UNITS }, (_, i) => `busy-${String(i).padStart(3, '0')}.service`);
  const submitted = Date.now();
  await eachLimited(names, 16, (name) => submit(registry, name, serviceText(name, ['ExecStart=/bin/sleep infinity'])));
  await waitFor(`${UNITS} units running on m1`, async () => ((await runningOn(registry, m1)) === UNITS ? true : undefined), 300_000);
  t.comment(`FIGURE ${UNITS} units submitted and running on one machine in ${((Date.now() - submitted) / 1000).toFixed(1)} s`);
  await lab.lab.startFleet('m2');
  await waitFor('m2 registered again', async () => ((await registry.getMachine(m2)) ? true : undefined), 30_000);
  t.equal(await runningOn(registry, m2), 0, 'nothing moved to m2 when it came back');
  // a young engine term gives machines missing in its first agent_ttl that long to come back (they may be
  // re-registering after an etcd outage): the leader of a settled cluster is what this is about
  await sleep(Math.max(0, m1Leads + AGENT_TTL_S * 1000 + 2000 - Date.now()));

  const began = Date.now();
  const poweroff = lab.lab.poweroff('m1');
  poweroff.catch(() => undefined);
  const leftAfter = await waitFor('m1 gone from the machine list', async () => ((await registry.getMachine(m1)) === undefined ? Date.now() - began : undefined), 2 * AGENT_TTL_S * 1000);
  const scheduledAfter = await waitFor(`${UNITS} units scheduled on m2`, async () => ((await scheduledOn(registry, m2)) === UNITS ? Date.now() - began : undefined), 3 * AGENT_TTL_S * 1000);
  const movedAfter = await waitFor(`${UNITS} units running on m2`, async () => ((await runningOn(registry, m2)) === UNITS ? Date.now() - began : undefined), 3 * AGENT_TTL_S * 1000);
  await poweroff;
  t.comment(`FIGURE poweroff with ${UNITS} units: m1 left the cluster ${(leftAfter / 1000).toFixed(1)} s after the poweroff request, its units were scheduled on m2 ${(scheduledAfter / 1000).toFixed(1)} s and ran there ${(movedAfter / 1000).toFixed(1)} s after it (agent_ttl ${AGENT_TTL_S} s)`);
  // the lease would expire only after agent_ttl: leaving within a third of it is fleetd deregistering itself
  t.ok(leftAfter < (AGENT_TTL_S * 1000) / 3, `m1 left the cluster ${leftAfter} ms after the poweroff request, well before agent_ttl (${AGENT_TTL_S} s)`);
  t.ok(scheduledAfter < (AGENT_TTL_S * 1000) / 3, `its ${UNITS} units were scheduled on m2 ${scheduledAfter} ms after the poweroff request`);
  t.equal(await runningOn(registry, m2), UNITS, `and all ${UNITS} run there (${(movedAfter / 1000).toFixed(1)} s after the request)`);
});
