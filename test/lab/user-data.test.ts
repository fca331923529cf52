/** The lab's user-data is a valid cloud-config document whatever a machine's metadata, and plans what a member needs. */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseUserData, planCloudConfig, type PlanStep } from '../../cloud-config/index.js';
import { labUserData, USER_DATA_PATH } from '../../lab/user-data.js';

const fleetUnit = readFileSync(fileURLToPath(new URL('../../../units/fleet.service', import.meta.url)), 'utf8');
const subs = { privateIpv4: '198.18.5.11', publicIpv4: '198.18.5.11' };
const base = { cluster: 'c1', machine: 'm1', etcdServers: ['http://198.18.5.1:2379'], metadata: 'role=worker,az=1', agentTtl: '3s', fleetUnit };

function planOf(doc: string): readonly PlanStep[] {
  const parsed = parseUserData(doc, { substitutions: subs });
  if (parsed.kind !== 'cloud-config' || !parsed.config) throw new Error(`not a valid document: ${JSON.stringify(parsed.diagnostics)}`);
  return planCloudConfig(parsed.config, { substitutions: subs }).steps;
}

const written = (steps: readonly PlanStep[], path: string): string | undefined => {
  const s = steps.find((x) => x.kind === 'write' && x.path === path);
  return s && s.kind === 'write' ? s.content.toString('utf8') : undefined;
};

t.test('a document cloud-config accepts without a warning', async (t) => {
  const doc = labUserData(base);
  t.match(doc, /^#cloud-config\n/);
  t.same(parseUserData(doc, { substitutions: subs }).diagnostics, [], USER_DATA_PATH);
  const steps = planOf(doc);
  t.equal(
    written(steps, '/run/systemd/system/fleet.service.d/20-cloudinit.conf'),
    '[Service]\nEnvironment="FLEET_AGENT_TTL=3s"\nEnvironment="FLEET_ETCD_SERVERS=http://198.18.5.1:2379"\n' +
      'Environment="FLEET_METADATA=role=worker,az=1"\nEnvironment="FLEET_PUBLIC_IP=198.18.5.11"\n',
  );
  t.match(written(steps, '/etc/fleet/fleet.conf'), /^api_listen=198\.18\.5\.11:49153$/m);
  t.equal(written(steps, '/etc/systemd/system/fleet.service'), fleetUnit, 'fleet.service verbatim ($MAINPID left alone)');
  t.same(
    steps.filter((s) => s.kind === 'unit-command').map((s) => s.kind === 'unit-command' && `${s.command} ${s.unit}`),
    ['start fleet.service'],
  );
});

t.test('empty metadata and no agent_ttl are left out; odd metadata stays text', async (t) => {
  const bare = planOf(labUserData({ ...base, metadata: '', agentTtl: undefined }));
  const dropIn = written(bare, '/run/systemd/system/fleet.service.d/20-cloudinit.conf') ?? '';
  t.notMatch(dropIn, 'FLEET_METADATA');
  t.notMatch(dropIn, 'FLEET_AGENT_TTL');
  for (const metadata of ['role: web', 'a=#1,b=yes', "q='x'", 'n=0644', 'x="y"']) {
    const steps = planOf(labUserData({ ...base, metadata }));
    const expected = metadata.replace(/\\/g, '\\\\').replace(/"/g, '\\"');
    t.match(written(steps, '/run/systemd/system/fleet.service.d/20-cloudinit.conf'), `Environment="FLEET_METADATA=${expected}"`, metadata);
  }
});

t.test('a metadata value with a line break is rejected by cloud-config, with its path', async (t) => {
  const parsed = parseUserData(labUserData({ ...base, metadata: 'role=web\nx=1' }), { substitutions: subs });
  t.match(parsed.diagnostics, [{ severity: 'error', path: 'coreos.fleet.metadata' }]);
});

t.test('with a key: core gets it and the journal group, sshd starts, fleetctl is on the PATH', async (t) => {
  const key = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGx0c3RrZXlmb3JmbGVldGxhYnRlc3RpbmcxMjM0NTY3 fleet-lab-c1';
  const doc = labUserData({ ...base, sshAuthorizedKeys: [key] });
  t.same(parseUserData(doc, { substitutions: subs }).diagnostics, []);
  const steps = planOf(doc);
  t.match(steps.find((s) => s.kind === 'user'), { user: { name: 'core', groups: ['systemd-journal'] } });
  t.match(steps.find((s) => s.kind === 'ssh-keys'), { user: 'core', keys: [key] });
  t.same(
    steps.filter((s) => s.kind === 'unit-command').map((s) => s.kind === 'unit-command' && `${s.command} ${s.unit}`),
    ['start fleet.service', 'start systemd-user-sessions.service', 'start ssh.service'],
  );
  t.match(written(steps, '/usr/local/bin/fleetctl'), /exec node \/opt\/fleet\/dist\/fleetctl\/main\.cjs "\$@"/);
  t.notOk(planOf(labUserData(base)).some((s) => s.kind === 'ssh-keys' || s.kind === 'user'), 'no key: no user, no sshd');
});
