/** The parts of fleet-lab and lib/systemd that need no machine: names, escaping, config text. */
import t from 'tap';
import { bridgeName, machineIndex, machineIp, netnsName, preferredSubnet, validateClusterName, vethName } from '../../lab/names.js';
import { fleetConf, type BootstrapContext } from '../../lab/bootstrap.js';
import { formatTable } from '../../lab/table.js';
import { fleetctlEnvironment } from '../../lab/endpoint.js';
import { pkiPaths } from '../../lab/pki.js';
import type { LabState } from '../../lab/state.js';
import { escapeBusLabel, unescapeBusLabel, unitNameOfPath, unitObjectPath } from '../../lib/systemd/index.js';

t.test('unit object paths use systemd bus-label escaping', async (t) => {
  t.equal(unitObjectPath('dbus.service'), '/org/freedesktop/systemd1/unit/dbus_2eservice');
  t.equal(unitObjectPath('fleet-lab.target'), '/org/freedesktop/systemd1/unit/fleet_2dlab_2etarget');
  t.equal(escapeBusLabel('1a'), '_31a', 'a leading digit is escaped');
  t.equal(escapeBusLabel('a1'), 'a1');
  t.equal(escapeBusLabel(''), '_');
  for (const name of ['getty@tty1.service', 'foo\\x2dbar.mount', 'héllo.service', '9.service']) {
    t.equal(unescapeBusLabel(escapeBusLabel(name)), name, `round trip ${name}`);
    t.equal(unitNameOfPath(unitObjectPath(name)), name);
  }
  t.equal(unitNameOfPath('/org/freedesktop/systemd1'), undefined);
  t.equal(unitNameOfPath('/org/freedesktop/systemd1/job/12'), undefined);
});

t.test('interface names fit in 15 characters and clusters do not share them', async (t) => {
  t.equal(bridgeName('lab'), 'fl-lab');
  const long = bridgeName('a-very-long-cluster-name');
  t.ok(long.length <= 15, long);
  t.not(long, bridgeName('a-very-long-cluster-nam3'));
  t.ok(vethName(254, 'm200').length <= 15);
  t.equal(netnsName('lab', 'm1'), 'fleet-lab-lab-m1');
  t.equal(machineIp(7, 1), '198.18.7.11');
  const x = preferredSubnet('lab');
  t.ok(x >= 1 && x <= 254);
  t.equal(preferredSubnet('lab'), x, 'stable');
});

t.test('names are validated with actionable messages', async (t) => {
  t.throws(() => validateClusterName('Bad_Name'), /cluster name "Bad_Name" is not valid/);
  t.throws(() => validateClusterName(''), /not valid/);
  t.equal(validateClusterName('ci-1'), 'ci-1');
  t.equal(machineIndex('m12'), 12);
  t.throws(() => machineIndex('node1'), /machines are m1\.\.m200/);
  t.throws(() => machineIndex('m0'), /not valid/);
});

t.test('fleet.conf carries etcd, address, metadata and agent_ttl', async (t) => {
  const ctx = {
    machine: { name: 'm1', ip: '198.18.5.11', machineId: 'x', metadata: 'role=web,az=1' },
    busAddress: '',
    etcdServers: ['http://198.18.5.1:2379'],
    agentTtl: '3s',
    projectDir: '/work',
    writeFile: async () => undefined,
    readFile: async () => undefined,
  } satisfies BootstrapContext;
  t.equal(
    fleetConf(ctx),
    '# written by fleet-lab\netcd_servers="http://198.18.5.1:2379"\npublic_ip="198.18.5.11"\n' +
      'metadata="role=web,az=1"\nagent_ttl="3s"\n',
  );
  t.notMatch(fleetConf({ ...ctx, agentTtl: undefined }), 'agent_ttl');
});

t.test('tables align columns', async (t) => {
  t.equal(formatTable(['A', 'BB'], [['xxx', 'y'], ['z', '']]), 'A    BB\nxxx  y\nz\n');
});

t.test('env --etcd: every member, the client certificate with TLS, and a clear refusal with etcd auth', async (t) => {
  const base: LabState = { version: 1, name: 'x', stateDir: '/s', projectDir: '/p', subnet: 7, bridge: 'fl-x', bridgeIp: '198.18.7.1', fleet: true, machines: {} };
  const etcd = { dataDir: '/s/etcd', log: '/s/etcd.log', clientUrl: 'http://198.18.7.1:2379', loopbackUrl: 'http://127.0.0.1:2379', peerUrl: 'http://198.18.7.1:2380' };
  t.same(fleetctlEnvironment({ ...base, etcd }, { etcd: true }), { FLEETCTL_ENDPOINT: 'http://198.18.7.1:2379', FLEETCTL_DRIVER: 'etcd' });
  const member = (slot: number) => ({ name: `e${slot}`, slot, dataDir: `/s/e${slot}`, log: `/s/e${slot}.log`, clientUrl: `https://198.18.7.1:${2379 + slot * 10}`, peerUrl: `https://198.18.7.1:${2380 + slot * 10}` });
  const tls = pkiPaths('/s');
  const cluster = { members: [member(1), member(2), member(3)], token: 'tok', tls };
  t.same(fleetctlEnvironment({ ...base, etcd, etcdCluster: cluster }, { etcd: true }), {
    FLEETCTL_ENDPOINT: 'https://198.18.7.1:2389,https://198.18.7.1:2399,https://198.18.7.1:2409',
    FLEETCTL_DRIVER: 'etcd',
    FLEETCTL_CA_FILE: '/s/pki/ca.pem',
    FLEETCTL_CERT_FILE: '/s/pki/client.pem',
    FLEETCTL_KEY_FILE: '/s/pki/client.key',
  });
  const auth = { rootPassword: 'r', username: 'fleet', password: 'p' };
  t.throws(() => fleetctlEnvironment({ ...base, etcd, etcdCluster: { ...cluster, auth, authEnabled: true } }, { etcd: true }), /requires a password.*use the API/);
});
