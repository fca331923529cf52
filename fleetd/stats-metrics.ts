/**
 * The engine's and the agent's counters on /metrics, under fleet v1.0's metric names where fleet had one
 * (fleet_engine_*), plus what fleet did not measure (elections, fenced writes, pending units, agent tasks).
 */
import type { MetricsRegistry } from './api/metrics.js';
import type { Agent } from './agent/agent.js';
import type { Engine } from './engine/engine.js';

export function exportEngineStats(m: MetricsRegistry, engine: Engine): void {
  const s = engine.stats;
  m.gauge('fleet_engine_leader_start_time', 'When this engine\'s current leadership term began (seconds since the epoch), 0 when not leading.')
    .sample(() => s.leaderSince / 1000);
  m.counter('fleet_engine_reconcile_count_total', 'Scheduling passes run while leading.').sample(() => s.reconciles);
  m.counter('fleet_engine_reconcile_failure_count_total', 'Scheduling passes that failed (etcd errors, unit texts unreadable, fenced).')
    .sample(() => s.reconcileFailures);
  const duration = m.histogram('fleet_engine_reconcile_duration_second', 'Duration of scheduling passes in seconds.');
  engine.on('pass', (r) => duration.observe(r.durationMs / 1000));
  m.counter('fleet_engine_task_count_total', 'Schedule changes (place, move, unschedule, entry sync) written.').sample(() => s.opsApplied);
  m.counter('fleet_engine_task_failure_count_total', 'Schedule changes etcd refused because their preconditions no longer held (retried).')
    .sample(() => s.opsFailed);
  m.counter('fleet_engine_election_count_total', 'Times this engine became the leader.').sample(() => s.elections);
  m.counter('fleet_engine_fenced_write_count_total', 'Schedule writes refused because this engine was no longer the leader.')
    .sample(() => s.fencedWrites);
  m.gauge('fleet_engine_units_pending', 'Units that should run but have no machine after the last pass (0 when not leading).')
    .sample(() => s.pending);
}

export function exportAgentStats(m: MetricsRegistry, agent: Agent): void {
  const s = agent.stats;
  m.counter('fleet_agent_reconcile_count_total', 'Agent reconciliations of this machine\'s units.').sample(() => s.reconciles);
  m.counter('fleet_agent_task_count_total', 'Agent tasks run (write, load, start, stop, unload a unit).').sample(() => s.tasks);
  m.counter('fleet_agent_task_failure_count_total', 'Agent tasks that failed (retried by a later reconciliation).').sample(() => s.taskFailures);
}
