/**
 * What the API needs from the cluster, in API entities, and its implementation over lib/registry. fleetctl's
 * etcd driver uses the same adapter, so both drivers derive units and states identically.
 */
import type { Registry, UnitRecord } from '../registry/index.js';
import { UnitNotFoundError, type RestartRequest } from '../registry/index.js';
import type { ClusterState, SchedUnit } from '../schedule/index.js';
import { checkManageableUnit, checkManageableUnitName, loadUnitFile, parseUnitFile, shortHash } from '../unit/index.js';
import type { DesiredState } from '../unit/types.js';
import { requirementsOf } from '../unit/lenient-requirements.js';
import type { RolloutControl } from '../rollout/types.js';
import { toApiOptions, type ApiRollout, type ApiRolloutRequest, type ApiMachine, type ApiUnit, type ApiUnitOption, type ApiUnitState } from './schema.js';
import { forEachSliced } from '../slices.js';

export interface StateFilter {
  machineID?: string;
  unitName?: string;
}

export interface FleetBackend {
  /** Sorted by name. */
  listUnits(): Promise<ApiUnit[]>;
  getUnit(name: string): Promise<ApiUnit | undefined>;
  /**
   * Creates or replaces a unit. Validates name and options (lib/unit: UnitNameError, UnitFileError,
   * RequirementsError), and refuses what fleet must never manage (ReservedUnitNameError). Returns false when an existing unit was replaced.
   */
  putUnit(name: string, options: readonly ApiUnitOption[], desiredState: DesiredState): Promise<boolean>;
  /** Throws UnitNotFoundError. */
  setDesiredState(name: string, state: DesiredState): Promise<void>;
  /** False when there was no such unit. */
  destroyUnit(name: string): Promise<boolean>;
  /** Sorted by unit name, then machine id. */
  listUnitStates(filter?: StateFilter): Promise<ApiUnitState[]>;
  /**
   * Calls `onChange` (no arguments: re-read with listUnitStates) whenever a unit state or a job (its refusals and
   * reschedule) may have changed, and once when the watch starts. Absent: the API has no state stream.
   */
  watchUnitStates?(onChange: () => void): Promise<{ close(): Promise<void> }>;
  /** Live machines sorted by id. */
  listMachines(): Promise<ApiMachine[]>;
  /** null removes the key. */
  setMachineMetadata(machineId: string, key: string, value: string | null): Promise<void>;
  /** The scheduler's view: every unit with its requirements, live machines, current placements. */
  clusterState(): Promise<ClusterState>;
  /** Rolling restart: asks one machine's agent to restart a global unit once; the token. Throws UnitNotFoundError. */
  requestRestart(name: string, machineId: string): Promise<string>;
  /** That request, pending or settled by the agent; undefined when there is none. */
  getRestartRequest(name: string, machineId: string): Promise<RestartRequest | undefined>;
  /** Rolling update (lib/rollout): loads each unit's options and creates the rollout the engine leader drives. */
  createRollout(req: ApiRolloutRequest): Promise<ApiRollout>;
  getRollout(id: string): Promise<ApiRollout | undefined>;
  /** Oldest first. */
  listRollouts(): Promise<ApiRollout[]>;
  /** Throws RolloutNotFoundError. */
  controlRollout(id: string, control: RolloutControl): Promise<void>;
}

const PARSED_CACHE_LIMIT = 4096;

export class RegistryBackend implements FleetBackend {
  private readonly parsed = new Map<string, ApiUnitOption[]>();

  constructor(
    readonly registry: Registry,
    /** Wraps each registry call (metrics); identity by default. */
    private readonly around: <T>(op: string, fn: () => Promise<T>) => Promise<T> = (_op, fn) => fn(),
  ) {}

  private optionsOf(r: UnitRecord): ApiUnitOption[] {
    let opts = this.parsed.get(r.hash);
    if (!opts) {
      opts = toApiOptions(parseUnitFile(r.text, `unit ${r.name} (${shortHash(r.hash)})`).options);
      if (this.parsed.size >= PARSED_CACHE_LIMIT) this.parsed.delete(this.parsed.keys().next().value!);
      this.parsed.set(r.hash, opts);
    }
    return opts;
  }

  private toApi(r: UnitRecord): ApiUnit {
    const u: ApiUnit = { name: r.name, options: this.optionsOf(r), desiredState: r.desiredState };
    if (!r.global) {
      u.currentState = r.currentState;
      if (r.machineId) u.machineID = r.machineId;
    }
    return u;
  }

  async listUnits(): Promise<ApiUnit[]> {
    const all = await this.around('get_all', () => this.registry.listUnits());
    // in slices (lib/slices.ts): a unit file parsed per unit holds fleetd's event loop for a second at 100,000 units
    const out: ApiUnit[] = [];
    await forEachSliced(all, (r) => out.push(this.toApi(r)));
    return out;
  }

