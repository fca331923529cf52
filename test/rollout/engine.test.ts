/**
 * Rolling updates driven by the engine leader (fleetd/engine/rollout.ts) on a real etcd, with three in-process
 * fleetd members (in-memory unit manager) and two engines: max-unavailable holds at every sample, every unit ends
 * on the new text; a failing text is rolled back after the first unit, the others never stop; pause, resume and
 * abort; the leader killed mid-rollout and a new one finishes it; a machine leaving mid-rollout; the text GC keeps a
 * running rollout's texts.
 */
import t, { type Test } from 'tap';
import { startEtcd } from '../harness/etcd.js';
import { sleep, waitFor } from '../harness/wait.js';
import { Keyspace } from '../../lib/registry/index.js';
import { RolloutRefusedError } from '../../lib/registry/index.js';
import { RolloutCluster, Sampler, unitOf, webText } from './helpers.js';

const etcd = await startEtcd(t);
const NAMES = [1, 2, 3, 4, 5, 6].map((i) => `web@${i}.service`);

async function cluster(t: Test, engines = 1): Promise<RolloutCluster> {
  const c = new RolloutCluster(etcd, t);
  for (const id of ['m1', 'm2', 'm3']) await c.addMachine(id);
  for (let i = 1; i <= engines; i++) await c.f.startEngine(`e${i}`, { reconcileIntervalMs: 1000 });
  await c.f.waitLeader();
  await c.launch(NAMES.map((n) => unitOf(n, webText('v1'))));
  return c;
}

const OPTS = { maxUnavailable: 1, minHealthyMs: 500, deadlineMs: 10_000, rollback: true };

t.test('six units, max-unavailable 1: never fewer than five active; all end on the new text', async (t) => {
  const c = await cluster(t);
  const v2 = NAMES.map((n) => unitOf(n, webText('v2')));
  const s = new Sampler(c, NAMES);
  const spec = await c.f.registry.createRollout({ units: v2, ...OPTS });
  t.equal(spec.units.length, 6);
  const end = await c.waitPhase(spec.id, ['succeeded', 'failed', 'rolled-back']);
  s.stop();
  t.equal(end.status!.phase, 'succeeded');
  t.equal(s.minActive, 5, `never fewer than 5 active (${s.samples} samples)`);
  for (const u of v2) {
    t.equal(c.running(u.name), u.text, `${u.name} runs the new text`);
    t.equal((await c.f.registry.getUnit(u.name))?.hash, u.hash);
  }
  const starts = NAMES.map((n) => end.status!.units[n]!.since!);
  for (let i = 1; i < 6; i++) t.ok(starts[i]! >= starts[i - 1]! + 500, `${NAMES[i]} replaced after ${NAMES[i - 1]} was healthy 500 ms`);
  await t.rejects(
    c.f.registry.createRollout({ units: v2, ...OPTS }),
    { name: 'RolloutRefusedError', message: /nothing to roll out/ },
    'the same text again: nothing to do',
  );
});

t.test('a new text that fails: stops after the first unit and rolls it back; the other five never stop', async (t) => {
  const c = await cluster(t);
  const bad = NAMES.map((n) => unitOf(n, webText('v2 FAILS')));
  const s = new Sampler(c, NAMES);
  const spec = await c.f.registry.createRollout({ units: bad, ...OPTS });
  const end = await c.waitPhase(spec.id, ['succeeded', 'failed', 'rolled-back']);
  await waitFor('web@1 back on the old text', () => c.running('web@1.service') === webText('v1') || undefined, 10_000);
  s.stop();
  t.equal(end.status!.phase, 'rolled-back');
  t.match(end.status!.failure, { unit: 'web@1.service', machine: /^m[123]$/, reason: /failed/ });
  t.same([...s.everDown], ['web@1.service'], 'only the first unit ever stopped');
  for (const n of NAMES) t.equal((await c.f.registry.getUnit(n))?.hash, unitOf(n, webText('v1')).hash, `${n} on its old text`);
  t.equal(await c.f.client.get(new Keyspace(c.f.prefix).rolloutLock('web@1.service')).string(), null, 'locks released');
});

t.test('a unit that crashes a second after starting is caught by the minimum healthy time and rolled back', async (t) => {
  const c = await cluster(t);
  const spec = await c.f.registry.createRollout({ units: NAMES.map((n) => unitOf(n, webText('v2 CRASHES'))), ...OPTS, minHealthyMs: 3000 });
  const end = await c.waitPhase(spec.id, ['succeeded', 'failed', 'rolled-back']);
  t.equal(end.status!.phase, 'rolled-back');
  t.match(end.status!.failure, { unit: 'web@1.service', reason: /failed|stopped being active/ });
});

