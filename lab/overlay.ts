/**
 * A machine's root: an overlay of the box's `/` with the machine's own upper layer, plus the files
 * that make it a distinct, minimal host (hostname, machine-id, boot target).
 * Never boot on anything but this overlay: systemd on a shared root wipes the box's /tmp.
 */
import { mkdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { LabError } from './errors.js';
import { run, runOk } from './run.js';

export const BOOT_TARGET = 'fleet-lab.target';

export interface MachinePaths {
  readonly upper: string;
  readonly work: string;
  readonly root: string;
  readonly log: string;
}

export function machinePaths(dir: string): MachinePaths {
  return { upper: join(dir, 'upper'), work: join(dir, 'work'), root: join(dir, 'root'), log: join(dir, 'console.log') };
}

interface MountEntry {
  readonly target: string;
  readonly fstype: string;
}

const unescapeMount = (s: string): string => s.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)));

async function mounts(): Promise<MountEntry[]> {
  const text = await readFile('/proc/self/mountinfo', 'utf8');
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => {
      const f = l.split(' ');
      const sep = f.indexOf('-');
      return { target: unescapeMount(f[4] ?? ''), fstype: f[sep + 1] ?? '' };
    });
}

export async function isOverlayRoot(root: string): Promise<boolean> {
  return (await mounts()).some((m) => m.target === root && m.fstype === 'overlay');
}

/** Mount points at or below `dir`, deepest first. */
export async function mountsUnder(dir: string): Promise<string[]> {
  const prefix = dir.endsWith('/') ? dir : dir + '/';
  const found = (await mounts()).map((m) => m.target).filter((t) => t === dir || t.startsWith(prefix));
  return [...new Set(found)].sort((a, b) => b.length - a.length);
}

export async function mountOverlay(p: MachinePaths): Promise<void> {
  if (await isOverlayRoot(p.root)) return;
  await mkdir(p.upper, { recursive: true });
  await mkdir(p.work, { recursive: true });
  await mkdir(p.root, { recursive: true });
  await runOk('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=/,upperdir=${p.upper},workdir=${p.work}`, p.root]);
}

/** Unmount everything at or below `dir` (lazily if busy). Returns what is still mounted. */
export async function unmountUnder(dir: string): Promise<string[]> {
  for (let pass = 0; pass < 3; pass++) {
    const targets = await mountsUnder(dir);
    if (targets.length === 0) return [];
    for (const t of targets) {
      const r = await run('umount', [t]);
      if (r.code !== 0) await run('umount', ['-l', t]);
    }
  }
  return mountsUnder(dir);
}

/** Wipe a machine's disk (its upper layer); the overlay must not be mounted. */
export async function wipeLayers(p: MachinePaths): Promise<void> {
  if ((await mountsUnder(p.root)).length > 0) throw new LabError(`${p.root} is still mounted; not wiping its layers`);
  await rm(p.upper, { recursive: true, force: true });
  await rm(p.work, { recursive: true, force: true });
}

export interface Identity {
  readonly hostname: string;
  readonly machineId: string;
}

async function put(root: string, path: string, content: string): Promise<void> {
  const full = join(root, path);
  await mkdir(dirname(full), { recursive: true });
  await rm(full, { force: true });
  await writeFile(full, content);
}

const TARGET_UNIT = `[Unit]
Description=fleet-lab machine (minimal boot: journald and the system bus)
Requires=dbus.socket
Wants=dbus.service systemd-journald.service
AllowIsolate=yes
`;

/** Write hostname, machine-id and the minimal boot target into a mounted machine root. */
export async function writeIdentity(root: string, id: Identity): Promise<void> {
  if (!(await isOverlayRoot(root))) throw new LabError(`${root} is not a mounted overlay; refusing to write into it`);
  await put(root, 'etc/hostname', id.hostname + '\n');
  await put(root, 'etc/machine-id', id.machineId + '\n');
  // dbus falls back to its own copy, and systemd would take the box's id from it on first boot
  const dbusId = join(root, 'var/lib/dbus/machine-id');
  await mkdir(dirname(dbusId), { recursive: true });
  await rm(dbusId, { force: true });
  await symlink('/etc/machine-id', dbusId);
  await put(root, `etc/systemd/system/${BOOT_TARGET}`, TARGET_UNIT);
}

/** Write a file into a mounted machine root (the machine sees it at `path`). */
export async function writeMachineFile(root: string, path: string, content: string): Promise<void> {
  if (!(await isOverlayRoot(root))) throw new LabError(`${root} is not a mounted overlay; refusing to write into it`);
  await put(root, path.replace(/^\/+/, ''), content);
}

export async function readMachineFile(root: string, path: string): Promise<string | undefined> {
  try {
    return await readFile(join(root, path.replace(/^\/+/, '')), 'utf8');
  } catch {
    return undefined;
  }
}
