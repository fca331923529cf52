/**
 * Target roots for apply tests: a temp directory with just enough /etc for useradd --root to work; and
 * coreos-cloudinit run in this process (its runCli) for the tests that run it many times.
 */
import { lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, writeFile, chmod } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readDocumentStream, runCli } from '../../cloud-config/cli.js';
import { runInProcess, stdinOf } from '../harness/in-process.js';
import type { Run } from '../harness/run.js';

/**
 * `coreos-cloudinit args...` as its main.ts runs it, but in this process: stdin is `stdin` (none: empty), the
 * environment is PATH plus `env`. test/cloud-config/cli.test.ts runs the real binary for what main.ts adds.
 */
export function cloudInit(args: readonly string[], o: { stdin?: string | Buffer; env?: Record<string, string> } = {}): Promise<Run> {
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', ...o.env };
  return runInProcess((out) => runCli(args, { ...out, env, readStdin: () => readDocumentStream(stdinOf(o.stdin)) }));
}

export async function makeRoot(register: (fn: () => Promise<void>) => void): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'cloud-config-root-'));
  register(() => rm(root, { recursive: true, force: true }));
  await mkdir(join(root, 'etc'));
  await mkdir(join(root, 'home'));
  await writeFile(join(root, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/bash\nwww:x:33:33:www:/var/www:/usr/sbin/nologin\n');
  await writeFile(join(root, 'etc/group'), 'root:x:0:\nwww:x:33:\nusers:x:100:\nsudo:x:27:\n');
  await writeFile(join(root, 'etc/shadow'), 'root:*:19000:0:99999:7:::\nwww:*:19000:0:99999:7:::\n');
  await writeFile(join(root, 'etc/gshadow'), 'root:*::\nwww:*::\nusers:*::\nsudo:*::\n');
  await chmod(join(root, 'etc/shadow'), 0o640);
  await chmod(join(root, 'etc/gshadow'), 0o640);
  await writeFile(join(root, 'etc/login.defs'), 'USERGROUPS_ENAB yes\nUID_MIN 1000\nGID_MIN 1000\n');
  return root;
}

export interface Entry {
  readonly type: 'file' | 'dir' | 'link' | 'other';
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly ino: number;
  readonly mtimeMs: number;
  readonly content?: string;
}

/** Every path under `root` with type, mode, owner, inode, mtime and content (files) or target (links). */
export async function snapshot(root: string, dir = ''): Promise<Record<string, Entry>> {
  const out: Record<string, Entry> = {};
  for (const name of (await readdir(join(root, dir))).sort()) {
    const rel = `${dir}/${name}`;
    const abs = join(root, rel);
    const st = await lstat(abs);
    const type = st.isFile() ? 'file' : st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'link' : 'other';
    out[rel] = {
      type,
      mode: st.mode & 0o7777,
      uid: st.uid,
      gid: st.gid,
      ino: st.ino,
      mtimeMs: st.mtimeMs,
      ...(type === 'file' ? { content: (await readFile(abs)).toString('utf8') } : {}),
      ...(type === 'link' ? { content: await readlink(abs) } : {}),
    };
    if (type === 'dir') Object.assign(out, await snapshot(root, rel));
  }
  return out;
}
