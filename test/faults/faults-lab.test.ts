/**
 * Issue 7's fault scenarios on one real 3-machine lab (agent_ttl 5s, engine_lease_ttl 4s default), run in
 * order: the leader's fleetd killed while 30 units are being started, a machine powered off and on again,
 * a machine replaced (new machine-id, same address), etcd frozen (SIGSTOP) for 60 s.
 *
 * A background sampler checks all the time that no unit is scheduled twice and that every schedule entry
 * equals its job's target (both read in one etcd range, one revision), and that no unit restarts on a
 * machine (the MainPID of a unit stays the same while it runs there).
 */
import t, { type Test } from 'tap';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stopEtcd } from '../../lab/etcd.js';
import { isAlive, signal } from '../../lab/proc.js';
import { fleetctl } from '../fleetctl/helpers.js';
import { serviceText, sleep, startFleetLab, submit, waitFor } from '../fleetd/lab-helpers.js';

const AGENT_TTL_S = 5;
const LEASE_TTL_S = 4;
const N = 30;
const names = Array.from({ length: N }, (_, i) => `f-${String(i + 1).padStart(2, '0')}.service`);

const fl = await startFleetLab(t, { machines: 3, agentTtl: `${AGENT_TTL_S}s`, prefix: 'fx' });
const { lab, registry } = fl;
const P = registry.prefix;
const client = fl.client;
const machineNames = ['m1', 'm2', 'm3'];
const figures: string[] = [];
const figure = (s: string): void => {
  figures.push(s);
  t.comment(`FIGURE ${s}`);
};

// ---- etcd view ---------------------------------------------------------------------------------

interface Snapshot {
  /** unit -> machine ids with a schedule entry */
  schedule: Map<string, string[]>;
  target: Map<string, string>;
}

async function snapshot(): Promise<Snapshot> {
  const res = await client.getAll().prefix(P).exec();
  const schedule = new Map<string, string[]>();
  const target = new Map<string, string>();
  for (const kv of res.kvs) {
    const key = kv.key.toString().slice(P.length).split('/');
    if (key[0] === 'schedule' && key.length === 3) {
      const l = schedule.get(key[2]!) ?? [];
      l.push(key[1]!);
      schedule.set(key[2]!, l);
    } else if (key[0] === 'job' && key[2] === 'target' && key.length === 3) {
      target.set(key[1]!, kv.value.toString());
    }
  }
  return { schedule, target };
}

/** The engine leader as etcd says (`P/engine/leader`: {machineId, since}); a new term is a new create revision. */
async function leader(): Promise<{ machineId: string; key: string } | undefined> {
  const kv = (await client.get(`${P}engine/leader`).exec()).kvs[0];
  if (!kv) return undefined;
  const rec = JSON.parse(kv.value.toString()) as { machineId?: unknown };
  return typeof rec.machineId === 'string' ? { machineId: rec.machineId, key: String(kv.create_revision) } : undefined;
}

// ---- what runs in the machines -----------------------------------------------------------------

/** unit -> MainPID of our units active in a machine */
async function pidsOn(machine: string): Promise<Map<string, number>> {
  const r = await lab.exec(machine, ['systemctl', 'show', '-p', 'Id', '-p', 'MainPID', '-p', 'ActiveState', '--', 'f-*.service', 'fresh-*.service'], { timeoutMs: 20_000 });
  if (r.code !== 0) throw new Error(`systemctl show on ${machine}: exit ${r.code} ${r.stderr}`);
  const out = new Map<string, number>();
  for (const block of r.stdout.split('\n\n')) {
    const p: Record<string, string> = {};
    for (const line of block.split('\n')) {
      const eq = line.indexOf('=');
      if (eq > 0) p[line.slice(0, eq)] = line.slice(eq + 1);
    }
    if (p.Id && p.ActiveState === 'active' && Number(p.MainPID) > 0) out.set(p.Id, Number(p.MainPID));
  }
  return out;
}

async function runningEverywhere(): Promise<Map<string, Map<string, number>>> {
  const all = new Map<string, Map<string, number>>();
  for (const m of machineNames) {
    const info = await lab.machine(m);
    if (info.running) all.set(m, await pidsOn(m).catch(() => new Map<string, number>()));
  }
  return all;
}

