/**
 * Each machine gets its own cgroup subtree (fleet-lab/<cluster>/<machine>) in every hierarchy systemd
 * uses. Without it systemd-nspawn (--keep-unit, no systemd on the box) puts every machine's systemd
 * into the same /payload cgroup, where they trip over each other's units.
 */
import { existsSync } from 'node:fs';
import { readdir, rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import { LabError } from './errors.js';

const CGROUP_ROOT = '/sys/fs/cgroup';

/** The hierarchies systemd manages: unified alone, or name=systemd plus unified (hybrid). */
export function systemdHierarchies(): string[] {
  if (existsSync(join(CGROUP_ROOT, 'cgroup.controllers'))) return [CGROUP_ROOT];
  return [join(CGROUP_ROOT, 'systemd'), join(CGROUP_ROOT, 'unified')].filter((h) => existsSync(join(h, 'cgroup.procs')));
}

export function clusterCgroups(cluster: string): string[] {
  return systemdHierarchies().map((h) => join(h, 'fleet-lab', cluster));
}

export function machineCgroups(cluster: string, machine: string): string[] {
  return clusterCgroups(cluster).map((c) => join(c, machine));
}

/**
 * A shell prologue that moves the shell into the cgroups named in $FLEET_LAB_CGROUPS, then execs
 * "$0" "$@"; the pid stays the same, so the recorded pid is the exec'd program's.
 */
export const ENTER_CGROUPS_AND_EXEC =
  'for d in $FLEET_LAB_CGROUPS; do mkdir -p "$d" && echo $$ > "$d/cgroup.procs" || ' +
  '{ echo "fleet-lab: cannot enter cgroup $d" >&2; exit 1; }; done; unset FLEET_LAB_CGROUPS; exec "$0" "$@"';

/** Remove a cgroup directory tree bottom-up; it must hold no processes any more. */
export async function removeCgroupTree(dir: string): Promise<void> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  for (const e of entries) if (e.isDirectory()) await removeCgroupTree(join(dir, e.name));
  try {
    await rmdir(dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return;
    throw new LabError(`cannot remove cgroup ${dir} (${code}): processes still in it`);
  }
}
