/**
 * File changes under the target root, which cloud-config makes as root. Every path is a path *inside* the root
 * and is opened one component at a time from a descriptor of the root (an openat-style walk through
 * /proc/self/fd/N/<name>, since Node has no openat), so:
 *
 * - a symbolic link in a directory only root can change (owned by root or by this process's user, not writable
 *   by group or others) is followed as a chroot would: an absolute target starts again at the root, ".." stops
 *   at the root. Nothing is read or written outside the root, whatever the links say (Debian's /var/run -> /run
 *   resolves to ROOT/run).
 * - a symbolic link in a directory another user can change (a home, /tmp), or anywhere below one, is refused
 *   with an error naming it: a user must not be able to point root's reads or writes at files they cannot
 *   reach themselves. Directories are opened with O_NOFOLLOW, so swapping a checked directory for a link
 *   between the check and the open fails instead of being followed; files are read with O_NOFOLLOW and must be
 *   regular files; new files are created with O_EXCL and renamed into place, which replaces a link rather
 *   than writing through it. The walk holds a descriptor of every directory it enters, so a directory renamed
 *   away afterwards is still the one that was checked.
 * - writes are atomic (temp file in the same directory, then rename) and only happen when content, mode or
 *   owner differ. `stageFile` + `commit`/`discard` let apply write several files all-or-nothing.
 *
 * What is left (as far as Node allows): the walk needs /proc (without it every open fails: an error, not an
 * escape). A file read from a user's directory is checked by lstat, then opened O_NOFOLLOW|O_NONBLOCK and
 * checked again by fstat (regular file); a swap in between can only make it fail or be skipped. Hard links
 * are not links to the walk: where fs.protected_hardlinks is off, a user can hard-link a root file into
 * their directory, so ssh-keys refuses files with several links that the user does not own.
 */
import { randomBytes } from 'node:crypto';
import { constants, type Stats } from 'node:fs';
import { lstat, mkdir, open, readdir, readlink, rename, rm, rmdir, symlink, type FileHandle } from 'node:fs/promises';
import { FleetError } from '../lib/errors.js';

export type Change = 'changed' | 'unchanged';

export interface Ownership {
  readonly uid: number;
  readonly gid: number;
}

/** A path inside the target root cannot be used safely: a refused link, a non-directory in the way, a loop. */
export class RootPathError extends FleetError {
  override readonly name = 'RootPathError';
  constructor(
    message: string,
    /** `missing`: a directory of the path does not exist (and was not to be created). */
    readonly reason: 'missing' | 'refused' = 'refused',
  ) {
    super(message);
  }
}

const isMissing = (err: unknown): boolean => err instanceof RootPathError && err.reason === 'missing';

const { O_RDONLY, O_WRONLY, O_DIRECTORY, O_NOFOLLOW, O_NONBLOCK, O_CREAT, O_EXCL } = constants;
/** Links followed while resolving one path, as the kernel's own limit. */
const MAX_LINKS = 40;

function codeOf(err: unknown): unknown {
  return typeof err === 'object' && err !== null ? (err as { code?: unknown }).code : undefined;
}

function isNotFound(err: unknown): boolean {
  return codeOf(err) === 'ENOENT';
}

/** Whether only root (or this process's own user) can change the entries of a directory with these stats. */
function onlyRootWrites(st: Stats): boolean {
  const me = process.getuid?.() ?? 0;
  return (st.uid === 0 || st.uid === me) && (st.mode & 0o022) === 0;
}

function components(path: string): string[] {
  return path.split('/').filter((s) => s !== '' && s !== '.');
}

function joinShown(dir: string, name: string): string {
  return dir === '/' ? `/${name}` : `${dir}/${name}`;
}

/** A directory inside the root, open; `path` is its path inside the root, for messages. */
export class RootDir {
  constructor(
    private readonly handle: FileHandle,
    readonly path: string,
    /** Whether links in it may be followed (only root can change it or any directory it was reached through). */
    readonly trusted: boolean,
  ) {}

