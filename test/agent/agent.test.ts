/**
 * The real Agent without root or etcd: the in-memory registry (lib/registry/fake.ts) plays etcd and the engine,
 * the in-memory unit manager (fleetd/agent/memory-unit-manager.ts) plays systemd, and a manual clock drives the
 * periodic passes, the at-risk checks and the rejoin hold, so each step is deterministic and takes no real time.
 */
import t, { type Test } from 'tap';
import { ManualClock } from '../../lib/clock.js';
import { FakeRegistry } from '../../lib/registry/fake.js';
import { Agent } from '../../fleetd/agent/agent.js';
import { MemoryUnitManager } from '../../fleetd/agent/memory-unit-manager.js';
import { AT_RISK_SHARE, atRiskCheckMs } from '../../fleetd/agent/presence.js';
import type { AgentPresence } from '../../fleetd/agent/ports.js';

const ME = 'machine-1';
const TTL_S = 30;
const SETTLE_MS = 20_000;
const INTERVAL_MS = 5000;
const PLAIN = '[Service]\nExecStart=/bin/sleep infinity\n';
const SOD = '[Service]\nExecStart=/bin/sleep infinity\n\n[X-Fleet]\nStopOnDisconnect=true\n';

/** The machine's registration: keep-alives succeed until the test says they fail; `alive` false once lost. */
class TestPresence implements AgentPresence {
  readonly machineId = ME;
  readonly ttlSeconds = TTL_S;
  alive = true;
  private failingSince: number | undefined;
  constructor(private readonly clock: ManualClock) {}
  get silentMs(): number {
    if (!this.alive) return Infinity;
    return this.failingSince === undefined ? 0 : this.clock.now() - this.failingSince;
  }
  keepAlivesFail(): void {
    this.failingSince = this.clock.now();
  }
  keepAlivesSucceed(): void {
    this.failingSince = undefined;
  }
}

function setup(t: Test) {
  const clock = new ManualClock();
  const registry = new FakeRegistry();
  const manager = new MemoryUnitManager({ clock });
  const presence = new TestPresence(clock);
  const agent = new Agent({ registry, presence, manager, metadata: () => ({}), reconcileIntervalMs: INTERVAL_MS, rejoinSettleMs: SETTLE_MS, clock });
  t.teardown(() => agent.stop({ unloadAll: false }));
  const schedule = (name: string, text: string, state: 'loaded' | 'launched' = 'launched'): string => {
    const hash = registry.addUnitText(name, text);
    registry.schedule(ME, name, hash, state);
    return hash;
  };
  const active = (name: string): string | undefined => manager.snapshot().get(name)?.activeState;
  return { clock, registry, manager, presence, agent, schedule, active };
}

t.test('a unit scheduled here is started and published; unscheduled, it is stopped and its state removed', async (t) => {
  const { clock, registry, agent, schedule, active } = setup(t);
  const hash = schedule('web.service', PLAIN);
  await agent.start();
  await clock.advance(0);
  t.equal(active('web.service'), 'active', 'started');
  t.same(registry.unitState(ME, 'web.service'), {
    name: 'web.service', machineId: ME, hash, loadState: 'loaded', activeState: 'active', subState: 'running', agentState: 'launched',
  }, 'its state published');
  t.equal(agent.units().get('web.service')?.state, 'launched');

  registry.schedule(ME, 'web.service', hash, 'loaded');
  await clock.advance(0);
  t.equal(active('web.service'), 'inactive', 'desired loaded: stopped, kept loaded');
  t.equal(registry.unitState(ME, 'web.service')?.agentState, 'loaded');

  registry.unschedule('web.service');
  await clock.advance(0);
  t.equal(active('web.service'), undefined, 'unscheduled: unloaded');
  t.equal(registry.unitState(ME, 'web.service'), undefined, 'its state removed');
  t.equal(agent.units().size, 0);
});

t.test('keep-alives failing: StopOnDisconnect units stop once silent for more than the share of the TTL, others run on', async (t) => {
  const { clock, presence, registry, agent, schedule, active } = setup(t);
  schedule('sod.service', SOD);
  schedule('web.service', PLAIN);
  await agent.start();
  await clock.advance(0);
  t.equal(active('sod.service'), 'active');
  presence.keepAlivesFail();
  const fenceMs = TTL_S * 1000 * AT_RISK_SHARE;
  await clock.advance(fenceMs);
  t.equal(active('sod.service'), 'active', `still running after ${fenceMs} ms without a keep-alive`);
  await clock.advance(atRiskCheckMs(TTL_S));
  t.equal(active('sod.service'), 'inactive', 'stopped within one at-risk check after that, before the lease expires');
  t.equal(registry.unitState(ME, 'sod.service')?.agentState, 'loaded', 'published as loaded');
  t.equal(active('web.service'), 'active', 'a unit without StopOnDisconnect keeps running');
  presence.keepAlivesSucceed();
  await clock.advance(atRiskCheckMs(TTL_S));
  t.equal(active('sod.service'), 'active', 'keep-alives succeed again: started again');
});

