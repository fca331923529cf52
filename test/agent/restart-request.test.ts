/**
 * The agent's side of a rolling restart of a global unit (fleetctl restart): a pending request for this machine
 * restarts the launched unit once and is settled; a request for another machine, or for a loaded unit, is not
 * acted on; a fleetd that starts with a request pending adopts it as answered and restarts nothing.
 * In memory (lib/registry/fake.ts, fleetd/agent/memory-unit-manager.ts), on a manual clock.
 */
import t, { type Test } from 'tap';
import { ManualClock } from '../../lib/clock.js';
import { FakeRegistry } from '../../lib/registry/fake.js';
import { Agent } from '../../fleetd/agent/agent.js';
import { MemoryUnitManager } from '../../fleetd/agent/memory-unit-manager.js';
import type { AgentPresence } from '../../fleetd/agent/ports.js';
import type { DesiredState } from '../../lib/unit/types.js';

const ME = 'machine-1';
const GLOBAL = '[Service]\nExecStart=/bin/sleep infinity\n\n[X-Fleet]\nGlobal=true\n';
const presence: AgentPresence = { machineId: ME, ttlSeconds: 30, silentMs: 0, alive: true };

function setup(t: Test, registry = new FakeRegistry(), manager?: MemoryUnitManager) {
  const clock = new ManualClock();
  const m = manager ?? new MemoryUnitManager({ clock });
  const agent = new Agent({ registry, presence, manager: m, metadata: () => ({}), reconcileIntervalMs: 5000, rejoinSettleMs: 20_000, clock });
  t.teardown(() => agent.stop({ unloadAll: false }));
  return { clock, registry, manager: m, agent };
}

function global(registry: FakeRegistry, desiredState: DesiredState, restartRequests?: Record<string, string>): void {
  const hash = registry.addUnitText('g.service', GLOBAL);
  registry.setGlobal({ name: 'g.service', hash, desiredState, ...(restartRequests ? { restartRequests } : {}) });
}

t.test('a restart request for this machine restarts the launched unit once and settles done', async (t) => {
  const { clock, registry, manager, agent } = setup(t);
  global(registry, 'launched');
  await agent.start();
  await clock.advance(0);
  t.equal(manager.snapshot().get('g.service')?.activeState, 'active');
  const before = { ...manager.stats };

  global(registry, 'launched', { 'other-machine': 'aa' });
  await clock.advance(0);
  t.same([manager.stats.stops, manager.stats.starts], [before.stops, before.starts], 'another machine\'s request: nothing here');

  global(registry, 'launched', { [ME]: 'b1' });
  await clock.advance(0);
  await clock.advance(0);
  t.same([manager.stats.stops, manager.stats.starts], [before.stops + 1, before.starts + 1], 'stopped and started once');
  t.equal(manager.snapshot().get('g.service')?.activeState, 'active', 'running again');
  t.same(registry.restartOutcome(ME, 'g.service'), { token: 'b1', status: 'done' }, 'settled');

  await clock.advance(5000);
  t.same([manager.stats.stops, manager.stats.starts], [before.stops + 1, before.starts + 1], 'not restarted again by later passes');
});

t.test('a loaded global unit is not started by a restart request', async (t) => {
  const { clock, registry, manager, agent } = setup(t);
  global(registry, 'loaded', { [ME]: 'c1' });
  await agent.start();
  await clock.advance(0);
  await clock.advance(5000);
  t.not(manager.snapshot().get('g.service')?.activeState, 'active', 'still not running');
  t.equal(registry.restartOutcome(ME, 'g.service'), undefined, 'left pending');
});

t.test('a fleetd that starts with a request pending adopts it as answered: nothing restarts', async (t) => {
  const registry = new FakeRegistry();
  const first = setup(t, registry);
  global(registry, 'launched');
  await first.agent.start();
  await first.clock.advance(0);
  await first.agent.stop({ unloadAll: false });

  global(registry, 'launched', { [ME]: 'd1' });
  const second = setup(t, registry, first.manager);
  const before = { ...first.manager.stats };
  await second.agent.start();
  await second.clock.advance(0);
  await second.clock.advance(0);
  t.same([first.manager.stats.stops, first.manager.stats.starts - before.starts <= 1], [before.stops, true], 'never stopped');
  t.same(registry.restartOutcome(ME, 'g.service'), { token: 'd1', status: 'done' }, 'settled done');
});
