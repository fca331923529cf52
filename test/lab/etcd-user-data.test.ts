/**
 * The lab's user-data for an `up --etcd-members --etcd-tls --etcd-auth` cluster: every member in etcd_servers,
 * the CA, certificate and key written by write_files (the key 0600) and named by etcd_cafile/certfile/keyfile,
 * the fleet user's credentials, and a fleet drop-in cloud-config writes 0600 because it holds the password.
 */
import t from 'tap';
import { parseUserData, planCloudConfig, type PlanStep } from '../../cloud-config/index.js';
import { ETCD_CLIENT_FILES, labUserData } from '../../lab/user-data.js';

const subs = { privateIpv4: '198.18.5.11', publicIpv4: '198.18.5.11' };
const servers = ['https://198.18.5.1:2379', 'https://198.18.5.1:2389', 'https://198.18.5.1:2399'];
const pem = (what: string): string => `-----BEGIN ${what}-----\nAAAA\n-----END ${what}-----\n`;

function planOf(doc: string): readonly PlanStep[] {
  const parsed = parseUserData(doc, { substitutions: subs });
  if (parsed.kind !== 'cloud-config' || !parsed.config || parsed.diagnostics.length > 0) {
    throw new Error(`not a clean document: ${JSON.stringify(parsed.diagnostics)}`);
  }
  return planCloudConfig(parsed.config, { substitutions: subs }).steps;
}

function write(steps: readonly PlanStep[], path: string): { content: string; mode: number } | undefined {
  const s = steps.find((x) => x.kind === 'write' && x.path === path);
  return s && s.kind === 'write' ? { content: s.content.toString('utf8'), mode: s.mode } : undefined;
}

t.test('TLS files, all endpoints and the etcd user', async (t) => {
  const doc = labUserData({
    cluster: 'c1',
    machine: 'm1',
    etcdServers: servers,
    metadata: '',
    etcdClient: {
      tls: { ca: pem('CERTIFICATE'), cert: pem('CERTIFICATE'), key: pem('PRIVATE KEY') },
      auth: { username: 'fleet', password: 's3cret' },
    },
  });
  const steps = planOf(doc);
  t.match(write(steps, ETCD_CLIENT_FILES.key), { content: pem('PRIVATE KEY'), mode: 0o600 }, 'key 0600');
  t.match(write(steps, ETCD_CLIENT_FILES.cert), { content: pem('CERTIFICATE'), mode: 0o644 });
  t.match(write(steps, ETCD_CLIENT_FILES.ca), { content: pem('CERTIFICATE'), mode: 0o644 });
  const dropIn = write(steps, '/run/systemd/system/fleet.service.d/20-cloudinit.conf');
  t.equal(dropIn?.mode, 0o600, 'the drop-in holds the password: 0600');
  t.match(dropIn?.content, `FLEET_ETCD_SERVERS=${servers.join(',')}`);
  t.match(dropIn?.content, `FLEET_ETCD_CAFILE=${ETCD_CLIENT_FILES.ca}`);
  t.match(dropIn?.content, `FLEET_ETCD_CERTFILE=${ETCD_CLIENT_FILES.cert}`);
  t.match(dropIn?.content, `FLEET_ETCD_KEYFILE=${ETCD_CLIENT_FILES.key}`);
  t.match(dropIn?.content, 'FLEET_ETCD_USERNAME=fleet');
  t.match(dropIn?.content, 'FLEET_ETCD_PASSWORD=s3cret');
});

t.test('without an etcd client: no etcd files, no credentials', async (t) => {
  const steps = planOf(labUserData({ cluster: 'c1', machine: 'm1', etcdServers: servers.slice(0, 1), metadata: '' }));
  t.equal(write(steps, ETCD_CLIENT_FILES.key), undefined);
  t.notMatch(write(steps, '/run/systemd/system/fleet.service.d/20-cloudinit.conf')?.content ?? '', /ETCD_(CAFILE|USERNAME)/);
});
