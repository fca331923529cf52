/**
 * What applying a document needs from systemd, and its implementation over D-Bus (lib/systemd). Not the agent's
 * UnitManager (fleetd/agent/unit-manager.ts), which owns and tracks the units it loads: this one only reloads,
 * enables and runs jobs for the units a document writes.
 */
import { connectSystemd, type SystemdClient } from '../lib/systemd/index.js';
import type { UnitCommand } from './types.js';

export interface SystemdApplier {
  /** daemon-reload */
  reload(): Promise<void>;
  /** EnableUnitFiles(names, runtime, force); true when a symlink was created or changed. */
  enableUnitFiles(names: readonly string[], runtime: boolean): Promise<boolean>;
  /** Queues the job in "replace" mode and waits for it; systemd's job result ("done", "failed", ...). */
  runUnitCommand(unit: string, command: UnitCommand): Promise<string>;
  close(): Promise<void>;
}

class DbusSystemdApplier implements SystemdApplier {
  constructor(private readonly client: SystemdClient) {}

  async reload(): Promise<void> {
    await this.client.reload();
  }

  async enableUnitFiles(names: readonly string[], runtime: boolean): Promise<boolean> {
    const { changes } = await this.client.enableUnitFiles(names, runtime, true);
    return changes.length > 0;
  }

  async runUnitCommand(unit: string, command: UnitCommand): Promise<string> {
    const outcome = await this.client.unitAction(command, unit, { mode: 'replace', wait: true });
    return outcome.result ?? 'queued';
  }

  async close(): Promise<void> {
    await this.client.close();
  }
}

/** Connects to systemd on the given bus (default: the system bus). */
export async function connectSystemdApplier(busAddress?: string): Promise<SystemdApplier> {
  return new DbusSystemdApplier(await connectSystemd(busAddress));
}
