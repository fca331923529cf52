/**
 * SSH into lab machines as into CoreOS hosts: the operator's key (one fleet-lab generates per cluster, or the
 * user's `--ssh-key PUB`) goes into every machine's user-data `ssh_authorized_keys` for user core; every machine
 * gets host keys of its own (the box's /etc/ssh ones show through the overlay otherwise), and the lab writes a
 * known_hosts file of them so fleetctl's host key checking means something. fleetctl, `fleetctl ssh`,
 * `--tunnel` and the SSH-based `status`/`journal` of `--driver=etcd` (and of real fleetctl) then work.
 */
import { access, chmod, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { LabError } from './errors.js';
import { PROJECT_MOUNT } from './names.js';
import { run } from './run.js';
import { errorMessage } from '../lib/errors.js';

/** The user `ssh_authorized_keys` are for (cloud-config's default, as on CoreOS) and fleetctl's default. */
export const SSH_USER = 'core';
/** The sshd unit of Debian's openssh-server, started by the user-data. */
export const SSHD_UNIT = 'ssh.service';
/** lets users log in (removes /run/nologin); started before sshd */
export const USER_SESSIONS_UNIT = 'systemd-user-sessions.service';
/** fleetctl on every machine's PATH: runs the project's build bound at PROJECT_MOUNT. */
export const FLEETCTL_WRAPPER_PATH = '/usr/local/bin/fleetctl';
export const FLEETCTL_WRAPPER = `#!/bin/sh\n# written by fleet-lab: fleetctl of ${PROJECT_MOUNT}\nexec node ${PROJECT_MOUNT}/dist/fleetctl/main.cjs "$@"\n`;
/** core reads every unit's journal, as on CoreOS (`fleetctl journal` runs journalctl as core). */
export const SSH_USER_GROUPS: readonly string[] = ['systemd-journal'];

export interface SshPaths {
  readonly dir: string;
  /**
   * the private key fleet-lab generated (absent with --ssh-key): ECDSA, which both OpenSSH 9 and real fleetctl
   * v1.0's older Go SSH client accept (its RSA signatures are SHA-1 ones OpenSSH refuses; ed25519 it may not know)
   */
  readonly identity: string;
  readonly knownHosts: string;
}

export function sshPaths(stateDir: string): SshPaths {
  const dir = join(stateDir, 'ssh');
  return { dir, identity: join(dir, 'id_ecdsa'), knownHosts: join(dir, 'known_hosts') };
}

const exists = (p: string): Promise<boolean> =>
  access(p).then(
    () => true,
    () => false,
  );

/**
 * The public key machines authorize: the text of `userKey` (a .pub file) when given, else the cluster's own
 * key pair in `<state>/ssh/id_ecdsa{,.pub}` (generated once, private key 0600).
 */
export async function clusterPublicKey(stateDir: string, cluster: string, userKey?: string): Promise<string> {
  if (userKey !== undefined) {
    let text: string;
    try {
      text = await readFile(userKey, 'utf8');
    } catch (err) {
      throw new LabError(`--ssh-key ${userKey}: ${errorMessage(err)}`);
    }
    const key = text.trim();
    if (!/^(ssh-|ecdsa-|sk-)\S+ \S+/.test(key) || key.includes('\n')) throw new LabError(`--ssh-key ${userKey}: not one OpenSSH public key`);
    return key;
  }
  const p = sshPaths(stateDir);
  if (!(await exists(p.identity))) {
    await mkdir(p.dir, { recursive: true, mode: 0o700 });
    await rm(`${p.identity}.pub`, { force: true });
    const r = await run('ssh-keygen', ['-q', '-t', 'ecdsa', '-b', '256', '-N', '', '-C', `fleet-lab-${cluster}`, '-f', p.identity], { timeoutMs: 30_000 });
    if (r.code !== 0) throw new LabError(`ssh-keygen for the cluster key failed: ${r.stderr.trim() || `exit ${r.code}`}`);
  }
  await chmod(p.identity, 0o600);
  return (await readFile(`${p.identity}.pub`, 'utf8')).trim();
}

/**
 * Give a machine host keys of its own: unless its upper layer already holds some, remove the box's (seen
 * through the overlay) and generate new ones into the machine's root. Kept across poweroff; `replace` wipes them.
 */
export async function ensureHostKeys(root: string, upper: string): Promise<void> {
  if (await exists(join(upper, 'etc/ssh/ssh_host_ed25519_key'))) return;
  const etcSsh = join(root, 'etc/ssh');
  await mkdir(etcSsh, { recursive: true });
  for (const f of await readdir(etcSsh)) if (f.startsWith('ssh_host_')) await rm(join(etcSsh, f), { force: true });
  const r = await run('ssh-keygen', ['-A', '-f', root], { timeoutMs: 60_000 });
  if (r.code !== 0) throw new LabError(`ssh-keygen -A for ${root} failed: ${r.stderr.trim() || `exit ${r.code}`}`);
}

/** known_hosts lines for a machine: its address with each of its host public keys. */
export async function knownHostsLines(root: string, ip: string): Promise<string[]> {
  const etcSsh = join(root, 'etc/ssh');
  const out: string[] = [];
  for (const f of (await readdir(etcSsh).catch(() => [] as string[])).sort()) {
    if (!/^ssh_host_\w+_key\.pub$/.test(f)) continue;
    const [type, key] = (await readFile(join(etcSsh, f), 'utf8')).trim().split(/\s+/);
    if (type && key) out.push(`${ip} ${type} ${key}`);
  }
  return out;
}

export async function writeKnownHosts(stateDir: string, lines: readonly string[]): Promise<void> {
  const p = sshPaths(stateDir);
  await mkdir(p.dir, { recursive: true, mode: 0o700 });
  await writeFile(p.knownHosts, lines.join('\n') + (lines.length > 0 ? '\n' : ''));
}

/** What `up` and `env` tell the user about SSH (shell comments, safe to eval). */
export function sshHints(stateDir: string, userKey: string | undefined): string[] {
  const p = sshPaths(stateDir);
  const key = userKey === undefined ? p.identity : userKey.replace(/\.pub$/, '');
  return [
    `# ssh: machines accept ${userKey === undefined ? "the cluster's key" : 'your key'} ${key} for user ${SSH_USER}; fleetctl ssh, --tunnel`,
    '# and the SSH-based status/journal (--driver=etcd, real fleetctl) need it in an agent, and the machines\' host keys:',
    `#   eval "$(ssh-agent)"; ssh-add ${key}; export FLEETCTL_KNOWN_HOSTS_FILE=${p.knownHosts}`,
    '#   fleetctl ssh <machine-id> -- hostname',
    `#   ssh -i ${key} -o UserKnownHostsFile=${p.knownHosts} ${SSH_USER}@<machine ip>`,
  ];
}
