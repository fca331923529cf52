/** File changes under the target root: atomic (temp file + rename) and only when something differs. */
import { randomBytes } from 'node:crypto';
import { chmod, chown, lstat, mkdir, readFile, readlink, rename, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

export type Change = 'changed' | 'unchanged';

export interface Ownership {
  readonly uid: number;
  readonly gid: number;
}

function isNotFound(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === 'ENOENT';
}

/** Creates missing directories (each with `mode` and `owner`); existing ones are left as they are. */
export async function ensureDirectory(dir: string, mode = 0o755, owner?: Ownership): Promise<Change> {
  try {
    const st = await stat(dir);
    if (!st.isDirectory()) throw new Error(`${dir} exists and is not a directory`);
    return 'unchanged';
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
  await ensureDirectory(dirname(dir), mode, owner);
  try {
    await mkdir(dir, { mode });
  } catch (err) {
    if ((err as { code?: unknown }).code !== 'EEXIST') throw err;
    return 'unchanged';
  }
  await chmod(dir, mode);
  if (owner) await chown(dir, owner.uid, owner.gid);
  return 'changed';
}

/** Whether `path` is a regular file with exactly this content, mode and ownership. */
export async function fileMatches(path: string, content: Buffer, mode: number, owner: Ownership): Promise<boolean> {
  let st;
  try {
    st = await lstat(path);
  } catch (err) {
    if (isNotFound(err)) return false;
    throw err;
  }
  if (!st.isFile() || (st.mode & 0o7777) !== mode || st.uid !== owner.uid || st.gid !== owner.gid) return false;
  if (st.size !== content.length) return false;
  return (await readFile(path)).equals(content);
}

/**
 * A temporary name beside `path`, never longer than a short prefix of its name plus 20 bytes: a file with the
 * longest allowed name (255 bytes) can still be written.
 */
function tempPathFor(path: string): string {
  return join(dirname(path), `.${basename(path).slice(0, 32)}.cloudinit-${randomBytes(4).toString('hex')}`);
}

/** Writes `content` to `path` with `mode` and `owner` unless it is already so; parents are created 0755. */
export async function writeFileAtomic(path: string, content: Buffer, mode: number, owner: Ownership): Promise<Change> {
  if (await fileMatches(path, content, mode, owner)) return 'unchanged';
  await ensureDirectory(dirname(path));
  const tmp = tempPathFor(path);
  try {
    await writeFile(tmp, content, { mode: 0o600, flag: 'wx' });
    await chown(tmp, owner.uid, owner.gid);
    await chmod(tmp, mode);
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  return 'changed';
}

/** Makes `path` a symbolic link to `target` (replacing whatever is there) unless it already is one. */
export async function symlinkAtomic(path: string, target: string): Promise<Change> {
  try {
    if ((await lstat(path)).isSymbolicLink() && (await readlink(path)) === target) return 'unchanged';
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
  await ensureDirectory(dirname(path));
  const tmp = tempPathFor(path);
  await symlink(target, tmp);
  try {
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  return 'changed';
}

/** Removes `path` if it is a mask: a link to /dev/null (or any character device) or an empty file. */
export async function removeMask(path: string, root: string): Promise<Change> {
  let st;
  try {
    st = await lstat(path);
  } catch (err) {
    if (isNotFound(err)) return 'unchanged';
    throw err;
  }
  let masked = st.isFile() && st.size === 0;
  if (st.isSymbolicLink()) {
    const target = await readlink(path);
    masked = target === '/dev/null';
    if (!masked) {
      try {
        const resolved = target.startsWith('/') ? join(root, target) : join(dirname(path), target);
        masked = (await stat(resolved)).isCharacterDevice();
      } catch {
        masked = false;
      }
    }
  }
  if (!masked) return 'unchanged';
  await rm(path);
  return 'changed';
}

export async function readIfExists(path: string): Promise<Buffer | undefined> {
  try {
    return await readFile(path);
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}
