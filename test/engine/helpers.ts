/**
 * Engine test fixtures: engines with their own etcd client behind a proxy (so a test can cut or freeze one
 * engine's connection), fake machine records, unit builders, and an observer that checks the schedule invariant
 * on every etcd watch response.
 */
import { randomBytes } from 'node:crypto';
import type { Etcd3, IWatchResponse, Watcher } from 'etcd3';
import type { EtcdInstance } from '../harness/etcd.js';
import type { Teardownable } from '../harness/teardown.js';
import { TcpProxy } from '../harness/proxy.js';
import { waitFor } from '../harness/wait.js';
export { sleep, waitFor } from '../harness/wait.js';
import { openEtcd, Registry, type MachinePresence, type UnitSpec } from '../../lib/registry/index.js';
import { loadUnit, type DesiredState } from '../../lib/unit/index.js';
import { Engine, type EngineOptions } from '../../fleetd/engine/engine.js';


export function freshPrefix(): string {
  return `/test-${randomBytes(4).toString('hex')}/fleet/`;
}

/** A unit as createUnit takes it; `xfleet` lines go into an [X-Fleet] section. */
export function unitSpec(name: string, opts: { desiredState?: DesiredState; xfleet?: string[]; desc?: string } = {}): UnitSpec {
  const xf = opts.xfleet && opts.xfleet.length > 0 ? `\n[X-Fleet]\n${opts.xfleet.join('\n')}\n` : '';
  const u = loadUnit(name, `[Unit]\nDescription=${opts.desc ?? name}\n\n[Service]\nExecStart=/bin/sleep 1000\n${xf}`);
  return { name, text: u.text, hash: u.hash, desiredState: opts.desiredState ?? 'launched', global: u.requirements.global };
}

export interface EngineHandle {
  readonly id: string;
  readonly engine: Engine;
  readonly registry: Registry;
  readonly client: Etcd3;
  readonly proxy: TcpProxy;
  /** The engine's process dies as far as etcd can tell: its connection is reset and never comes back. */
  kill(): void;
}

/** A cluster under one fresh prefix of a shared etcd: fake machines, engines, a client for the test itself. */
export class Fixture {
  readonly prefix = freshPrefix();
  readonly client: Etcd3;
  readonly registry: Registry;
  readonly engines: EngineHandle[] = [];
  private readonly presences = new Map<string, MachinePresence>();

  constructor(
    private readonly etcd: EtcdInstance,
    t: Teardownable,
  ) {
    this.client = openEtcd({ endpoints: [etcd.endpoint], requestTimeoutMs: 10000 });
    this.registry = new Registry(this.client, this.prefix);
    t.teardown(async () => {
      for (const h of this.engines) h.proxy.thaw();
      await Promise.all(this.engines.map((h) => h.engine.stop().catch(() => undefined)));
      for (const h of this.engines) h.client.close();
      await Promise.all(this.engines.map((h) => h.proxy.close()));
      await Promise.all([...this.presences.values()].map((p) => p.close().catch(() => undefined)));
      this.client.close();
    });
  }

  async addMachine(id: string, metadata: Record<string, string> = {}, ttlSeconds = 30): Promise<MachinePresence> {
    const p = await this.registry.registerMachine({ id, publicIP: '198.18.0.1', metadata, version: '1.0.0-test', disableEngine: false }, ttlSeconds);
    this.presences.set(id, p);
    return p;
  }

  /** The machine leaves at once (its lease is revoked: object and unit states vanish). */
  async removeMachine(id: string): Promise<void> {
    await this.presences.get(id)?.close();
    this.presences.delete(id);
  }

  async startEngine(id: string, opts: Partial<Omit<EngineOptions, 'registry' | 'machineId'>> & { requestTimeoutMs?: number } = {}): Promise<EngineHandle> {
    const proxy = await TcpProxy.start(this.etcd.clientPort);
    const client = openEtcd({ endpoints: [proxy.endpoint], requestTimeoutMs: opts.requestTimeoutMs ?? 5000 });
    const registry = new Registry(client, this.prefix);
    const engine = new Engine({
      registry,
      machineId: id,
      leaseTtlSeconds: opts.leaseTtlSeconds ?? 2,
      reconcileIntervalMs: opts.reconcileIntervalMs ?? 1000,
      machineLostGraceMs: opts.machineLostGraceMs ?? 0,
      ...(opts.disableWatches !== undefined ? { disableWatches: opts.disableWatches } : {}),
      ...(opts.planInWorkerAbove !== undefined ? { planInWorkerAbove: opts.planInWorkerAbove } : {}),
    });
    const h: EngineHandle = { id, engine, registry, client, proxy, kill: () => proxy.cut() };
    this.engines.push(h);
    engine.start();
    return h;
  }

  leaders(): EngineHandle[] {
    return this.engines.filter((h) => h.engine.isLeader);
  }

  async waitLeader(timeoutMs = 15000, not?: EngineHandle): Promise<EngineHandle> {
    return waitFor('an engine leader', () => {
      const l = this.leaders().filter((h) => h !== not);
      return l.length === 1 ? l[0] : undefined;
    }, timeoutMs);
  }

