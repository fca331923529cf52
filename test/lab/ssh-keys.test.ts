/**
 * lab/ssh.ts without a lab: the cluster key pair (generated once, private 0600, ECDSA), a user's --ssh-key,
 * a machine's own host keys replacing the box's, and the known_hosts lines made of them.
 */
import t from 'tap';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LabError } from '../../lab/errors.js';
import { clusterPublicKey, ensureHostKeys, knownHostsLines, sshHints, sshPaths } from '../../lab/ssh.js';

const tmp = (): string => {
  const d = mkdtempSync(path.join(os.tmpdir(), 'lab-ssh-keys-'));
  t.teardown(() => rmSync(d, { recursive: true, force: true }));
  return d;
};

t.test('the cluster key: generated once, private key 0600', async (t) => {
  const state = tmp();
  const pub = await clusterPublicKey(state, 'c1');
  t.match(pub, /^ecdsa-sha2-nistp256 \S+ fleet-lab-c1$/);
  const p = sshPaths(state);
  t.equal(statSync(p.identity).mode & 0o777, 0o600);
  t.equal(await clusterPublicKey(state, 'c1'), pub, 'the same key on the next up');
  t.match(sshHints(state, undefined).join('\n'), `ssh-add ${p.identity}`);
});

t.test('--ssh-key: the user\'s public key, checked', async (t) => {
  const dir = tmp();
  const file = path.join(dir, 'id.pub');
  writeFileSync(file, 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA me@box\n');
  t.equal(await clusterPublicKey(path.join(dir, 'state'), 'c1', file), 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA me@box');
  t.match(sshHints(path.join(dir, 'state'), file).join('\n'), `ssh-add ${path.join(dir, 'id')}`);
  writeFileSync(file, '-----BEGIN OPENSSH PRIVATE KEY-----\n');
  await t.rejects(clusterPublicKey(dir, 'c1', file), LabError, 'a private key is refused');
  await t.rejects(clusterPublicKey(dir, 'c1', path.join(dir, 'absent.pub')), LabError);
});

t.test("a machine's host keys: its own, not the box's; kept once made", async (t) => {
  const dir = tmp();
  const root = path.join(dir, 'root');
  const upper = path.join(dir, 'upper');
  mkdirSync(path.join(root, 'etc/ssh'), { recursive: true });
  mkdirSync(upper);
  writeFileSync(path.join(root, 'etc/ssh/ssh_host_ed25519_key.pub'), 'ssh-ed25519 AAAAboxkey root@box\n');
  writeFileSync(path.join(root, 'etc/ssh/sshd_config'), '# kept\n');
  await ensureHostKeys(root, upper);
  const mine = readFileSync(path.join(root, 'etc/ssh/ssh_host_ed25519_key.pub'), 'utf8');
  t.notMatch(mine, 'boxkey', 'new keys');
  t.equal(readFileSync(path.join(root, 'etc/ssh/sshd_config'), 'utf8'), '# kept\n', 'other files left alone');
  const lines = await knownHostsLines(root, '198.18.5.11');
  t.same(lines.map((l) => l.split(' ')[1]).sort(), ['ecdsa-sha2-nistp256', 'ssh-ed25519', 'ssh-rsa']);
  t.ok(lines.every((l) => l.startsWith('198.18.5.11 ')));
  // the upper layer holding a key means the machine has its own already
  mkdirSync(path.join(upper, 'etc/ssh'), { recursive: true });
  writeFileSync(path.join(upper, 'etc/ssh/ssh_host_ed25519_key'), 'x');
  await ensureHostKeys(root, upper);
  t.equal(readFileSync(path.join(root, 'etc/ssh/ssh_host_ed25519_key.pub'), 'utf8'), mine, 'not made again');
});
