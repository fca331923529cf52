/**
 * The agent's last line of defence against units that would replace the host's own: before a unit is linked, its
 * name, and every name its [Install] Alias=/Also= gives it, must be one fleet may manage (lib/unit/names.ts) and
 * must not already be a unit of this machine that fleet did not write. fleet links its units into
 * /run/systemd/system, which overrides /lib (so a fleet unit would replace a packaged unit, e.g. apt-daily.service,
 * and destroying it would stop that unit for good), while /etc overrides fleet's link (so the host's unit would
 * run instead of fleet's, fleet #1687). Either way the machine refuses the unit; the agent records the refusal
 * (Registry.refuseUnit), the engine places the unit elsewhere or leaves it pending, and list-units shows it.
 */
import { realpath } from 'node:fs/promises';
import { ReservedUnitNameError, checkManageableUnit, installNames, parseUnitFile } from '../../lib/unit/index.js';
import type { AgentPresence, AgentRegistry } from './ports.js';
import { FleetError, errorMessage } from '../../lib/errors.js';
import { logger } from '../../lib/log.js';

const log = logger('agent.host-units');

/** What this machine's service manager knows of a unit name (systemd: LoadUnit, then its properties). */
export interface HostUnitInfo {
  /** systemd's LoadState: loaded, not-found, masked, bad-setting, error, ... */
  readonly loadState: string;
  /** The unit file systemd uses for the name ("" for units made at run time, e.g. mounts from /proc/self/mountinfo). */
  readonly fragmentPath: string;
}

export type HostUnitLookup = (name: string) => Promise<HostUnitInfo>;

/** A unit this machine will not run, and why. Thrown by UnitManager.load before anything is written. */
export class UnitRefusedError extends FleetError {
  override readonly name: string = 'UnitRefusedError';

  constructor(
    readonly unit: string,
    readonly reason: string,
  ) {
    super(`unit ${unit} refused on this machine: ${reason}`);
  }
}

/** True when `path` is inside `dir` (itself, or through symbolic links). */
async function inside(path: string, dir: string): Promise<boolean> {
  const under = (p: string, d: string): boolean => p.startsWith(d.endsWith('/') ? d : `${d}/`);
  if (under(path, dir)) return true;
  const [rp, rd] = await Promise.all([realpath(path).catch(() => path), realpath(dir).catch(() => dir)]);
  return under(rp, rd);
}

/**
 * Why this machine must not run the unit, or undefined when it may. `lookup` asks the machine's systemd; a name is
 * free when systemd does not know it (not-found) or knows it from a file in fleet's units directory.
 */
export async function hostRefusal(name: string, text: string, unitsDirectory: string, lookup: HostUnitLookup): Promise<string | undefined> {
  let file;
  try {
    file = parseUnitFile(text, name);
    checkManageableUnit(name, file);
  } catch (err) {
    if (err instanceof ReservedUnitNameError) return err.message;
    throw err;
  }
  const names: Array<{ target: string; via?: string }> = [{ target: name }];
  for (const i of installNames(name, file)) names.push({ target: i.target, via: `[Install] ${i.option}=${i.target}` });
  for (const { target, via } of names) {
    let info: HostUnitInfo;
    try {
      info = await lookup(target);
    } catch (err) {
      throw new FleetError(`cannot ask systemd about ${target}: ${errorMessage(err)}`, { cause: err });
    }
    if (info.loadState === 'not-found') continue;
    if (info.fragmentPath !== '' && info.loadState !== 'masked' && (await inside(info.fragmentPath, unitsDirectory))) continue;
    const what = info.loadState === 'masked'
      ? 'masked on this machine'
      : info.fragmentPath === ''
        ? `a unit of this machine without a unit file (load state ${info.loadState})`
        : `a unit of this machine, from ${info.fragmentPath}`;
    return `${via ? `${via}: ` : ''}${target} is already ${what}; fleet does not replace units it did not write`;
  }
  return undefined;
}

/**
 * The units this agent refused (name -> refused contents), recorded in the registry for the engine and for
 * list-units. A refused unit is not tried again until its contents change; after the machine registers again
 * (new lease, records gone) the book starts empty, so the engine may offer a unit once more and it is re-checked.
 */
export class Refusals {
  private readonly refused = new Map<string, string>();

  constructor(
    private readonly registry: Pick<AgentRegistry, 'refuseUnit'>,
    private readonly presence: AgentPresence,
  ) {}

  /** Takes out of `desired` the units refused here with the same contents. */
  skip<D extends { readonly hash: string }>(desired: Map<string, D>): void {
    for (const [name, d] of desired) if (this.refused.get(name) === d.hash) desired.delete(name);
  }

  /** Records the refusal; a failed write is retried by the next refusal of the unit (it stays out of the book). */
  async record(name: string, hash: string, reason: string): Promise<void> {
    log.warn('unit refused on this machine', { unit: name, reason });
    try {
      await this.registry.refuseUnit(this.presence, { name, hash, reason });
      this.refused.set(name, hash);
    } catch (err) {
      log.warn('could not record the refusal of a unit; will retry', { unit: name, err: errorMessage(err) });
      throw err;
    }
  }

  /** The machine's records went with its old lease. */
  clear(): void {
    this.refused.clear();
  }
}
