/**
 * The `#cloud-config` user-data that turns a lab machine into a fleet member, as on a CoreOS host:
 * `coreos.fleet` becomes fleet.service's FLEET_* drop-in, `write_files` adds the fleet.conf options
 * cloud-config's fleet section has no key for (the TCP API), `coreos.units` installs and starts fleet.service.
 * Addresses are left as `$private_ipv4`/`$public_ipv4`: coreos-cloudinit fills them in on the machine.
 */
import { stringify } from 'yaml';
import { API_PORT } from './endpoint.js';
import type { LabEtcdClient } from './etcd-cluster.js';
import { FLEETCTL_WRAPPER, FLEETCTL_WRAPPER_PATH, SSH_USER, SSH_USER_GROUPS, SSHD_UNIT, USER_SESSIONS_UNIT } from './ssh.js';

/** Where the lab puts the document inside a machine (coreos-cloudinit reads it from there). */
export const USER_DATA_PATH = '/var/lib/coreos-cloudinit/user-data';
/** Options of fleet.conf that `coreos.fleet` cannot carry. */
export const FLEET_CONF = '/etc/fleet/fleet.conf';
/** What coreos-cloudinit writes for `coreos.fleet`. */
export const FLEET_DROP_IN = '/run/systemd/system/fleet.service.d/20-cloudinit.conf';

export interface UserDataInput {
  readonly cluster: string;
  readonly machine: string;
  readonly etcdServers: readonly string[];
  /** `k=v,k2=v2`; '' for none */
  readonly metadata: string;
  /** Go duration, e.g. `3s` */
  readonly agentTtl?: string;
  /** text of units/fleet.service; undefined: start the fleet.service installed in the machine (the .deb's) */
  readonly fleetUnit?: string;
  /** the machine's address written literally, for a source with no metadata to fill in `$public_ipv4` (cmdline) */
  readonly ip?: string;
  /** client certificate and credentials for an `--etcd-tls`/`--etcd-auth` etcd (lab/etcd-cluster.ts) */
  readonly etcdClient?: LabEtcdClient;
  /**
   * public keys for user core (`ssh_authorized_keys`, lab/ssh.ts); with some, core is also put in the journal's
   * group and sshd (Debian's ssh.service) is started
   */
  readonly sshAuthorizedKeys?: readonly string[];
}

/** Where the user-data puts the etcd client files inside a machine. */
export const ETCD_CLIENT_FILES = { ca: '/etc/fleet/etcd-ca.pem', cert: '/etc/fleet/etcd-client.pem', key: '/etc/fleet/etcd-client.key' } as const;

export function fleetConfForCloudConfig(ip = '$private_ipv4'): string {
  return [
    '# written by coreos-cloudinit from fleet-lab user-data; the other options are FLEET_* variables',
    `# in ${FLEET_DROP_IN} (coreos.fleet)`,
    `api_listen=${ip}:${API_PORT}`,
    '',
  ].join('\n');
}

export function labUserData(input: UserDataInput): string {
  const fleet: Record<string, string> = {
    etcd_servers: input.etcdServers.join(','),
    public_ip: input.ip ?? '$public_ipv4',
  };
  if (input.metadata !== '') fleet.metadata = input.metadata;
  if (input.agentTtl) fleet.agent_ttl = input.agentTtl;
  const keys = input.sshAuthorizedKeys ?? [];
  const writeFiles = [{ path: FLEET_CONF, permissions: '0644', content: fleetConfForCloudConfig(input.ip) }];
  const tls = input.etcdClient?.tls;
  if (tls) {
    writeFiles.push(
      { path: ETCD_CLIENT_FILES.ca, permissions: '0644', content: tls.ca },
      { path: ETCD_CLIENT_FILES.cert, permissions: '0644', content: tls.cert },
      { path: ETCD_CLIENT_FILES.key, permissions: '0600', content: tls.key },
    );
    fleet.etcd_cafile = ETCD_CLIENT_FILES.ca;
    fleet.etcd_certfile = ETCD_CLIENT_FILES.cert;
    fleet.etcd_keyfile = ETCD_CLIENT_FILES.key;
  }
  const auth = input.etcdClient?.auth;
  if (auth) {
    fleet.etcd_username = auth.username;
    fleet.etcd_password = auth.password;
  }
  // fleetctl on the PATH, as on a CoreOS host (not for a bare machine: it has no project dir)
  if (input.fleetUnit !== undefined) writeFiles.push({ path: FLEETCTL_WRAPPER_PATH, permissions: '0755', content: FLEETCTL_WRAPPER });
  const units: Record<string, string>[] = [
    { name: 'fleet.service', ...(input.fleetUnit === undefined ? {} : { content: input.fleetUnit }), command: 'start' },
  ];
  // systemd-user-sessions removes /run/nologin (pam_nologin refuses core while it exists); the lab's boot target
  // never reaches the multi-user.target that starts it on a normal host
  if (keys.length > 0) units.push({ name: USER_SESSIONS_UNIT, command: 'start' }, { name: SSHD_UNIT, command: 'start' });
  const doc = {
    ...(keys.length > 0 ? { users: [{ name: SSH_USER, groups: [...SSH_USER_GROUPS] }], ssh_authorized_keys: [...keys] } : {}),
    write_files: writeFiles,
    coreos: { fleet, units },
  };
  const header = `#cloud-config\n# fleet-lab cluster ${input.cluster}, machine ${input.machine}\n`;
  return header + stringify(doc, { blockQuote: 'literal', lineWidth: 0 });
}
