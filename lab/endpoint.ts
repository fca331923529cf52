/**
 * How fleetctl on the host reaches a lab cluster. Today fleetctl talks to etcd directly
 * (--driver=etcd); once fleetd serves its HTTP API on TCP this becomes http://<machine ip>:<port>.
 */
import type { LabState } from './state.js';

export function fleetctlEnvironment(s: LabState): Record<string, string> {
  if (!s.etcd) return {};
  return {
    FLEETCTL_ENDPOINT: s.etcd.clientUrl,
    FLEETCTL_DRIVER: 'etcd',
  };
}
