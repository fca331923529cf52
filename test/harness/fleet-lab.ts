/**
 * A lab whose fleetds have all registered, with a registry client on its etcd (closed at teardown): what the
 * lab tests and the lab benchmarks start from.
 */
import type { Etcd3 } from 'etcd3';
import { openEtcd, Registry } from '../../lib/registry/index.js';
import { startLab, type TestLab, type TestLabOptions } from './lab.js';
import type { Teardownable } from './teardown.js';

export interface FleetLab {
  readonly lab: TestLab;
  readonly registry: Registry;
  /** The registry's etcd client, for tests that look at etcd directly. */
  readonly client: Etcd3;
  /** machine name (m1, m2, ...) -> machine id */
  readonly ids: Readonly<Record<string, string>>;
  /** machine id -> machine name */
  readonly names: Readonly<Record<string, string>>;
}

export interface FleetLabOptions extends TestLabOptions {
  /** Deadline of the registry client's etcd calls (default 3 s). */
  readonly requestTimeoutMs?: number;
  /** How long the fleetds get to register (default 30 s). */
  readonly registerTimeoutMs?: number;
}

export async function startFleetLab(t: Teardownable, opts: FleetLabOptions): Promise<FleetLab> {
  const { requestTimeoutMs = 3000, registerTimeoutMs = 30_000, ...labOpts } = opts;
  const lab = await startLab(t, labOpts);
  if (lab.warnings.length > 0) throw new Error(`lab came up with warnings: ${lab.warnings.join('; ')}`);
  const client = openEtcd({ endpoints: [lab.etcdUrl], requestTimeoutMs });
  const registry = new Registry(client);
  t.teardown(async () => {
    await registry.close().catch(() => undefined);
    client.close();
  });
  const ids: Record<string, string> = {};
  const names: Record<string, string> = {};
  for (const m of await lab.machines()) {
    ids[m.name] = m.machineId;
    names[m.machineId] = m.name;
  }
  const deadline = Date.now() + registerTimeoutMs;
  for (;;) {
    const live = new Set((await registry.listMachines().catch(() => [])).map((m) => m.id));
    if (Object.values(ids).every((id) => live.has(id))) break;
    if (Date.now() > deadline) throw new Error(`not every lab fleetd registered within ${registerTimeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 200));
  }
  return { lab, registry, client, ids, names };
}
