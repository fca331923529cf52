/**
 * Each cluster gets its own 198.18.X.0/24 (X in 1..254). A reservation is a file
 * <reservations>/<X> holding the owner's state dir, created exclusively, so concurrent `up`s never share X.
 */
import { mkdir, open, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { LabError } from './errors.js';
import { preferredSubnet, SUBNET_RESERVATIONS } from './names.js';
import { runOk } from './run.js';
import { loadState } from './state.js';

async function subnetsOnInterfaces(): Promise<Set<number>> {
  const out = await runOk('ip', ['-4', '-o', 'addr', 'show']);
  const used = new Set<number>();
  for (const m of out.matchAll(/inet 198\.18\.(\d+)\./g)) used.add(Number(m[1]));
  return used;
}

async function holderOf(file: string): Promise<string | undefined> {
  try {
    return (await readFile(file, 'utf8')).trim();
  } catch {
    return undefined;
  }
}

/** A reservation is stale when its owner's state no longer claims it (and it is not brand new). */
async function isStale(file: string, holder: string | undefined, subnet: number): Promise<boolean> {
  try {
    if (Date.now() - (await stat(file)).mtimeMs < 60_000) return false;
  } catch {
    return true;
  }
  if (!holder) return true;
  try {
    const s = await loadState(holder);
    return !s || s.subnet !== subnet;
  } catch {
    return false;
  }
}

export async function reserveSubnet(cluster: string, stateDir: string, dir = SUBNET_RESERVATIONS): Promise<number> {
  await mkdir(dir, { recursive: true });
  const used = await subnetsOnInterfaces();
  const first = preferredSubnet(cluster);
  for (let k = 0; k < 254; k++) {
    const x = ((first - 1 + k) % 254) + 1;
    const file = join(dir, String(x));
    if ((await holderOf(file)) === stateDir) return x;
    if (used.has(x)) continue;
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const fh = await open(file, 'wx');
        await fh.writeFile(stateDir + '\n');
        await fh.close();
        return x;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      const holder = await holderOf(file);
      if (holder === stateDir) return x;
      if (!(await isStale(file, holder, x))) break;
      await rm(file, { force: true });
    }
  }
  throw new LabError(`no free subnet in 198.18.1-254.0/24 (reservations in ${dir}); run \`fleet-lab down\` for old clusters`);
}

export async function releaseSubnet(subnet: number, stateDir: string, dir = SUBNET_RESERVATIONS): Promise<void> {
  const file = join(dir, String(subnet));
  if ((await holderOf(file)) === stateDir) await rm(file, { force: true });
}