  async getUnit(name: string): Promise<ApiUnit | undefined> {
    const r = await this.around('get', () => this.registry.getUnit(name));
    return r ? this.toApi(r) : undefined;
  }

  async putUnit(name: string, options: readonly ApiUnitOption[], desiredState: DesiredState): Promise<boolean> {
    const loaded = loadUnitFile(name, { options: toApiOptions(options) });
    // the API checks this first; fleetctl's etcd driver writes through here
    checkManageableUnit(name, loaded.file);
    const res = await this.around('set', () =>
      this.registry.createUnit({
        name,
        text: loaded.text,
        hash: loaded.hash,
        desiredState,
        global: loaded.requirements.global,
      }),
    );
    return res.created;
  }

  async setDesiredState(name: string, state: DesiredState): Promise<void> {
    checkManageableUnitName(name);
    await this.around('set', () => this.registry.setDesiredState(name, state));
  }

  async destroyUnit(name: string): Promise<boolean> {
    try {
      await this.around('delete', () => this.registry.destroyUnit(name));
      return true;
    } catch (err) {
      if (err instanceof UnitNotFoundError) return false;
      throw err;
    }
  }

  async listUnitStates(filter: StateFilter = {}): Promise<ApiUnitState[]> {
    const f: { machineId?: string; unitName?: string } = {};
    if (filter.machineID) f.machineId = filter.machineID;
    if (filter.unitName) f.unitName = filter.unitName;
    const states = await this.around('get_all', () => this.registry.listUnitStates(f));
    return states.map((s) => ({
      name: s.name,
      hash: s.hash,
      machineID: s.machineId,
      systemdLoadState: s.loadState,
      systemdActiveState: s.activeState,
      systemdSubState: s.subState,
      ...(s.refusal !== undefined ? { refusal: s.refusal } : {}),
      ...(s.reschedule !== undefined ? { reschedule: { gaveUp: s.reschedule.gaveUp, reason: s.reschedule.reason } } : {}),
    }));
  }

  async watchUnitStates(onChange: () => void): Promise<{ close(): Promise<void> }> {
    const states = await this.registry.watchUnitStates(() => onChange());
    try {
      const jobs = await this.registry.watchJobs(() => onChange());
      return { close: async () => void (await Promise.all([states.close(), jobs.close()])) };
    } catch (err) {
      await states.close();
      throw err;
    }
  }

  async listMachines(): Promise<ApiMachine[]> {
    const ms = await this.around('get_all', () => this.registry.listMachines());
    return ms.map((m) => ({ id: m.id, primaryIP: m.publicIP, metadata: { ...m.metadata } }));
  }

  async setMachineMetadata(machineId: string, key: string, value: string | null): Promise<void> {
    await this.around('set', () => this.registry.setMachineMetadata(machineId, key, value));
  }

  async clusterState(): Promise<ClusterState> {
    const [units, machines] = await Promise.all([
      this.around('get_all', () => this.registry.listUnits()),
      this.around('get_all', () => this.registry.listMachines()),
    ]);
    const sched: SchedUnit[] = [];
    const schedule: Record<string, string> = {};
    for (const r of units) {
      sched.push({ name: r.name, hash: r.hash, desiredState: r.desiredState, requirements: requirementsOf(r.name, this.optionsOf(r)) });
      if (!r.global && r.machineId) schedule[r.name] = r.machineId;
    }
    return { units: sched, machines: machines.map((m) => ({ id: m.id, metadata: { ...m.metadata } })), schedule };
  }

  async requestRestart(name: string, machineId: string): Promise<string> {
    checkManageableUnitName(name);
    return this.around('set', () => this.registry.requestRestart(name, machineId));
  }

  async getRestartRequest(name: string, machineId: string): Promise<RestartRequest | undefined> {
    return this.around('get', () => this.registry.getRestartRequest(name, machineId));
  }

  async createRollout(req: ApiRolloutRequest): Promise<ApiRollout> {
    const units = req.units.map((u) => {
      const loaded = loadUnitFile(u.name, { options: toApiOptions(u.options) });
      checkManageableUnit(u.name, loaded.file);
      return { name: u.name, hash: loaded.hash, text: loaded.text };
    });
    const spec = await this.around('set', () =>
      this.registry.createRollout({
        units,
        maxUnavailable: req.maxUnavailable,
        minHealthyMs: req.minHealthyMs,
        deadlineMs: req.deadlineMs,
        rollback: req.rollback,
      }),
    );
    return { spec };
  }

  async getRollout(id: string): Promise<ApiRollout | undefined> {
    return this.around('get', () => this.registry.getRollout(id));
  }

  async listRollouts(): Promise<ApiRollout[]> {
    return this.around('get_all', () => this.registry.listRollouts());
  }

  async controlRollout(id: string, control: RolloutControl): Promise<void> {
    await this.around('set', () => this.registry.controlRollout(id, control));
  }
}