// ---- background sampler ------------------------------------------------------------------------

const violations: string[] = [];
/** "machine unit" -> first PID seen there; forgotten when the machine is powered off or replaced */
const seenPid = new Map<string, number>();
let stopSampling = false;
let etcdErrors = 0;

async function sampleSchedule(): Promise<void> {
  while (!stopSampling) {
    try {
      const s = await snapshot();
      for (const [unit, ms] of s.schedule) {
        if (ms.length > 1) violations.push(`${unit} scheduled to ${ms.length} machines: ${ms.join(', ')}`);
        if (s.target.get(unit) !== ms[0]) violations.push(`${unit}: schedule entry on ${ms[0]} but target ${s.target.get(unit) ?? 'absent'}`);
      }
      for (const [unit, m] of s.target) if (!s.schedule.has(unit)) violations.push(`${unit}: target ${m} without a schedule entry`);
    } catch {
      etcdErrors++;
    }
    await sleep(250);
  }
}

async function samplePids(): Promise<void> {
  while (!stopSampling) {
    for (const m of machineNames) {
      let pids: Map<string, number>;
      try {
        if (!(await lab.machine(m)).running) continue;
        pids = await pidsOn(m);
      } catch {
        continue;
      }
      // a unit gone from a machine may legitimately be placed there again later (the scenarios check moves)
      for (const k of [...seenPid.keys()]) if (k.startsWith(`${m} `) && !pids.has(k.slice(m.length + 1))) seenPid.delete(k);
      for (const [unit, pid] of pids) {
        const k = `${m} ${unit}`;
        const first = seenPid.get(k);
        if (first === undefined) seenPid.set(k, pid);
        else if (first !== pid) {
          violations.push(`${unit} restarted on ${m}: MainPID ${first} -> ${pid}`);
          seenPid.set(k, pid);
        }
      }
    }
    await sleep(1000);
  }
}

const forgetMachine = (m: string): void => {
  for (const k of [...seenPid.keys()]) if (k.startsWith(`${m} `)) seenPid.delete(k);
};

const samplers = [sampleSchedule(), samplePids()];
t.teardown(async () => {
  stopSampling = true;
  await Promise.allSettled(samplers);
});

const noViolations = (t: Test, what: string): void => {
  t.same(violations, [], `${what}: the sampler saw no double placement, no target/schedule mismatch and no restart`);
};

/** Units whose schedule entry is on `machineId` */
async function unitsOf(machineId: string): Promise<string[]> {
  const s = await snapshot();
  return names.filter((u) => s.target.get(u) === machineId).sort();
}

/** Every unit launched and active on the machine it is scheduled to; returns unit -> machine name. */
async function allRunning(what: string, timeoutMs: number, units: readonly string[] = names): Promise<Map<string, string>> {
  return waitFor(what, async () => {
    const s = await snapshot();
    const ids = new Map((await lab.machines()).map((m) => [m.machineId, m.name]));
    const running = await runningEverywhere();
    const where = new Map<string, string>();
    for (const u of units) {
      const m = ids.get(s.target.get(u) ?? '');
      if (!m || !running.get(m)?.has(u)) return undefined;
      where.set(u, m);
    }
    return where;
  }, timeoutMs);
}

/** unit -> "machine pid" of every unit in `units` as it runs now */
async function pidTable(units: readonly string[]): Promise<Map<string, string>> {
  const running = await runningEverywhere();
  const out = new Map<string, string>();
  for (const u of units) for (const [m, pids] of running) if (pids.has(u)) out.set(u, `${m} ${pids.get(u)}`);
  return out;
}

const idOf = async (name: string): Promise<string> => (await lab.machine(name)).machineId;
const nameOf = async (id: string): Promise<string> => (await lab.machines()).find((m) => m.machineId === id)!.name;

// ---- scenarios ---------------------------------------------------------------------------------

