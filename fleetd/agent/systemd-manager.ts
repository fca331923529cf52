/** The agent's UnitManager on systemd: unit files in units_directory, everything else over D-Bus. */
import { EventEmitter } from 'node:events';
import { connectSystemd, isNoSuchUnit, SystemdError, type SystemdClient } from '../../lib/systemd/index.js';
import { parseUnitFile, hasSection } from '../../lib/unit/index.js';
import { logger } from '../../lib/log.js';
import { UnitDirectory } from './unit-directory.js';
import { UnitRefusedError, hostRefusal, type HostUnitInfo } from './host-units.js';
import { ownUnitName } from '../machine/own-unit.js';
import type { InstalledUnit, LoadResult, UnitManager, UnitManagerEvents, UnitRuntimeState } from './unit-manager.js';

const log = logger('agent.systemd');
const RUNNING = new Set(['active', 'activating', 'reloading']);
const UNIT_IFACE = 'org.freedesktop.systemd1.Unit';

export class SystemdUnitManager extends EventEmitter<UnitManagerEvents> implements UnitManager {
  private stopping = false;
  /** units loaded since the last reload that were new to systemd (LoadResult.startsUnloaded) */
  private readonly notReloaded = new Set<string>();
  private constructor(
    private readonly systemd: SystemdClient,
    private readonly dir: UnitDirectory,
  ) {
    super();
    systemd.on('unitStateChanged', (ev) => this.emit('state', ev.unit, ev.state));
    systemd.on('disconnected', (err) => this.emit('disconnected', err));
  }

  static async connect(unitsDirectory: string, busAddress?: string): Promise<SystemdUnitManager> {
    const systemd = await connectSystemd(busAddress);
    await systemd.subscribe();
    return new SystemdUnitManager(systemd, new UnitDirectory(unitsDirectory));
  }

  async inventory(): Promise<Map<string, InstalledUnit>> {
    const files = await this.dir.list();
    const out = new Map<string, InstalledUnit>();
    if (files.size === 0) return out;
    const states = await this.systemd.listUnitsByNames([...files.keys()]);
    const running = new Set(states.filter((s) => RUNNING.has(s.activeState)).map((s) => s.name));
    for (const f of files.values()) out.set(f.name, { name: f.name, hash: f.hash, running: running.has(f.name) });
    await this.systemd.watchUnits(files.keys());
    return out;
  }

  /** Throws UnitRefusedError, before writing anything, for a unit this machine must not run (host-units.ts). */
  async load(name: string, text: string): Promise<LoadResult> {
    let before = '';
    const refusal = await hostRefusal(name, text, this.dir.dir, async (n) => {
      const info = await this.hostUnit(n);
      if (n === name) before = info.loadState;
      return info;
    });
    if (refusal !== undefined) throw new UnitRefusedError(name, refusal);
    const path = await this.dir.write(name, text);
    await this.systemd.linkUnitFiles([path], true, true);
    const install = hasSection(parseUnitFile(text, name), 'Install');
    if (install) {
      try {
        await this.systemd.enableUnitFiles([path], true, true);
      } catch (err) {
        await this.dir.remove(name);
        throw err;
      }
    }
    await this.systemd.watchUnits([name]);
    const startsUnloaded = before === 'not-found' && !install;
    if (startsUnloaded) this.notReloaded.add(name);
    return { startsUnloaded };
  }

  private async hostUnit(name: string): Promise<HostUnitInfo> {
    const [loadState, fragmentPath] = await Promise.all(
      ['LoadState', 'FragmentPath'].map(async (p) => String(await this.systemd.getUnitProperty(name, UNIT_IFACE, p))),
    );
    return { loadState: loadState!, fragmentPath: fragmentPath! };
  }

  /**
   * Idempotent: a unit systemd does not know (its link removed behind fleet's back, or an earlier unload
   * interrupted after the link went) is already stopped; a missing link or file is already removed. Only a stop
   * systemd refuses or does not finish fails it, and then the file stays for the next try.
   * While the machine shuts down, only the stop and the file's removal are done: the runtime links vanish with
   * /run, and disabling units one call each (slow while systemd runs the shutdown) kept fleetd from leaving the
   * cluster for seconds.
   */
  async unload(name: string): Promise<void> {
    try {
      await this.systemd.stopUnit(name, { mode: 'replace', wait: true });
    } catch (err) {
      if (!isNoSuchUnit(err)) throw err;
      log.debug('unit unknown to systemd: nothing to stop', { unit: name });
    }
    this.systemd.unwatchUnits([name]);
    this.notReloaded.delete(name);
    if (!(await this.shuttingDown())) {
      await this.systemd.disableUnitFiles([name], true).catch((err: unknown) => log.debug('disable failed', { unit: name, err }));
      await this.systemd.resetFailedUnit(name).catch(() => undefined);
    }
    await this.dir.remove(name);
    this.emit('state', name, undefined);
  }

  async reload(): Promise<void> {
    if (await this.shuttingDown()) return;
    const loaded = [...this.notReloaded];
    await this.systemd.reload();
    for (const n of loaded) this.notReloaded.delete(n);
  }

  /** systemd runs a shutdown (poweroff, reboot, halt): once seen, for good. */
  private async shuttingDown(): Promise<boolean> {
    if (!this.stopping) this.stopping = (await this.systemd.systemState().catch(() => '')) === 'stopping';
    return this.stopping;
  }

  async start(name: string, opts: { resetFailed?: boolean } = {}): Promise<void> {
    if (opts.resetFailed) await this.systemd.resetFailedUnit(name).catch((err: unknown) => log.debug('reset-failed failed', { unit: name, err }));
    try {
      await this.systemd.startUnit(name, { mode: 'replace' });
    } catch (err) {
      // loaded without a reload (LoadResult.startsUnloaded) but systemd does not load it from disk on its own
      // (before systemd retried not-found units): reload, as for any other load, and start it again
      if (!isNoSuchUnit(err) || !this.notReloaded.has(name)) throw err;
      log.info('systemd did not load a new unit on start; reloading', { unit: name });
      await this.reload();
      await this.systemd.startUnit(name, { mode: 'replace' });
    }
  }

  async stop(name: string): Promise<void> {
    await this.systemd.stopUnit(name, { mode: 'replace' });
  }

  async restart(name: string): Promise<void> {
    await this.systemd.resetFailedUnit(name).catch((err: unknown) => log.debug('reset-failed failed', { unit: name, err }));
    const outcome = await this.systemd.restartUnit(name, { mode: 'replace', wait: true });
    if (outcome.result !== undefined && outcome.result !== 'done') {
      throw new SystemdError(`restarting ${name}: job ${outcome.result}`, '', 'RestartUnit', name);
    }
  }

  /**
   * Through the client's tracking of watched units (readUnitStates): the state returned is the one its signals
   * continue from, so a read answered before a signal can never be taken over the signal's newer state.
   */
  async readState(name: string): Promise<UnitRuntimeState> {
    const state = (await this.systemd.readUnitStates([name])).get(name);
    if (state === undefined) throw new SystemdError(`systemd ListUnitsByNames ${name}: no such unit in the reply`, '', 'ListUnitsByNames', name);
    return state;
  }

  async selfRestarting(): Promise<boolean> {
    const unit = ownUnitName();
    if (unit === undefined) return false;
    const jobs = await this.systemd.listJobs();
    return jobs.some((j) => j.unit === unit && (j.type === 'restart' || j.type === 'try-restart'));
  }

  async close(): Promise<void> {
    await this.systemd.close();
  }
}
