/** What fleet-lab needs from the box, checked before it starts changing anything. */
import { existsSync } from 'node:fs';
import { LabError } from './errors.js';

export function requireRoot(action: string): void {
  if (process.getuid && process.getuid() !== 0) {
    throw new LabError(`${action} needs root: fleet-lab mounts overlays, creates network namespaces and boots machines`);
  }
}

/** [binary, Debian package] pairs; all must exist. */
export function requireTools(tools: ReadonlyArray<readonly [string, string]>): void {
  const missing = tools.filter(([bin]) => !existsSync(bin));
  if (missing.length > 0) {
    const list = missing.map(([bin, pkg]) => `${bin} (package ${pkg})`).join(', ');
    throw new LabError(`missing ${list}; install them (scripts/setup.sh does)`);
  }
}