await t.test('1. the leader fleetd is SIGKILLed while 30 units are being started', async (t) => {
  const before = await waitFor('an engine leader', leader);
  const leaderName = await nameOf(before.machineId);
  t.comment(`leader is ${leaderName}`);
  // a stream of submissions (one every 200 ms), so the kill lands with units placed, pending and not yet submitted
  let submitted = 0;
  const submitting = (async () => {
    for (const [i, u] of names.entries()) {
      await submit(registry, u, serviceText(`fault unit ${i}`, [`ExecStart=/bin/sleep ${100000 + i}`]));
      submitted++;
      await sleep(200);
    }
  })();
  await waitFor('first placements', async () => ((await snapshot()).schedule.size >= 5 ? true : undefined), 60_000);
  const placedAtKill = (await snapshot()).schedule.size;
  const submittedAtKill = submitted;
  const killedAt = Date.now();
  const k = await lab.exec(leaderName, ['systemctl', 'kill', '--kill-who=main', '-s', 'KILL', 'fleet.service']);
  t.equal(k.code, 0, k.stderr);
  figure(`scenario 1: ${submittedAtKill} of ${N} units submitted and ${placedAtKill} scheduled when the leader (${leaderName}) was killed`);
  t.ok(submittedAtKill < N, 'the kill landed while units were still being submitted');
  await submitting;

  const next = await waitFor('a new leader', async () => {
    const l = await leader();
    return l && l.key !== before.key ? l : undefined;
  }, 60_000);
  const failover = (Date.now() - killedAt) / 1000;
  figure(`scenario 1: new leader ${await nameOf(next.machineId)} after ${failover.toFixed(1)} s (lease TTL ${LEASE_TTL_S} s)`);
  t.ok(failover <= LEASE_TTL_S + 10, `new leader within the lease TTL + 10 s slack (${failover.toFixed(1)} s)`);

  const where = await allRunning('all 30 units scheduled once and active', 120_000);
  figure(`scenario 1: all ${N} units active ${((Date.now() - killedAt) / 1000).toFixed(1)} s after the kill`);
  const counts = machineNames.map((m) => `${m}: ${[...where.values()].filter((x) => x === m).length}`);
  t.comment(`placement ${counts.join(', ')}`);
  for (const u of names) t.equal((await registry.getUnit(u))?.currentState, 'launched', `${u} launched`);
  await sleep(3000);
  noViolations(t, 'scenario 1');
});

await t.test('2. a machine powered off: its units run elsewhere; powered on again: nothing moves back', async (t) => {
  const l = await waitFor('an engine leader', leader);
  const victim = (await Promise.all(machineNames.map(async (m) => ({ m, units: await unitsOf(await idOf(m)) }))))
    .filter((x) => x.m !== (fl.names[l.machineId] ?? ''))
    .sort((a, b) => b.units.length - a.units.length)[0]!;
  t.ok(victim.units.length > 0, `${victim.m} runs ${victim.units.length} units`);
  const others = names.filter((u) => !victim.units.includes(u));
  const othersBefore = await pidTable(others);

  const offAt = Date.now();
  await lab.lab.poweroff(victim.m);
  forgetMachine(victim.m);
  await allRunning(`${victim.m}'s units active elsewhere`, 120_000);
  const moved = (Date.now() - offAt) / 1000;
  figure(`scenario 2: ${victim.units.length} units of ${victim.m} active elsewhere ${moved.toFixed(1)} s after poweroff (agent_ttl ${AGENT_TTL_S} s)`);
  t.ok(moved <= AGENT_TTL_S + 25, `moved within agent_ttl + 25 s slack (${moved.toFixed(1)} s)`);
  t.same(await pidTable(others), othersBefore, 'units on the other machines neither moved nor restarted');

  const afterMove = await pidTable(names);
  const onAt = Date.now();
  await lab.lab.poweron(victim.m);
  const victimId = await idOf(victim.m);
  await waitFor(`${victim.m} registered again`, async () => ((await registry.getMachine(victimId)) ? true : undefined), 120_000);
  figure(`scenario 2: ${victim.m} registered again ${((Date.now() - onAt) / 1000).toFixed(1)} s after poweron`);
  // two settling times and more: what would move back would have moved
  await sleep(20_000);
  t.same(await unitsOf(victimId), [], `nothing scheduled back to ${victim.m}`);
  t.same(await pidTable(names), afterMove, 'every unit still where it was, same PID');
  noViolations(t, 'scenario 2');
});

