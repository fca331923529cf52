/** Names and addresses derived from a cluster name: state dirs, interfaces, namespaces, IPs. */
import { createHash, randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { LabError } from './errors.js';

export const DEFAULT_CLUSTER = 'lab';
export const DEFAULT_BASE_DIR = '/var/lib/fleet-lab';
/** where subnet reservations of all clusters live, whatever their state dirs */
export const SUBNET_RESERVATIONS = join(DEFAULT_BASE_DIR, '.subnets');
export const MAX_MACHINES = 200;
export const ETCD_CLIENT_PORT = 2379;
export const ETCD_PEER_PORT = 2380;
/** where the project directory appears inside every machine */
export const PROJECT_MOUNT = '/opt/fleet';

export function validateClusterName(name: string): string {
  if (!/^[a-z0-9][a-z0-9-]{0,30}$/.test(name)) {
    throw new LabError(
      `cluster name ${JSON.stringify(name)} is not valid: use 1-31 of a-z, 0-9 and '-', starting with a letter or digit`,
    );
  }
  return name;
}

export function machineName(index: number): string {
  return `m${index}`;
}

export function machineIndex(name: string): number {
  const m = /^m([1-9][0-9]*)$/.exec(name);
  const i = m ? Number(m[1]) : NaN;
  if (!(i >= 1 && i <= MAX_MACHINES)) {
    throw new LabError(`machine name ${JSON.stringify(name)} is not valid: machines are m1..m${MAX_MACHINES}`);
  }
  return i;
}

export function defaultStateDir(cluster: string): string {
  return join(DEFAULT_BASE_DIR, cluster);
}

const short = (s: string, n: number): string => createHash('sha1').update(s).digest('hex').slice(0, n);

/** Linux interface names have at most 15 characters. */
export function bridgeName(cluster: string): string {
  const plain = `fl-${cluster}`;
  return plain.length <= 15 ? plain : `fl-${short(cluster, 12)}`;
}

export function vethName(subnet: number, machine: string): string {
  return `fl${subnet}-${machine}`;
}

export function netnsName(cluster: string, machine: string): string {
  return `fleet-lab-${cluster}-${machine}`;
}

export function netnsPrefix(cluster: string): string {
  return `fleet-lab-${cluster}-`;
}

/** Name given to systemd-nspawn (--machine); unique across clusters on the box. */
export function nspawnMachineName(cluster: string, machine: string): string {
  return `${cluster}-${machine}`;
}

export function bridgeIp(subnet: number): string {
  return `198.18.${subnet}.1`;
}

export function subnetCidr(subnet: number): string {
  return `198.18.${subnet}.0/24`;
}

export function machineIp(subnet: number, index: number): string {
  return `198.18.${subnet}.${10 + index}`;
}

/** A loopback address of the cluster's own, so etcd's loopback listener never clashes with another. */
export function loopbackIp(subnet: number): string {
  return `127.18.${subnet}.1`;
}

/** Preferred subnet for a cluster name (1..254); allocation moves on if it is taken. */
export function preferredSubnet(cluster: string): number {
  return (parseInt(short(cluster, 8), 16) % 254) + 1;
}

/** A fresh machine-id: a random v4 UUID as 32 hex digits, like systemd-machine-id-setup makes. */
export function newMachineId(): string {
  return randomUUID().replace(/-/g, '');
}