t.test('presence lost: nothing is unloaded; rejoined: states republished, moved units stop at once, the rest after the hold', async (t) => {
  const { clock, presence, registry, agent, schedule, active } = setup(t);
  schedule('moved.service', PLAIN);
  schedule('dropped.service', PLAIN);
  schedule('stays.service', PLAIN);
  schedule('sod.service', SOD);
  await agent.start();
  await clock.advance(0);

  presence.alive = false;
  agent.presenceLost();
  await clock.advance(0);
  t.equal(active('sod.service'), 'inactive', 'StopOnDisconnect unit stopped at once');
  // meanwhile the engine moves one unit to another machine and unschedules another; the lease expires
  registry.unschedule('moved.service', 'machine-2');
  registry.unschedule('dropped.service');
  registry.expireMachine(ME);
  await clock.advance(10 * INTERVAL_MS);
  for (const u of ['moved.service', 'dropped.service', 'stays.service']) t.equal(active(u), 'active', `${u}: kept while the presence is lost`);

  presence.alive = true;
  await agent.rejoined();
  await clock.advance(0);
  t.equal(active('moved.service'), undefined, 'placed on another machine meanwhile: unloaded at once');
  t.equal(active('dropped.service'), 'active', 'unscheduled: held while the engine may place it here again');
  t.equal(active('sod.service'), 'active', 'StopOnDisconnect unit started again');
  t.equal(registry.unitState(ME, 'stays.service')?.activeState, 'active', 'states published again under the new lease');
  t.equal(registry.unitState(ME, 'dropped.service')?.activeState, 'active');
  await clock.advance(SETTLE_MS - 100);
  t.equal(active('dropped.service'), 'active', 'still held just before the hold ends');
  await clock.advance(200);
  t.equal(active('dropped.service'), undefined, 'unloaded once the hold ended');
  t.equal(registry.unitState(ME, 'dropped.service'), undefined);
  t.equal(active('stays.service'), 'active');
});

t.test('a reconcile that fails (etcd unreachable) is retried', async (t) => {
  const { clock, registry, agent, schedule, active } = setup(t);
  await agent.start();
  await clock.advance(0);
  registry.unreachable = true;
  schedule('web.service', PLAIN);
  await clock.advance(0);
  t.equal(active('web.service'), undefined, 'unit text unreadable: not loaded');
  registry.unreachable = false;
  await clock.advance(2000);
  t.equal(active('web.service'), 'active', 'retried without a new trigger, before the periodic pass');
});

t.test('Reschedule=on-failure: a failed unit that opted in is recorded once; activating, or without the option, is not', async (t) => {
  const { clock, registry, manager, agent, schedule } = setup(t);
  const RESCHED = '[Service]\nExecStart=/bin/false\n\n[X-Fleet]\nReschedule=on-failure\nRescheduleAttempts=2\n';
  const hash = schedule('flaky.service', RESCHED);
  schedule('plain.service', PLAIN);
  await agent.start();
  await clock.advance(0);
  t.equal(registry.failure(ME, 'flaky.service'), undefined, 'running: nothing recorded');
  manager.fail('plain.service');
  manager.fail('flaky.service');
  await clock.advance(0);
  await clock.advance(0);
  const f = registry.failure(ME, 'flaky.service');
  t.match(f, { name: 'flaky.service', hash, attempts: 2 }, 'the failure is recorded with its contents and attempts');
  t.ok(f && !Number.isNaN(Date.parse(f.at)), 'and when');
  t.equal(registry.failure(ME, 'plain.service'), undefined, 'a unit without the option: nothing recorded');
  t.equal(registry.stats.failures, 1);
  manager.fail('flaky.service');
  await clock.advance(INTERVAL_MS);
  await clock.advance(0);
  t.equal(registry.stats.failures, 1, 'one write per failure, not per state change or reconcile');
  t.equal(registry.unitState(ME, 'flaky.service')?.activeState, 'failed', 'its failed state is published as usual');
});

t.test('Reschedule=on-failure: a unit that is only slow to start (activating) is never recorded', async (t) => {
  const clock = new ManualClock();
  const registry = new FakeRegistry();
  const manager = new MemoryUnitManager({ clock, startDelayMs: 60_000 });
  const presence = new TestPresence(clock);
  const agent = new Agent({ registry, presence, manager, metadata: () => ({}), reconcileIntervalMs: INTERVAL_MS, rejoinSettleMs: SETTLE_MS, clock });
  t.teardown(() => agent.stop({ unloadAll: false }));
  const hash = registry.addUnitText('slow.service', '[Service]\nExecStart=/bin/sleep 1d\n\n[X-Fleet]\nReschedule=on-failure\n');
  registry.schedule(ME, 'slow.service', hash, 'launched');
  await agent.start();
  await clock.advance(0);
  await clock.advance(INTERVAL_MS * 3);
  t.equal(manager.snapshot().get('slow.service')?.activeState, 'activating');
  t.equal(registry.stats.failures, 0, 'activating for a long time is not a failure');
  manager.fail('slow.service');
  await clock.advance(0);
  await clock.advance(0);
  t.equal(registry.stats.failures, 1, 'failed is');
});

t.test('units scheduled together: their texts are read with one request and their states written with one', async (t) => {
  const { clock, registry, agent, schedule, active } = setup(t);
  const names = Array.from({ length: 20 }, (_, i) => `u${String(i).padStart(2, '0')}.service`);
  for (const [i, n] of names.entries()) schedule(n, `[Service]\nExecStart=/bin/sleep ${1000 + i}\n`);
  await agent.start();
  await clock.advance(0);
  t.ok(names.every((n) => active(n) === 'active'), 'all started');
  t.ok(names.every((n) => registry.unitState(ME, n)?.activeState === 'active'), 'all published as active');
  t.equal(registry.stats.textRequests, 1, 'one text request for 20 units');
  t.equal(registry.stats.textReads, 20);
  t.equal(registry.stats.publishRequests, 1, 'one state write for 20 launches');
  t.equal(registry.stats.publishes, 20, 'one state per unit: launched and active, nothing on the way');
});
