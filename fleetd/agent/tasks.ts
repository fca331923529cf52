/**
 * The agent's reconcile step as a pure function: what this machine should run versus what it runs, to an
 * ordered task list. Order as fleet: unload, load, one daemon reload, stop, start; by unit name within a kind.
 * Then `retry`: a launched unit whose start was requested again (`fleetctl start` of a failed unit, fleet #1091)
 * is reset and started again, once per request. `restart`: a launched global unit with a new rolling-restart
 * request for this machine (`fleetctl restart`) is stopped and started once per request.
 */
import { compareStrings } from '../../lib/compare.js';
import { shortHash } from '../../lib/unit/index.js';

export type AgentState = 'loaded' | 'launched';

export interface DesiredUnit {
  readonly name: string;
  readonly hash: string;
  readonly state: AgentState;
  /** The latest start request for the unit here (registry ScheduleEntry.startRequest), if any. */
  readonly startRequest?: string;
  /** The pending rolling-restart request of a global unit for this machine (GlobalUnitEntry.restartRequests). */
  readonly restartRequest?: string;
}

export interface CurrentUnit {
  readonly name: string;
  /** hash of the unit file on disk */
  readonly hash: string;
  readonly state: AgentState;
  /** The start request this agent last acted on (or found when it adopted the unit). */
  readonly startRequest?: string;
  /** The restart request this agent last acted on (or found when it adopted the unit). */
  readonly restartRequest?: string;
}

/**
 * `retry`: reset the unit's failed state and start it (a no-op for a unit that runs). `restart`: stop and start a
 * running unit once (it answers a pending start request too).
 */
export type TaskKind = 'unload' | 'load' | 'reload' | 'stop' | 'start' | 'restart' | 'retry';

export interface Task {
  readonly kind: TaskKind;
  /** absent only for reload */
  readonly unit?: string;
  readonly reason: string;
}

const ORDER: Record<TaskKind, number> = { unload: 1, load: 2, reload: 3, stop: 4, start: 5, restart: 6, retry: 7 };

export function agentTasks(
  desired: ReadonlyMap<string, DesiredUnit>,
  current: ReadonlyMap<string, CurrentUnit>,
): Task[] {
  const tasks: Task[] = [];
  for (const [name, cur] of current) {
    const want = desired.get(name);
    if (!want) {
      tasks.push({ kind: 'unload', unit: name, reason: 'unit no longer scheduled here' });
    } else if (want.hash !== cur.hash) {
      tasks.push({ kind: 'unload', unit: name, reason: `unit content changed (${shortHash(cur.hash)} -> ${shortHash(want.hash)})` });
      tasks.push({ kind: 'load', unit: name, reason: 'load the new content' });
      if (want.state === 'launched') tasks.push({ kind: 'start', unit: name, reason: 'start the new content' });
    } else if (want.state === 'launched' && cur.state !== 'launched') {
      tasks.push({ kind: 'start', unit: name, reason: 'unit should be launched' });
    } else if (want.state === 'loaded' && cur.state === 'launched') {
      tasks.push({ kind: 'stop', unit: name, reason: 'unit should be loaded, not launched' });
    } else if (want.state === 'launched' && want.restartRequest !== undefined && want.restartRequest !== cur.restartRequest) {
      tasks.push({ kind: 'restart', unit: name, reason: 'restart requested (rolling restart)' });
    } else if (want.state === 'launched' && want.startRequest !== undefined && want.startRequest !== cur.startRequest) {
      tasks.push({ kind: 'retry', unit: name, reason: 'start requested again' });
    }
  }
  for (const [name, want] of desired) {
    if (current.has(name)) continue;
    tasks.push({ kind: 'load', unit: name, reason: 'unit scheduled here but not loaded' });
    if (want.state === 'launched') tasks.push({ kind: 'start', unit: name, reason: 'unit scheduled here to be launched' });
  }
  if (tasks.some((t) => t.kind === 'load' || t.kind === 'unload')) {
    tasks.push({ kind: 'reload', reason: 'unit files changed' });
  }
  return tasks.sort((a, b) => ORDER[a.kind] - ORDER[b.kind] || compareStrings(a.unit ?? '', b.unit ?? ''));
}
