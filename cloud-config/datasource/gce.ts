/**
 * --from-gce-metadata URL: Google Compute Engine's metadata server (every request carries
 * `Metadata-Flavor: Google`): user-data is the instance attribute `user-data`; metadata is the first
 * interface's address and its first access config's external address, and the instance hostname.
 * SSH keys are left to Google's own agent, as coreos-cloudinit did.
 */
import { checkedMetadata, MetadataService, type SourceContext } from './common.js';
import type { Datasource, Metadata } from './types.js';

const API = 'computeMetadata/v1/';

export function gceMetadata(root: string, ctx: SourceContext): Datasource {
  const svc = new MetadataService('gce-metadata', root, ctx, { 'Metadata-Flavor': 'Google' });
  return {
    type: 'gce-metadata',
    location: svc.root.href,
    availabilityChanges: true,
    isAvailable: (signal) => svc.available(API, signal),
    fetchUserdata: () => svc.userdata(`${API}instance/attributes/user-data`),
    async fetchMetadata(): Promise<Metadata> {
      return checkedMetadata('gce-metadata', ctx.warn, {
        publicIpv4: await svc.text(`${API}instance/network-interfaces/0/access-configs/0/external-ip`),
        privateIpv4: await svc.text(`${API}instance/network-interfaces/0/ip`),
        hostname: await svc.text(`${API}instance/hostname`),
      });
    },
  };
}