  async createUnits(specs: readonly UnitSpec[], concurrency = 16): Promise<void> {
    let next = 0;
    await Promise.all(
      Array.from({ length: Math.min(concurrency, specs.length) }, async () => {
        while (next < specs.length) await this.registry.createUnit(specs[next++]!);
      }),
    );
  }
}

/** What the schedule says about a unit at one revision. */
interface UnitView {
  target?: string;
  entries: Set<string>;
}

/**
 * Watches the whole prefix with its own client and, after every watch response (all events of a transaction
 * arrive in one response), checks each touched unit: at most one `schedule/<m>/<unit>` entry, and it is on the
 * machine `job/<unit>/target` names (both present or both absent). Also counts how targets changed.
 */
export class ScheduleObserver {
  readonly violations: string[] = [];
  readonly units = new Map<string, UnitView>();
  placements = 0;
  moves = 0;
  unschedules = 0;
  /** schedule/ writes seen (puts and deletes), e.g. to prove a leader change wrote nothing */
  scheduleWrites = 0;
  responses = 0;
  revision = 0n;
  private watcher: Watcher | undefined;
  private readonly jobDir: string;
  private readonly scheduleDir: string;

  private constructor(
    private readonly client: Etcd3,
    private readonly prefix: string,
  ) {
    this.jobDir = `${prefix}job/`;
    this.scheduleDir = `${prefix}schedule/`;
  }

  static async start(client: Etcd3, prefix: string, t: Teardownable): Promise<ScheduleObserver> {
    const o = new ScheduleObserver(client, prefix);
    const res = await client.getAll().prefix(prefix).exec();
    for (const kv of res.kvs) o.apply(kv.key.toString(), kv.value.toString(), false);
    o.revision = BigInt(res.header.revision);
    const w = await client.watch().prefix(prefix).startRevision((o.revision + 1n).toString()).create();
    w.on('data', (r: IWatchResponse) => o.onResponse(r));
    o.watcher = w;
    t.teardown(() => w.cancel().catch(() => undefined));
    return o;
  }

  private view(unit: string): UnitView {
    let v = this.units.get(unit);
    if (!v) this.units.set(unit, (v = { entries: new Set() }));
    return v;
  }

  /** Applies one key change; returns the unit it concerns. */
  private apply(key: string, value: string | undefined, count: boolean): string | undefined {
    if (key.startsWith(this.jobDir)) {
      const [unit, field] = key.slice(this.jobDir.length).split('/');
      if (field !== 'target' || !unit) return undefined;
      const v = this.view(unit);
      if (count) {
        if (v.target === undefined && value !== undefined) this.placements++;
        else if (v.target !== undefined && value === undefined) this.unschedules++;
        else if (v.target !== undefined && value !== undefined && v.target !== value) this.moves++;
      }
      if (value === undefined) delete v.target;
      else v.target = value;
      return unit;
    }
    if (key.startsWith(this.scheduleDir)) {
      const [machine, unit] = key.slice(this.scheduleDir.length).split('/');
      if (!machine || !unit) return undefined;
      if (count) this.scheduleWrites++;
      const v = this.view(unit);
      if (value === undefined) v.entries.delete(machine);
      else v.entries.add(machine);
      return unit;
    }
    return undefined;
  }

  private onResponse(r: IWatchResponse): void {
    this.responses++;
    const touched = new Set<string>();
    for (const ev of r.events) {
      const u = this.apply(ev.kv.key.toString(), ev.type === 'Delete' ? undefined : ev.kv.value.toString(), true);
      if (u !== undefined) touched.add(u);
      const rev = BigInt(ev.kv.mod_revision);
      if (rev > this.revision) this.revision = rev;
    }
    for (const u of touched) {
      const problem = this.check(u);
      if (problem) this.violations.push(`revision ${r.header.revision}: ${problem}`);
    }
  }

  check(unit: string): string | undefined {
    const v = this.units.get(unit);
    if (!v) return undefined;
    if (v.entries.size > 1) return `${unit} has schedule entries on ${[...v.entries].sort().join(', ')}`;
    const entry = v.entries.values().next().value as string | undefined;
    if (entry !== v.target) return `${unit}: target ${v.target ?? '(none)'} but schedule entry on ${entry ?? '(none)'}`;
    return undefined;
  }

  /** Units with a target, by machine. */
  placed(): Map<string, string> {
    const out = new Map<string, string>();
    for (const [u, v] of this.units) if (v.target !== undefined) out.set(u, v.target);
    return out;
  }

  /** Waits until the observer has seen every write made before this call (via a marker key it watches). */
  async catchUp(timeoutMs = 10000): Promise<void> {
    const res = await this.client.put(`${this.prefix}test/marker`).value(String(Date.now())).exec();
    const rev = BigInt(res.header.revision);
    await waitFor('the observer to catch up', () => this.revision >= rev, timeoutMs);
  }

  async stop(): Promise<void> {
    await this.watcher?.cancel().catch(() => undefined);
  }
}