t.test('pause holds, resume continues, a second rollout of the same units is refused, abort stops for good', async (t) => {
  const c = await cluster(t);
  const v2 = NAMES.map((n) => unitOf(n, webText('v2')));
  const spec = await c.f.registry.createRollout({ units: v2, ...OPTS, minHealthyMs: 300 });
  await c.f.registry.controlRollout(spec.id, 'pause');
  const paused = await c.waitPhase(spec.id, ['paused']);
  const replaced = (r: typeof paused) => Object.values(r.status!.units).filter((u) => u.state !== 'pending').length;
  const n = replaced(paused);
  await sleep(1500);
  t.equal(replaced((await c.f.registry.getRollout(spec.id))!), n, 'nothing more replaced while paused');
  await t.rejects(c.f.registry.createRollout({ units: v2.slice(0, 2), ...OPTS }), RolloutRefusedError, 'a unit in a running rollout');
  await c.f.registry.controlRollout(spec.id, 'resume');
  await waitFor('more replaced', async () => replaced((await c.f.registry.getRollout(spec.id))!) > n, 10_000);
  await c.f.registry.controlRollout(spec.id, 'abort');
  const end = await c.waitPhase(spec.id, ['aborted']);
  const count = replaced(end);
  t.ok(count < 6, `stopped part way (${count} replaced)`);
  await sleep(1000);
  t.equal(replaced((await c.f.registry.getRollout(spec.id))!), count, 'nothing after the abort');
  t.equal((await c.f.registry.getUnit('web@6.service'))?.hash, unitOf('web@6.service', webText('v1')).hash, 'the last unit untouched');
  await t.resolves(c.f.registry.createRollout({ units: v2, ...OPTS, minHealthyMs: 0 }), 'an aborted rollout holds no unit');
});

t.test('the leader killed mid-rollout: another engine completes it from etcd alone', async (t) => {
  const c = await cluster(t, 2);
  const v2 = NAMES.map((n) => unitOf(n, webText('v2')));
  const s = new Sampler(c, NAMES);
  const spec = await c.f.registry.createRollout({ units: v2, ...OPTS });
  const leader = await c.f.waitLeader();
  await waitFor('two units healthy', async () => {
    const r = await c.f.registry.getRollout(spec.id);
    return Object.values(r?.status?.units ?? {}).filter((u) => u.state === 'healthy').length >= 2;
  }, 20_000);
  leader.kill();
  const next = await c.f.waitLeader(20_000, leader);
  t.not(next.id, leader.id, 'a new leader');
  const end = await c.waitPhase(spec.id, ['succeeded', 'failed', 'rolled-back'], 40_000);
  s.stop();
  t.equal(end.status!.phase, 'succeeded');
  t.equal(s.minActive, 5, 'never fewer than 5 active across the leader change');
  for (const u of v2) t.equal(c.running(u.name), u.text);
  t.ok(next.engine.rollouts.stats.steps > 0, 'the new leader stepped it');
});

t.test('a machine leaves mid-rollout: its units move, are replaced and awaited on their new machine; the rollout completes', async (t) => {
  const c = await cluster(t);
  const v2 = NAMES.map((n) => unitOf(n, webText('v2')));
  const spec = await c.f.registry.createRollout({ units: v2, ...OPTS });
  await waitFor('one unit healthy', async () => {
    const r = await c.f.registry.getRollout(spec.id);
    return Object.values(r?.status?.units ?? {}).some((u) => u.state === 'healthy') || undefined;
  }, 20_000);
  // the machine of the last unit (still pending) leaves: its lease is revoked, its unit states go with it
  const where = (await c.f.registry.getUnit('web@6.service'))?.machineId;
  const leaving = c.machines.find((m) => m.id === where)!;
  await leaving.member.stop({ unloadAll: false, revoke: true });
  const end = await c.waitPhase(spec.id, ['succeeded', 'failed', 'rolled-back'], 40_000);
  t.equal(end.status!.phase, 'succeeded');
  const states = await c.f.registry.listUnitStates();
  for (const u of v2) {
    t.equal((await c.f.registry.getUnit(u.name))?.hash, u.hash, `${u.name} on the new text`);
    const s = states.find((x) => x.name === u.name && x.machineId !== leaving.id);
    t.match(s, { hash: u.hash, activeState: 'active' }, `${u.name} active on a machine still there`);
  }
});

t.test('the text collection keeps the texts of an unfinished rollout', async (t) => {
  const c = new RolloutCluster(etcd, t);
  const v1 = unitOf('web@1.service', webText('v1'));
  const v2 = unitOf('web@1.service', webText('v2'));
  await c.f.registry.createUnit({ ...v1, desiredState: 'launched', global: false });
  await c.f.registry.createRollout({ units: [v2], ...OPTS });
  // no engine: the rollout never starts, and its new text is referenced by nothing but the rollout
  const k = new Keyspace(c.f.prefix);
  await c.f.registry.collectUnitTexts();
  const r = await c.f.registry.collectUnitTexts();
  t.same(r.removed, []);
  t.not(await c.f.client.get(k.unit(v2.hash)).string(), null, 'the new text is kept');
});
