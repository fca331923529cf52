/**
 * How fleetctl on the host reaches a lab cluster: fleetd's HTTP API on TCP (every machine listens on
 * API_PORT at its own address, set up by its cloud-config), or etcd directly (`--driver=etcd`).
 */
import { LabError } from './errors.js';
import { machineRunning } from './machine.js';
import type { LabState, MachineRecord } from './state.js';

/** The TCP port of fleetd's API on every lab machine (the port CoreOS's fleet docs used). */
export const API_PORT = 49153;

export interface EnvOptions {
  /** fleetctl --driver=etcd against the lab's etcd instead of the API */
  readonly etcd?: boolean;
}

export function apiUrl(ip: string): string {
  return `http://${ip}:${API_PORT}`;
}

/** The machine fleetctl talks to: the first one running, else the first one. */
export function endpointMachine(s: LabState): MachineRecord | undefined {
  const all = Object.values(s.machines).sort((a, b) => a.index - b.index);
  return all.find(machineRunning) ?? all[0];
}

export function fleetctlEnvironment(s: LabState, opts: EnvOptions = {}): Record<string, string> {
  if (opts.etcd) {
    if (!s.etcd) return {};
    const c = s.etcdCluster;
    // fleetctl's etcd driver has no user or password setting (nor had fleet's): with auth on it could only fail
    if (c?.authEnabled || c?.auth) {
      throw new LabError('this lab\'s etcd requires a password, which fleetctl\'s etcd driver cannot send; use the API (`fleet-lab env` without --etcd)');
    }
    return {
      FLEETCTL_ENDPOINT: c ? c.members.map((m) => m.clientUrl).join(',') : s.etcd.clientUrl,
      FLEETCTL_DRIVER: 'etcd',
      ...(c?.tls ? { FLEETCTL_CA_FILE: c.tls.caFile, FLEETCTL_CERT_FILE: c.tls.clientCert, FLEETCTL_KEY_FILE: c.tls.clientKey } : {}),
    };
  }
  const m = endpointMachine(s);
  if (!m) return {};
  return { FLEETCTL_ENDPOINT: apiUrl(m.ip), FLEETCTL_DRIVER: 'API' };
}
