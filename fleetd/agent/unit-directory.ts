/**
 * The agent's units directory: the unit files it was given, written atomically, read back with their hashes.
 * The temporary file of a write has a short name of its own (never derived from the unit name), so every name
 * validateUnitName accepts (up to 255 bytes, the file name limit) can be written.
 */
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseUnitFile, unitHash, validateUnitName } from '../../lib/unit/index.js';
import { logger } from '../../lib/log.js';

const log = logger('agent.units');

export interface UnitFileOnDisk {
  readonly name: string;
  readonly hash: string;
  readonly text: string;
}

/** Temporary files: `.tmp-<pid>-<n>`, a few dozen bytes whatever the unit name; list() skips dot files. */
let tmpSeq = 0;
const TMP_PREFIX = '.tmp-';

export class UnitDirectory {
  constructor(readonly dir: string) {}

  path(name: string): string {
    validateUnitName(name);
    return join(this.dir, name);
  }

  async list(): Promise<Map<string, UnitFileOnDisk>> {
    const out = new Map<string, UnitFileOnDisk>();
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return out;
      throw err;
    }
    for (const name of names.sort()) {
      if (name.startsWith('.')) {
        // a temporary file an earlier fleetd left when it died mid-write
        if (name.startsWith(TMP_PREFIX) && !name.startsWith(`${TMP_PREFIX}${process.pid}-`)) await rm(join(this.dir, name), { force: true }).catch(() => undefined);
        continue;
      }
      try {
        validateUnitName(name);
        const text = await readFile(join(this.dir, name), 'utf8');
        out.set(name, { name, text, hash: unitHash(parseUnitFile(text, name)) });
      } catch (err) {
        log.warn('ignoring file in units directory', { file: join(this.dir, name), err });
      }
    }
    return out;
  }

  async write(name: string, text: string): Promise<string> {
    const path = this.path(name);
    await mkdir(this.dir, { recursive: true, mode: 0o755 });
    const tmp = join(this.dir, `${TMP_PREFIX}${process.pid}-${tmpSeq++}`);
    try {
      await writeFile(tmp, text, { mode: 0o644 });
      await rename(tmp, path);
    } catch (err) {
      await rm(tmp, { force: true }).catch(() => undefined);
      throw err;
    }
    return path;
  }

  async remove(name: string): Promise<void> {
    await rm(this.path(name), { force: true });
  }
}