  /** A path naming `name` in this directory through the open descriptor (never through the path's text). */
  at(name: string): string {
    if (name === '' || name === '.' || name === '..' || name.includes('/')) throw new RootPathError(`${JSON.stringify(name)} is not a file name`);
    return `/proc/self/fd/${this.handle.fd}/${name}`;
  }

  shown(name: string): string {
    return joinShown(this.path, name);
  }

  async close(): Promise<void> {
    await this.handle.close();
  }

  async lstat(name: string): Promise<Stats | undefined> {
    try {
      return await lstat(this.at(name));
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  async list(): Promise<string[]> {
    return readdir(`/proc/self/fd/${this.handle.fd}`);
  }

  /** Opens a regular file for reading without following a link; undefined when it does not exist. */
  async openFile(name: string): Promise<FileHandle | undefined> {
    let fh: FileHandle;
    try {
      fh = await open(this.at(name), O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
    } catch (err) {
      if (isNotFound(err)) return undefined;
      if (codeOf(err) === 'ELOOP') throw new RootPathError(`${this.shown(name)} is a symbolic link; not followed`);
      throw err;
    }
    const st = await fh.stat();
    if (!st.isFile()) {
      await fh.close();
      throw new RootPathError(`${this.shown(name)} is not a regular file`);
    }
    return fh;
  }

  /** The content of a regular file (no link followed), at most `maxBytes`; undefined when it does not exist. */
  async readFile(name: string, maxBytes: number): Promise<Buffer | undefined> {
    const fh = await this.openFile(name);
    if (!fh) return undefined;
    try {
      return await readBounded(fh, maxBytes, this.shown(name));
    } finally {
      await fh.close();
    }
  }

  /** Whether `name` is a regular file with exactly this content, mode and ownership. */
  async fileMatches(name: string, content: Buffer, mode: number, owner: Ownership): Promise<boolean> {
    const st = await this.lstat(name);
    if (!st || !st.isFile() || (st.mode & 0o7777) !== mode || st.uid !== owner.uid || st.gid !== owner.gid) return false;
    if (st.size !== content.length) return false;
    let fh: FileHandle;
    try {
      fh = await open(this.at(name), O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
    } catch {
      return false;
    }
    try {
      const now = await fh.stat();
      if (!now.isFile() || now.size !== content.length) return false;
      return (await readBounded(fh, content.length, this.shown(name))).equals(content);
    } finally {
      await fh.close();
    }
  }

  /** Writes a new temp file (O_EXCL, so never through a link) with content, owner and mode; returns its name. */
  async stageFile(name: string, content: Buffer, mode: number, owner: Ownership): Promise<string> {
    if ((await this.lstat(name))?.isDirectory()) throw new RootPathError(`${this.shown(name)} is a directory`);
    const tmp = tempName(name);
    const fh = await open(this.at(tmp), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600);
    try {
      await fh.writeFile(content);
      await fh.chown(owner.uid, owner.gid);
      await fh.chmod(mode);
    } catch (err) {
      await fh.close();
      await this.discard(tmp);
      throw err;
    }
    await fh.close();
    return tmp;
  }

  /** Renames a staged file over `name` (a link there is replaced, not followed). */
  async commit(tmp: string, name: string): Promise<void> {
    try {
      await rename(this.at(tmp), this.at(name));
    } catch (err) {
      await this.discard(tmp);
      if (codeOf(err) === 'EISDIR') throw new RootPathError(`${this.shown(name)} is a directory`);
      throw err;
    }
  }

  async discard(tmp: string): Promise<void> {
    await rm(this.at(tmp), { force: true });
  }

  /** Writes `content` to `name` unless it is already so (temp file + rename). */
  async writeFile(name: string, content: Buffer, mode: number, owner: Ownership): Promise<Change> {
    if (await this.fileMatches(name, content, mode, owner)) return 'unchanged';
    await this.commit(await this.stageFile(name, content, mode, owner), name);
    return 'changed';
  }
}

/** A temporary name beside `name`: bounded (at most 88 bytes) whatever the name's length, so 255-byte names can be written. */
function tempName(name: string): string {
  return `.${name.slice(0, 64)}.cloudinit-${randomBytes(6).toString('hex')}`;
}

async function readBounded(fh: FileHandle, maxBytes: number, shown: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for (;;) {
    const buf = Buffer.alloc(Math.min(64 * 1024, maxBytes + 1 - total));
    const { bytesRead } = await fh.read(buf, 0, buf.length, null);
    if (bytesRead === 0) break;
    total += bytesRead;
    if (total > maxBytes) throw new RootPathError(`${shown} is larger than ${maxBytes} bytes`);
    chunks.push(buf.subarray(0, bytesRead));
  }
  return Buffer.concat(chunks);
}

export interface OpenDirOptions {
  /** Create missing directories with this mode (and owner; default this process's). */
  readonly create?: { readonly mode: number; readonly owner?: Ownership };
  /** Paths (inside the root) of the directories this call created, in creation order. */
  readonly created?: string[];
}

interface Level {
  readonly handle: FileHandle;
  readonly path: string;
  readonly trusted: boolean;
}

function describeOwner(st: Stats): string {
  return `owned by uid ${st.uid}, mode ${(st.mode & 0o7777).toString(8).padStart(4, '0')}`;
}

/**
 * Opens directory `dir` (a path inside `root`) by walking it component by component from the root, following
 * links only where only root could have made them, and resolving them inside the root. See the file header.
 */
export async function openDirectory(root: string, dir: string, options: OpenDirOptions = {}): Promise<RootDir> {
  const rootHandle = await open(root, O_RDONLY | O_DIRECTORY);
  const stack: Level[] = [{ handle: rootHandle, path: '/', trusted: onlyRootWrites(await rootHandle.stat()) }];
  const stats = new Map<FileHandle, Stats>();
  const parts = components(dir);
  let links = 0;
  try {
    while (parts.length > 0) {
      const name = parts.shift()!;
      const top = stack[stack.length - 1]!;
      if (name === '..') {
        if (stack.length > 1) await stack.pop()!.handle.close();
        continue;
      }
      const here = `/proc/self/fd/${top.handle.fd}/${name}`;
      const shown = joinShown(top.path, name);
      let st: Stats | undefined;
      try {
        st = await lstat(here);
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
      let created = false;
      if (!st) {
        if (!options.create) throw new RootPathError(`${shown} does not exist`, 'missing');
        try {
          await mkdir(here, { mode: options.create.mode });
          created = true;
        } catch (err) {
          if (codeOf(err) !== 'EEXIST') throw err;
        }
        st = await lstat(here);
      }
      if (st.isSymbolicLink()) {
        if (!top.trusted) {
          const parent = stats.get(top.handle) ?? (await top.handle.stat());
          throw new RootPathError(
            `${shown} is a symbolic link in a directory another user can change (${top.path}: ${describeOwner(parent)}); cloud-config does not follow links there`,
          );
        }
        if (++links > MAX_LINKS) throw new RootPathError(`${shown}: more than ${MAX_LINKS} symbolic links in the path`);
        const target = await readlink(here);
        if (target.startsWith('/')) while (stack.length > 1) await stack.pop()!.handle.close();
        parts.unshift(...components(target));
        continue;
      }
      if (!st.isDirectory()) throw new RootPathError(`${shown} is not a directory`);
      let fh: FileHandle;
      try {
        fh = await open(here, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
      } catch (err) {
        if (codeOf(err) === 'ELOOP' || codeOf(err) === 'ENOTDIR') throw new RootPathError(`${shown} changed while being opened`);
        throw err;
      }
      if (created) {
        await fh.chmod(options.create!.mode);
        const owner = options.create!.owner;
        if (owner) await fh.chown(owner.uid, owner.gid);
        options.created?.push(shown);
      }
      const fst = await fh.stat();
      stats.set(fh, fst);
      stack.push({ handle: fh, path: shown, trusted: top.trusted && onlyRootWrites(fst) });
    }
  } catch (err) {
    for (const l of stack) await l.handle.close();
    throw err;
  }
  const top = stack.pop()!;
  for (const l of stack) await l.handle.close();
  return new RootDir(top.handle, top.path, top.trusted);
}

/** Splits a path inside the root into its directory and its last component. */
export function splitPath(path: string): { dir: string; name: string } {
  const parts = components(path);
  const name = parts.pop();
  if (name === undefined || name === '..') throw new RootPathError(`${JSON.stringify(path)} does not name a file`);
  return { dir: `/${parts.join('/')}`, name };
}

async function withDir<T>(root: string, dir: string, options: OpenDirOptions, fn: (d: RootDir) => Promise<T>): Promise<T> {
  const d = await openDirectory(root, dir, options);
  try {
    return await fn(d);
  } finally {
    await d.close();
  }
}

/** Writes `content` to `path` (inside root) unless it is already so; missing parents are created 0755. */
export async function writeFileAtomic(root: string, path: string, content: Buffer, mode: number, owner: Ownership): Promise<Change> {
  const { dir, name } = splitPath(path);
  return withDir(root, dir, { create: { mode: 0o755 } }, (d) => d.writeFile(name, content, mode, owner));
}

/** Makes `path` a symbolic link to `target` (replacing whatever is there) unless it already is one. */
export async function symlinkAtomic(root: string, path: string, target: string): Promise<Change> {
  const { dir, name } = splitPath(path);
  return withDir(root, dir, { create: { mode: 0o755 } }, async (d) => {
    const st = await d.lstat(name);
    if (st?.isSymbolicLink() && (await readlink(d.at(name))) === target) return 'unchanged';
    const tmp = tempName(name);
    await symlink(target, d.at(tmp));
    await d.commit(tmp, name);
    return 'changed';
  });
}

/** Removes `path` if it is a mask: a link to /dev/null (or to any character device in the root) or an empty file. */
export async function removeMask(root: string, path: string): Promise<Change> {
  const { dir, name } = splitPath(path);
  let d: RootDir;
  try {
    d = await openDirectory(root, dir);
  } catch (err) {
    if (isMissing(err)) return 'unchanged';
    throw err;
  }
  try {
    const st = await d.lstat(name);
    if (!st) return 'unchanged';
    let masked = st.isFile() && st.size === 0;
    if (st.isSymbolicLink()) {
      const target = await readlink(d.at(name));
      masked = target === '/dev/null' || (await isCharacterDeviceIn(root, target.startsWith('/') ? target : joinShown(d.path, target)));
    }
    if (!masked) return 'unchanged';
    await rm(d.at(name));
    return 'changed';
  } finally {
    await d.close();
  }
}

async function isCharacterDeviceIn(root: string, path: string): Promise<boolean> {
  try {
    const { dir, name } = splitPath(path);
    return await withDir(root, dir, {}, async (d) => (await d.lstat(name))?.isCharacterDevice() ?? false);
  } catch {
    return false;
  }
}

/**
 * The content of the file at `path` inside root (at most `maxBytes`), or undefined when it does not exist.
 * A link as the last component is followed (inside the root) only in a directory only root can change.
 */
export async function readIfExists(root: string, path: string, maxBytes: number): Promise<Buffer | undefined> {
  let current = path;
  for (let links = 0; ; links++) {
    const { dir, name } = splitPath(current);
    let d: RootDir;
    try {
      d = await openDirectory(root, dir);
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw err;
    }
    try {
      const st = await d.lstat(name);
      if (!st) return undefined;
      if (st.isSymbolicLink() && d.trusted && links < MAX_LINKS) {
        const target = await readlink(d.at(name));
        current = target.startsWith('/') ? target : joinShown(d.path, target);
        continue;
      }
      return await d.readFile(name, maxBytes);
    } finally {
      await d.close();
    }
  }
}

/** Removes directories created by a failed attempt (deepest first); ones that are no longer empty stay. */
export async function removeCreatedDirectories(root: string, created: readonly string[]): Promise<void> {
  for (const path of [...created].reverse()) {
    try {
      const { dir, name } = splitPath(path);
      await withDir(root, dir, {}, (d) => rmdir(d.at(name)));
    } catch {
      // best effort: it is reported by the failure that led here
    }
  }
}