await t.test('3. a machine replaced (new machine-id, same address): only its units move', async (t) => {
  const l = await waitFor('an engine leader', leader);
  const leaderName = await nameOf(l.machineId);
  const candidates = await Promise.all(machineNames.map(async (m) => ({ m, units: await unitsOf(await idOf(m)) })));
  const victim = candidates.filter((x) => x.m !== leaderName && x.units.length > 0).sort((a, b) => b.units.length - a.units.length)[0]
    ?? candidates.filter((x) => x.units.length > 0)[0]!;
  const oldId = await idOf(victim.m);
  const others = names.filter((u) => !victim.units.includes(u));
  const othersBefore = await pidTable(others);

  const at = Date.now();
  const fresh = await lab.lab.replace(victim.m);
  forgetMachine(victim.m);
  t.not(fresh.machineId, oldId, 'a new machine-id');
  await allRunning(`${victim.m}'s ${victim.units.length} units active again`, 120_000);
  const s = await snapshot();
  for (const u of victim.units) t.not(s.target.get(u), oldId, `${u} no longer scheduled to the old id`);
  figure(`scenario 3: ${victim.units.length} units of the replaced ${victim.m} active again ${((Date.now() - at) / 1000).toFixed(1)} s after replace began`);
  await waitFor('the new machine registered', async () => ((await registry.getMachine(fresh.machineId)) ? true : undefined), 60_000);
  t.equal(await registry.getMachine(oldId), undefined, 'the old machine-id is gone from etcd');
  await sleep(10_000);
  t.same(await pidTable(others), othersBefore, 'units on the other machines neither moved nor restarted');
  noViolations(t, 'scenario 3');
});

