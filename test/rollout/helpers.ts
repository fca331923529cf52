/**
 * A small cluster for rollout tests on a real etcd: engines (test/engine/helpers.ts Fixture, behind proxies so a
 * leader can be killed), machines that are fleetd members with the in-memory unit manager (a text containing
 * FAILS fails 300 ms after it starts, one containing CRASHES 1 s after), and a sampler that reads every machine's
 * units every 10 ms, as the lab test reads systemd.
 */
import type { Teardownable } from '../harness/teardown.js';
import type { EtcdInstance } from '../harness/etcd.js';
import { waitFor } from '../harness/wait.js';
import { Fixture } from '../engine/helpers.js';
import { Member } from '../../fleetd/member.js';
import { MemoryUnitManager } from '../../fleetd/agent/memory-unit-manager.js';
import { openEtcd, Registry } from '../../lib/registry/index.js';
import { loadUnit } from '../../lib/unit/index.js';
import type { RolloutRecord } from '../../lib/rollout/types.js';

/** Fails units whose text asks for it, as a broken ExecStart would. */
export class FaultyManager extends MemoryUnitManager {
  private readonly texts = new Map<string, string>();

  constructor() {
    super({ startDelayMs: 100 });
  }

  override async load(name: string, text: string): Promise<void> {
    this.texts.set(name, text);
    await super.load(name, text);
  }

  override async start(name: string): Promise<void> {
    await super.start(name);
    const text = this.texts.get(name) ?? '';
    const after = text.includes('FAILS') ? 300 : text.includes('CRASHES') ? 1000 : undefined;
    if (after === undefined) return;
    setTimeout(() => {
      if (this.texts.get(name) === text && this.snapshot().has(name)) this.fail(name);
    }, after).unref();
  }

  /** The text this machine runs for a unit while it is active. */
  activeText(name: string): string | undefined {
    return this.snapshot().get(name)?.activeState === 'active' ? this.texts.get(name) : undefined;
  }
}

export function webText(version: string): string {
  return `[Unit]\nDescription=web ${version}\n\n[Service]\nExecStart=/bin/sleep 1000\n`;
}

export function unitOf(name: string, text: string): { name: string; hash: string; text: string } {
  const u = loadUnit(name, text);
  return { name, hash: u.hash, text: u.text };
}

export class RolloutCluster {
  readonly f: Fixture;
  readonly machines: { id: string; member: Member; manager: FaultyManager; registry: Registry }[] = [];

  constructor(
    private readonly etcd: EtcdInstance,
    private readonly t: Teardownable,
  ) {
    this.f = new Fixture(etcd, t);
  }

  async addMachine(id: string): Promise<void> {
    const client = openEtcd({ endpoints: [this.etcd.endpoint], requestTimeoutMs: 5000 });
    const registry = new Registry(client, this.f.prefix);
    const manager = new FaultyManager();
    const member = new Member({
      registry,
      manager,
      state: { id, publicIP: '198.18.0.9', metadata: {}, version: '1.0.0-test', disableEngine: true, instance: `test-${id}` },
      agentTtl: 2,
      rejoinSettleMs: 0,
      machineIdSource: 'the test',
    });
    this.t.teardown(async () => {
      await member.stop({ unloadAll: false, revoke: true }).catch(() => undefined);
      await manager.close();
      await registry.close({ client: true });
    });
    await member.start();
    this.machines.push({ id, member, manager, registry });
  }

  /** Creates launched units and waits until each runs its text somewhere. */
  async launch(units: readonly { name: string; hash: string; text: string }[]): Promise<void> {
    for (const u of units) await this.f.registry.createUnit({ ...u, desiredState: 'launched', global: false });
    await waitFor('the units active', () => units.every((u) => this.running(u.name) === u.text), 20_000);
  }

  /** The text a unit runs, active, on some machine. */
  running(name: string): string | undefined {
    for (const m of this.machines) {
      const t = m.manager.activeText(name);
      if (t !== undefined) return t;
    }
    return undefined;
  }

  async waitPhase(id: string, phases: readonly string[], timeoutMs = 30_000): Promise<RolloutRecord> {
    return waitFor(`rollout ${id} ${phases.join(' or ')}`, async () => {
      const r = await this.f.registry.getRollout(id);
      return r?.status && phases.includes(r.status.phase) ? r : undefined;
    }, { timeoutMs, intervalMs: 50 });
  }
}

/** Samples how many of `names` are active (any text) every 10 ms, and which ever stopped. */
export class Sampler {
  minActive = Infinity;
  samples = 0;
  readonly everDown = new Set<string>();
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly c: RolloutCluster,
    private readonly names: readonly string[],
  ) {
    this.timer = setInterval(() => this.sample(), 10);
  }

  sample(): void {
    let active = 0;
    for (const n of this.names) {
      if (this.c.running(n) !== undefined) active++;
      else this.everDown.add(n);
    }
    this.samples++;
    this.minActive = Math.min(this.minActive, active);
  }

  stop(): void {
    clearInterval(this.timer);
  }
}

