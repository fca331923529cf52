/**
 * One fleetd per host: a pid file and an instance token in fleetd's runtime dir (a tmpfs, so both go with a
 * reboot). The token survives fleetd restarts, letting a restarted fleetd take over its machine record at once.
 */
import { mkdirSync, readFileSync, writeFileSync, renameSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { FleetError, errorMessage } from '../../lib/errors.js';

export class InstanceError extends FleetError {
  override readonly name = 'InstanceError';
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function isFleetd(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('fleetd');
  } catch {
    return false;
  }
}

function writeAtomic(path: string, text: string): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, text, { mode: 0o644 });
  renameSync(tmp, path);
}

/** Returns this host's instance token; throws if another fleetd runs here. */
export function claimInstance(runtimeDir: string): string {
  try {
    mkdirSync(runtimeDir, { recursive: true, mode: 0o755 });
  } catch (err) {
    throw new InstanceError(`cannot create fleetd's runtime directory ${runtimeDir}: ${errorMessage(err)}`);
  }
  const pidFile = join(runtimeDir, 'fleetd.pid');
  let other: number | undefined;
  try {
    other = Number(readFileSync(pidFile, 'utf8').trim());
  } catch {
    other = undefined;
  }
  if (other !== undefined && other > 0 && other !== process.pid && alive(other) && isFleetd(other)) {
    throw new InstanceError(`another fleetd (pid ${other}) is already running on this host (${pidFile}); stop it first`);
  }
  writeAtomic(pidFile, `${process.pid}\n`);
  const tokenFile = join(runtimeDir, 'instance');
  try {
    const token = readFileSync(tokenFile, 'utf8').trim();
    if (/^[0-9a-f]{32}$/.test(token)) return token;
  } catch {
    // first start since boot
  }
  const token = randomBytes(16).toString('hex');
  writeAtomic(tokenFile, `${token}\n`);
  return token;
}