async function etcdOutage(t: Test, mode: 'restart' | 'freeze', fresh: string): Promise<void> {
  await allRunning('all units active before the freeze', 60_000);
  const before = await pidTable(names);
  const state = await lab.lab.state();
  const proc = state?.etcd?.proc;
  if (!proc) throw new Error('the lab recorded no etcd process');
  let frozen = false;
  if (mode === 'freeze') {
    frozen = signal(proc, 'SIGSTOP');
    t.ok(frozen, `etcd (pid ${proc.pid}) frozen (SIGSTOP)`);
    t.teardown(() => {
      if (frozen) signal(proc, 'SIGCONT');
    });
  } else {
    await stopEtcd(state!.etcd);
    t.notOk(isAlive(proc), `etcd (pid ${proc.pid}) stopped (SIGTERM)`);
  }
  const stoppedAt = Date.now();
  const during: string[] = [];
  while (Date.now() - stoppedAt < 60_000) {
    await sleep(10_000);
    const now = await pidTable(names);
    for (const u of names) if (now.get(u) !== before.get(u)) during.push(`${u}: ${before.get(u)} -> ${now.get(u) ?? 'not running'}`);
  }
  t.same(during, [], 'while etcd was stopped no unit stopped or restarted');
  if (mode === 'freeze') {
    signal(proc, 'SIGCONT');
    frozen = false;
  } else {
    // `up` starts the lab's etcd again on the same data dir and records its pid; fleetd keeps running
    const up = await lab.lab.up({ machines: 3, agentTtl: `${AGENT_TTL_S}s` });
    t.same(up.warnings, [], 'up again: no warning');
  }
  const contAt = Date.now();

  const machineIds = await Promise.all(machineNames.map(idOf));
  await waitFor('every machine registered after the thaw', async () => {
    const live = new Set((await registry.listMachines()).map((m) => m.id));
    return machineIds.every((id) => live.has(id)) || undefined;
  }, 60_000);
  figure(`etcd ${mode}: all machines registered ${((Date.now() - contAt) / 1000).toFixed(1)} s after etcd was back`);
  await waitFor('a leader after the thaw', leader, 60_000);

  const dir = mkdtempSync(join(tmpdir(), 'fault-fresh-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, fresh), serviceText('started after the etcd outage', ['ExecStart=/bin/sleep 300001']));
  const startAt = Date.now();
  const r = await fleetctl(['start', fresh], { env: { ...lab.env }, cwd: dir, timeoutMs: 120_000 });
  t.equal(r.code, 0, `fleetctl start: ${r.stdout}${r.stderr}`);
  const created = await registry.getUnit(fresh);
  t.ok(created, `${fresh} exists in etcd`);
  if (!created) {
    const raw = await client.getAll().prefix(P).keys();
    t.comment(`DIAG fleetctl output ${JSON.stringify(r.stdout + r.stderr)}; keys naming it: ${JSON.stringify(raw.filter((k) => k.includes(fresh)))}`);
  }
  await allRunning('fresh unit active', 60_000, [fresh]);
  figure(`etcd ${mode}: fresh unit active ${((Date.now() - startAt) / 1000).toFixed(1)} s after fleetctl start (${((Date.now() - contAt) / 1000).toFixed(1)} s after etcd was back)`);

  // past two settling times: a unit the engine moved because of the freeze would have been stopped by now
  await sleep(20_000);
  t.same(await pidTable(names), before, 'after the thaw every unit is where it was, same PID');
  noViolations(t, 'scenario 4');
  t.comment(`sampler: ${etcdErrors} failed etcd reads (expected while etcd was stopped)`);
}

await t.test('4. etcd stopped for 60 s and started again on the same data: nothing stops; afterwards fleetctl start works', (t) =>
  etcdOutage(t, 'restart', 'fresh-1.service'));

await t.test('5. a machine cut off beyond agent_ttl: how long its stale copies overlap the moved ones after the heal', async (t) => {
  const l = await waitFor('an engine leader', leader);
  const leaderName = await nameOf(l.machineId);
  const candidates = await Promise.all(machineNames.map(async (m) => ({ m, units: await unitsOf(await idOf(m)) })));
  const victim = candidates.filter((x) => x.m !== leaderName && x.units.length > 0).sort((a, b) => b.units.length - a.units.length)[0]!;
  const victimId = await idOf(victim.m);
  const stale = await pidsOn(victim.m);
  const cutAt = Date.now();
  await lab.lab.cut(victim.m);
  let healed = false;
  t.teardown(async () => {
    if (!healed) await lab.lab.heal(victim.m);
  });
  await waitFor(`${victim.m}'s units scheduled elsewhere`, async () => {
    const snap = await snapshot();
    return victim.units.every((u) => snap.target.has(u) && snap.target.get(u) !== victimId) || undefined;
  }, 120_000);
  await allRunning(`${victim.m}'s units active elsewhere`, 120_000, victim.units);
  const replacedAt = Date.now();
  figure(`scenario 5: ${victim.units.length} units of the cut ${victim.m} active elsewhere ${((replacedAt - cutAt) / 1000).toFixed(1)} s after the cut (overlap begins)`);
  const still = await pidsOn(victim.m);
  for (const u of victim.units) t.equal(still.get(u), stale.get(u), `cut: the stale copy of ${u} still runs on ${victim.m}`);

  await lab.lab.heal(victim.m);
  healed = true;
  const healAt = Date.now();
  await waitFor(`${victim.m} registered again`, async () => ((await registry.getMachine(victimId)) ? true : undefined), 60_000);
  const regAt = Date.now();
  await waitFor(`stale copies stopped on ${victim.m}`, async () => {
    const now = await pidsOn(victim.m);
    return victim.units.some((u) => now.has(u)) ? undefined : true;
  }, 120_000);
  const goneAt = Date.now();
  figure(`scenario 5: after the heal ${victim.m} registered in ${((regAt - healAt) / 1000).toFixed(1)} s; its stale copies were stopped ${((goneAt - healAt) / 1000).toFixed(1)} s after the heal (overlap ${((goneAt - replacedAt) / 1000).toFixed(1)} s in all)`);
  await allRunning('every unit active once', 60_000);
  noViolations(t, 'scenario 5');
});

await t.test('6. etcd frozen (SIGSTOP) for 60 s: nothing stops; afterwards fleetctl start works', (t) =>
  etcdOutage(t, 'freeze', 'fresh-2.service'));

t.test('figures', async (t) => {
  t.comment(figures.join('\n'));
  t.pass();
});
