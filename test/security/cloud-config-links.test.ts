// test-tier: lab
/**
 * cloud-config runs as root on paths other users control. A link a user plants in their home must not make it
 * read or write root's files (ssh_authorized_keys), and no link inside a --root tree (absolute like Debian's
 * /var/run -> /run, or relative with "..") may take a write outside that tree.
 * It chowns homes to another user, so it needs root (the lab tier).
 */
import t, { type Test } from 'tap';
import { appendFile, chown, link, lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { applyPlan, readAccounts, type ApplyReport } from '../../cloud-config/apply.js';
import { parseUserData } from '../../cloud-config/parse.js';
import { planCloudConfig, type Plan } from '../../cloud-config/plan.js';
import { makeRoot, snapshot } from '../cloud-config/helpers.js';

const UID = 1500;

function plan(body: string): Plan {
  const r = parseUserData(`#cloud-config\n${body}`);
  if (r.kind !== 'cloud-config' || !r.config) throw new Error(`invalid: ${JSON.stringify(r.diagnostics)}`);
  return planCloudConfig(r.config);
}

/** A root with user core (uid 1500) whose home exists and is owned by core, as useradd leaves it. */
async function rootWithCore(t: Test): Promise<{ root: string; home: string }> {
  const root = await makeRoot((fn) => t.teardown(fn));
  await appendFile(join(root, 'etc/passwd'), `core:x:${UID}:${UID}:core:/home/core:/bin/bash\n`);
  await appendFile(join(root, 'etc/group'), `core:x:${UID}:\n`);
  const home = join(root, 'home/core');
  await mkdir(home, { mode: 0o755 });
  await chown(home, UID, UID);
  return { root, home };
}

/** A directory outside every root, standing for /root: what a user must never get to read or change. */
async function secretDir(t: Test): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'cloud-config-secret-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, 'id_rsa'), 'ROOT-SECRET-KEY\n', { mode: 0o600 });
  return dir;
}

const KEYS = 'ssh_authorized_keys: [ssh-ed25519 AAAA core@laptop]\n';

async function asCore(path: string): Promise<void> {
  await chown(path, UID, UID).catch(() => undefined);
}

function failedWith(t: Test, r: ApplyReport, pattern: RegExp): void {
  t.ok(r.error, 'applying fails');
  t.match(r.error?.message ?? '', pattern, 'the error names the link');
}

t.test('~/.ssh/authorized_keys.d as a link to a root directory: refused, nothing read or written there', async (t) => {
  const { root, home } = await rootWithCore(t);
  const secret = await secretDir(t);
  await mkdir(join(home, '.ssh'), { mode: 0o700 });
  await asCore(join(home, '.ssh'));
  await symlink(secret, join(home, '.ssh/authorized_keys.d'));
  await t.rejects(readFile(join(home, '.ssh/authorized_keys'), 'utf8'));
  const r = await applyPlan(plan(KEYS), { root });
  failedWith(t, r, /authorized_keys\.d.*(symbolic )?link/);
  t.same((await readdir(secret)).sort(), ['id_rsa'], 'nothing written into the link target');
  const authorized = await readFile(join(home, '.ssh/authorized_keys'), 'utf8').catch(() => '');
  t.notMatch(authorized, /ROOT-SECRET/, 'no root file copied into the user\'s authorized_keys');
});

t.test('~/.ssh as a link: refused', async (t) => {
  const { root, home } = await rootWithCore(t);
  const secret = await secretDir(t);
  await symlink(secret, join(home, '.ssh'));
  const r = await applyPlan(plan(KEYS), { root });
  failedWith(t, r, /\.ssh.*link/);
  t.same((await readdir(secret)).sort(), ['id_rsa'], 'nothing written into the link target');
});

t.test('~/.ssh/authorized_keys as a link to a root file: not copied into old_authorized_keys', async (t) => {
  const { root, home } = await rootWithCore(t);
  const secret = await secretDir(t);
  await mkdir(join(home, '.ssh'), { mode: 0o700 });
  await asCore(join(home, '.ssh'));
  await symlink(join(secret, 'id_rsa'), join(home, '.ssh/authorized_keys'));
  const r = await applyPlan(plan(KEYS), { root });
  failedWith(t, r, /authorized_keys.*link/);
  const old = await readFile(join(home, '.ssh/authorized_keys.d/old_authorized_keys'), 'utf8').catch(() => '');
  t.notMatch(old, /ROOT-SECRET/, 'the root file is not copied');
  t.equal(await readFile(join(secret, 'id_rsa'), 'utf8'), 'ROOT-SECRET-KEY\n', 'the root file is unchanged');
});

t.test('a link inside authorized_keys.d to a root file is not concatenated', async (t) => {
  const { root, home } = await rootWithCore(t);
  const secret = await secretDir(t);
  await mkdir(join(home, '.ssh/authorized_keys.d'), { recursive: true, mode: 0o700 });
  await asCore(join(home, '.ssh'));
  await asCore(join(home, '.ssh/authorized_keys.d'));
  await symlink(join(secret, 'id_rsa'), join(home, '.ssh/authorized_keys.d/zz-evil'));
  const r = await applyPlan(plan(KEYS), { root });
  t.notOk(r.error, 'applying succeeds');
  const authorized = await readFile(join(home, '.ssh/authorized_keys'), 'utf8');
  t.match(authorized, /core@laptop/);
  t.notMatch(authorized, /ROOT-SECRET/);
});

