/**
 * The agent's side of a per-machine hash override of a global unit (Registry.setGlobalMachineHash, the step a
 * rolling update of a Global unit takes machine by machine): only the agent of the overridden machine switches to
 * the override's text (stop, new file, start: the replace path of a changed unit), publishes that hash in its
 * unit state, and switches back when the override is removed; the other machine's unit is left alone.
 * In memory (lib/registry/fake.ts, fleetd/agent/memory-unit-manager.ts), on a manual clock.
 */
import { createHash } from 'node:crypto';
import t, { type Test } from 'tap';
import { ManualClock } from '../../lib/clock.js';
import { FakeRegistry } from '../../lib/registry/fake.js';
import { Agent } from '../../fleetd/agent/agent.js';
import { MemoryUnitManager } from '../../fleetd/agent/memory-unit-manager.js';
import type { AgentPresence } from '../../fleetd/agent/ports.js';

const V1 = '[Service]\nExecStart=/bin/sleep infinity\n\n[X-Fleet]\nGlobal=true\n';
const V2 = '[Service]\nExecStart=/bin/sleep 99999\n\n[X-Fleet]\nGlobal=true\n';

/** The manager's hash of a file it was given: sha1 of the text as written. */
const fileHash = (text: string): string => createHash('sha1').update(text).digest('hex');

function machine(t: Test, registry: FakeRegistry, clock: ManualClock, machineId: string) {
  const presence: AgentPresence = { machineId, ttlSeconds: 30, silentMs: 0, alive: true };
  const manager = new MemoryUnitManager({ clock });
  const agent = new Agent({ registry, presence, manager, metadata: () => ({}), reconcileIntervalMs: 5000, rejoinSettleMs: 20_000, clock });
  t.teardown(() => agent.stop({ unloadAll: false }));
  return { machineId, manager, agent };
}

async function settle(clock: ManualClock): Promise<void> {
  for (let i = 0; i < 4; i++) await clock.advance(0);
}

t.test('only the overridden machine runs the override\'s text, and goes back when it is removed', async (t) => {
  const registry = new FakeRegistry();
  const clock = new ManualClock();
  const a = machine(t, registry, clock, 'machine-a');
  const b = machine(t, registry, clock, 'machine-b');
  const h1 = registry.addUnitText('g.service', V1);
  const h2 = registry.addUnitText('g.service', V2);
  registry.setGlobal({ name: 'g.service', hash: h1, desiredState: 'launched' });
  await a.agent.start();
  await b.agent.start();
  await settle(clock);
  for (const m of [a, b]) {
    t.equal((await m.manager.inventory()).get('g.service')?.hash, fileHash(V1), `${m.machineId} runs v1`);
    t.equal(registry.unitState(m.machineId, 'g.service')?.hash, h1, `${m.machineId} publishes v1`);
  }
  const bBefore = { ...b.manager.stats };
  const aBefore = { ...a.manager.stats };

  await registry.setGlobalMachineHash('g.service', 'machine-a', h2);
  await settle(clock);
  t.equal((await a.manager.inventory()).get('g.service')?.hash, fileHash(V2), 'machine-a runs v2');
  t.equal(a.manager.snapshot().get('g.service')?.activeState, 'active', 'and it is running (same desired state)');
  t.equal(registry.unitState('machine-a', 'g.service')?.hash, h2, 'machine-a publishes v2');
  t.equal(a.manager.stats.loads, aBefore.loads + 1, 'machine-a loaded the new file');
  t.equal(a.manager.stats.starts, aBefore.starts + 1, 'and started it');
  t.equal((await b.manager.inventory()).get('g.service')?.hash, fileHash(V1), 'machine-b still runs v1');
  t.equal(registry.unitState('machine-b', 'g.service')?.hash, h1, 'machine-b publishes v1');
  t.same(b.manager.stats, bBefore, 'machine-b did nothing');

  await clock.advance(5000);
  await settle(clock);
  t.equal(a.manager.stats.loads, aBefore.loads + 1, 'later passes do not switch again');

  await registry.setGlobalMachineHash('g.service', 'machine-a', null);
  await settle(clock);
  t.equal((await a.manager.inventory()).get('g.service')?.hash, fileHash(V1), 'cleared: machine-a runs v1 again');
  t.equal(a.manager.snapshot().get('g.service')?.activeState, 'active');
  t.equal(registry.unitState('machine-a', 'g.service')?.hash, h1, 'machine-a publishes v1 again');
  t.same(b.manager.stats, bBefore, 'machine-b still did nothing');
});

t.test('the override keeps the unit\'s desired state: a loaded global unit is loaded with the new text, not started', async (t) => {
  const registry = new FakeRegistry();
  const clock = new ManualClock();
  const a = machine(t, registry, clock, 'machine-a');
  const h1 = registry.addUnitText('g.service', V1);
  const h2 = registry.addUnitText('g.service', V2);
  registry.setGlobal({ name: 'g.service', hash: h1, desiredState: 'loaded' });
  await a.agent.start();
  await settle(clock);
  await registry.setGlobalMachineHash('g.service', 'machine-a', h2);
  await settle(clock);
  t.equal((await a.manager.inventory()).get('g.service')?.hash, fileHash(V2), 'v2 loaded');
  t.not(a.manager.snapshot().get('g.service')?.activeState, 'active', 'not started');
  t.same({ hash: registry.unitState('machine-a', 'g.service')?.hash, agentState: registry.unitState('machine-a', 'g.service')?.agentState }, { hash: h2, agentState: 'loaded' });

  registry.setGlobal({ name: 'g.service', remove: true });
  await settle(clock);
  t.equal((await a.manager.inventory()).get('g.service'), undefined, 'destroyed: unloaded');
  registry.setGlobal({ name: 'g.service', hash: h1, desiredState: 'loaded' });
  await settle(clock);
  t.equal((await a.manager.inventory()).get('g.service')?.hash, fileHash(V1), 'submitted again: the override went with the unit');
});