t.test('hard links to a root file (where protected_hardlinks is off) are not read', async (t) => {
  const { root, home } = await rootWithCore(t);
  const secret = await secretDir(t);
  await mkdir(join(home, '.ssh'), { mode: 0o700 });
  await asCore(join(home, '.ssh'));
  await link(join(secret, 'id_rsa'), join(home, '.ssh/authorized_keys'));
  const r = await applyPlan(plan(KEYS), { root });
  failedWith(t, r, /authorized_keys is a hard link/);
  const old = await readFile(join(home, '.ssh/authorized_keys.d/old_authorized_keys'), 'utf8').catch(() => '');
  t.notMatch(old, /ROOT-SECRET/, 'not copied into old_authorized_keys');

  await rm(join(home, '.ssh/authorized_keys'));
  await mkdir(join(home, '.ssh/authorized_keys.d'), { recursive: true, mode: 0o700 });
  await asCore(join(home, '.ssh/authorized_keys.d'));
  await link(join(secret, 'id_rsa'), join(home, '.ssh/authorized_keys.d/zz-evil'));
  const again = await applyPlan(plan(KEYS), { root });
  t.notOk(again.error, again.error?.message ?? 'applied');
  t.notMatch(await readFile(join(home, '.ssh/authorized_keys'), 'utf8'), /ROOT-SECRET/, 'not concatenated');
});

t.test('a normal home still gets its keys (owned by the user, 0600/0700)', async (t) => {
  const { root, home } = await rootWithCore(t);
  const r = await applyPlan(plan(KEYS), { root });
  t.notOk(r.error, r.error?.message ?? 'applied');
  const st = await lstat(join(home, '.ssh/authorized_keys'));
  t.equal(st.mode & 0o7777, 0o600);
  t.equal(st.uid, UID);
  t.equal((await lstat(join(home, '.ssh'))).mode & 0o7777, 0o700);
  t.match(await readFile(join(home, '.ssh/authorized_keys'), 'utf8'), /core@laptop/);
});

t.test('--root: an absolute link (like /var/run -> /run) resolves inside the root', async (t) => {
  const root = await makeRoot((fn) => t.teardown(fn));
  const outside = await secretDir(t);
  await mkdir(join(root, 'var'));
  await symlink(outside, join(root, 'var/run'));
  const r = await applyPlan(plan('write_files:\n  - path: /var/run/app/pid\n    content: "42"\n'), { root });
  t.notOk(r.error, r.error?.message ?? 'applied');
  t.same((await readdir(outside)).sort(), ['id_rsa'], 'nothing written outside the root');
  t.equal(await readFile(join(root, outside, 'app/pid'), 'utf8'), '42', 'written where a chroot would have put it');
});

t.test('--root: a relative link with ".." cannot climb out of the root', async (t) => {
  const root = await makeRoot((fn) => t.teardown(fn));
  const outside = await secretDir(t);
  const up = '../'.repeat(30);
  await symlink(`${up}${outside.slice(1)}`, join(root, 'etc/escape'));
  const r = await applyPlan(plan('write_files:\n  - path: /etc/escape/f\n    content: x\n'), { root });
  t.notOk(r.error, r.error?.message ?? 'applied');
  t.same((await readdir(outside)).sort(), ['id_rsa'], 'nothing written outside the root');
  t.equal(await readFile(join(root, outside, 'f'), 'utf8'), 'x', '".." stops at the root, as in a chroot');
});

t.test('--root: masks, generated drop-ins, /etc/environment and accounts stay inside the root', async (t) => {
  const root = await makeRoot((fn) => t.teardown(fn));
  const outside = await secretDir(t);
  await symlink(outside, join(root, 'run'));
  await writeFile(join(outside, 'passwd'), 'evil:x:0:0::/:/bin/sh\n');
  await rm(join(root, 'etc/passwd'));
  await symlink(join(outside, 'passwd'), join(root, 'etc/passwd'));
  const accounts = await readAccounts(root);
  t.notOk(accounts.users.some((u) => u.name === 'evil'), 'an absolute link in the root is not read from the host');
  await rm(join(root, 'etc/passwd'));
  await writeFile(join(root, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/bash\n');
  const before = await snapshot(outside);
  const r = await applyPlan(
    plan('coreos:\n  fleet:\n    metadata: a=b\n  units:\n    - name: x.service\n      runtime: true\n      mask: true\n'),
    { root },
  );
  t.notOk(r.error, r.error?.message ?? 'applied');
  t.same(await snapshot(outside), before, 'nothing outside the root changed');
  t.equal(await readlink(join(root, outside, 'systemd/system/x.service')), '/dev/null', 'the mask is inside the root');
});
