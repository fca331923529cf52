import t from 'tap';
import { parseUserData } from '../../cloud-config/parse.js';
import { describeStep, planCloudConfig, planScript, type Plan, type PlanStep } from '../../cloud-config/plan.js';
import { quoteEnvironmentValue, renderEnvironmentDropIn, FLEET_OPTIONS } from '../../cloud-config/service-env.js';
import type { Substitutions } from '../../cloud-config/types.js';

function plan(body: string, substitutions: Substitutions = {}, sshKeyName?: string): Plan {
  const r = parseUserData(`#cloud-config\n${body}`, { substitutions });
  if (r.kind !== 'cloud-config' || !r.config) throw new Error(`invalid: ${JSON.stringify(r.diagnostics)}`);
  return planCloudConfig(r.config, { substitutions, ...(sshKeyName ? { sshKeyName } : {}) });
}

const lines = (p: Plan): string[] => p.steps.map(describeStep);

function writeOf(p: Plan, path: string): Extract<PlanStep, { kind: 'write' }> {
  const s = p.steps.find((x): x is Extract<PlanStep, { kind: 'write' }> => x.kind === 'write' && x.path === path);
  if (!s) throw new Error(`no write of ${path} in: ${lines(p).join(' | ')}`);
  return s;
}

t.test('fleet drop-in text, exactly as coreos-cloudinit writes it', async (t) => {
  const p = plan('coreos:\n  fleet:\n    public-ip: $public_ipv4\n    metadata: region=us-west\n', { publicIpv4: '203.0.113.29' });
  const w = writeOf(p, '/run/systemd/system/fleet.service.d/20-cloudinit.conf');
  t.equal(
    w.content.toString(),
    '[Service]\nEnvironment="FLEET_METADATA=region=us-west"\nEnvironment="FLEET_PUBLIC_IP=203.0.113.29"\n',
  );
  t.equal(w.mode, 0o644);
  t.equal(w.affects, 'units');
});

t.test('every fleet option, in coreos-cloudinit order then ours; zero values left out', async (t) => {
  const p = plan(`coreos:
  fleet:
    units_directory: /run/fleet/units
    disable_watches: true
    verbosity: 1
    token_limit: 50
    public_ip: 10.0.0.1
    metadata: "a=1,b=2"
    etcd_password: "p\\"w%d"
    etcd_username: fleet
    etcd_servers: http://10.0.0.1:2379,http://10.0.0.2:2379
    etcd_request_timeout: 3.0
    etcd_key_prefix: /_coreos.com/fleet/
    etcd_keyfile: /etc/ssl/k.pem
    etcd_certfile: /etc/ssl/c.pem
    etcd_cafile: /etc/ssl/ca.pem
    engine_reconcile_interval: 2.5
    disable_engine: true
    agent_ttl: 1m30s
    verify_units: false
    authorized_keys_file: ""
`);
  t.equal(
    writeOf(p, '/run/systemd/system/fleet.service.d/20-cloudinit.conf').content.toString(),
    [
      '[Service]',
      'Environment="FLEET_AGENT_TTL=1m30s"',
      'Environment="FLEET_DISABLE_ENGINE=true"',
      'Environment="FLEET_ENGINE_RECONCILE_INTERVAL=2.5"',
      'Environment="FLEET_ETCD_CAFILE=/etc/ssl/ca.pem"',
      'Environment="FLEET_ETCD_CERTFILE=/etc/ssl/c.pem"',
      'Environment="FLEET_ETCD_KEYFILE=/etc/ssl/k.pem"',
      'Environment="FLEET_ETCD_KEY_PREFIX=/_coreos.com/fleet/"',
      'Environment="FLEET_ETCD_REQUEST_TIMEOUT=3"',
      'Environment="FLEET_ETCD_SERVERS=http://10.0.0.1:2379,http://10.0.0.2:2379"',
      'Environment="FLEET_ETCD_USERNAME=fleet"',
      'Environment="FLEET_ETCD_PASSWORD=p\\"w%%d"',
      'Environment="FLEET_METADATA=a=1,b=2"',
      'Environment="FLEET_PUBLIC_IP=10.0.0.1"',
      'Environment="FLEET_TOKEN_LIMIT=50"',
      'Environment="FLEET_VERBOSITY=1"',
      'Environment="FLEET_DISABLE_WATCHES=true"',
      'Environment="FLEET_UNITS_DIRECTORY=/run/fleet/units"',
      '',
    ].join('\n'),
  );
});

t.test('systemd quoting of environment values', async (t) => {
  t.equal(quoteEnvironmentValue('a\\b"c%d'), 'a\\\\b\\"c%%d');
  t.equal(renderEnvironmentDropIn(FLEET_OPTIONS, { disable_engine: false, token_limit: 0, metadata: '' }), undefined);
});

t.test('no fleet drop-in when fleet sets nothing', async (t) => {
  const p = plan('coreos:\n  fleet:\n    disable_engine: false\n');
  t.same(lines(p), []);
});

t.test('etcd2 drop-in', async (t) => {
  const p = plan(`coreos:
  etcd2:
    name: $private_ipv4
    discovery: https://discovery.etcd.io/abc
    advertise-client-urls: http://$private_ipv4:2379
    listen-client-urls: http://0.0.0.0:2379
    heartbeat_interval: 600
    election_timeout: 6000
    proxy: off
    debug: false
`, { privateIpv4: '10.0.0.3' });
  t.equal(
    writeOf(p, '/run/systemd/system/etcd2.service.d/20-cloudinit.conf').content.toString(),
    [
      '[Service]',
      'Environment="ETCD_ADVERTISE_CLIENT_URLS=http://10.0.0.3:2379"',
      'Environment="ETCD_DISCOVERY=https://discovery.etcd.io/abc"',
      'Environment="ETCD_ELECTION_TIMEOUT=6000"',
      'Environment="ETCD_HEARTBEAT_INTERVAL=600"',
      'Environment="ETCD_LISTEN_CLIENT_URLS=http://0.0.0.0:2379"',
      'Environment="ETCD_NAME=10.0.0.3"',
      'Environment="ETCD_PROXY=off"',
      '',
    ].join('\n'),
  );
});

t.test('the whole order: hostname, users, keys, files, environment, units, generated, reload, commands', async (t) => {
  const p = plan(
    `
hostname: n1
ssh_authorized_keys: [ssh-ed25519 AAAA top]
users:
  - name: alice
    ssh_authorized_keys: [ssh-ed25519 BBBB alice]
write_files:
  - path: /etc/motd
    content: hi
    owner: alice
coreos:
  fleet:
    metadata: a=b
  etcd2:
    name: e1
  units:
    - name: etcd2.service
      command: start
    - name: fleet.service
      command: start
    - name: hello.service
      content: "[Service]\\nExecStart=/bin/true\\n"
      enable: true
      drop-ins:
        - name: 10-x.conf
          content: "[Service]\\nEnvironment=X=1\\n"
    - name: rt.service
      runtime: true
      content: x
      command: restart
    - name: gone.service
      mask: true
`,
    { privateIpv4: '10.0.0.9' },
  );
  t.same(lines(p), [
    'set hostname n1',
    'ensure user alice exists (users[0])',
    'ensure user core exists (ssh_authorized_keys)',
    'authorize 1 SSH key for alice as coreos-cloudinit (users[0].ssh_authorized_keys)',
    'authorize 1 SSH key for core as coreos-cloudinit (ssh_authorized_keys)',
    'write /etc/motd mode 0644 owner alice (write_files[0])',
    'set COREOS_PRIVATE_IPV4 in /etc/environment',
    'write /etc/systemd/system/hello.service mode 0644 (coreos.units[2])',
    'write /etc/systemd/system/hello.service.d/10-x.conf mode 0644 (coreos.units[2].drop_ins[0])',
    'enable hello.service',
    'write /run/systemd/system/rt.service mode 0644 (coreos.units[3])',
    'unmask rt.service if masked (/run/systemd/system/rt.service)',
    'mask gone.service (/etc/systemd/system/gone.service -> /dev/null)',
    'write /run/systemd/system/etcd2.service.d/20-cloudinit.conf mode 0644 (coreos.etcd2)',
    'unmask etcd2.service if masked (/run/systemd/system/etcd2.service)',
    'write /run/systemd/system/fleet.service.d/20-cloudinit.conf mode 0644 (coreos.fleet)',
    'unmask fleet.service if masked (/run/systemd/system/fleet.service)',
    'daemon-reload',
    'start etcd2.service',
    'start fleet.service',
    'restart rt.service',
  ]);
});

t.test('SSH keys for the same user are merged into one key file (idempotent)', async (t) => {
  const p = plan(
    'ssh_authorized_keys: ["ssh-rsa A one ", ssh-rsa B two]\nusers:\n  - name: core\n    ssh_authorized_keys: [ssh-rsa B two, ssh-rsa C three]\n',
    {},
    'my-keys',
  );
  const keys = p.steps.filter((s) => s.kind === 'ssh-keys');
  t.same(keys, [
    { kind: 'ssh-keys', user: 'core', keyName: 'my-keys', keys: ['ssh-rsa B two', 'ssh-rsa C three', 'ssh-rsa A one'], source: 'users[0].ssh_authorized_keys' },
  ]);
  t.equal(p.steps.filter((s) => s.kind === 'user').length, 1, 'core from users[] is not added again');
});

t.test('unit file locations: /etc or /run, system or network', async (t) => {
  const p = plan(`coreos:
  units:
    - {name: a.service, content: x}
    - {name: b.service, content: x, runtime: true}
    - {name: 10-e.network, content: x}
    - {name: 10-e.netdev, content: x, runtime: true}
    - {name: 10-e.link, content: x, drop_ins: [{name: a.conf, content: y}]}
`);
  t.same(
    p.steps.filter((s) => s.kind === 'write').map((s) => s.kind === 'write' && `${s.path} ${s.affects}`),
    [
      '/etc/systemd/system/a.service units',
      '/run/systemd/system/b.service units',
      '/etc/systemd/network/10-e.network network',
      '/run/systemd/network/10-e.netdev network',
      '/etc/systemd/network/10-e.link network',
      '/etc/systemd/network/10-e.link.d/a.conf network',
    ],
  );
  t.same(lines(p).slice(-2), ['daemon-reload', 'restart systemd-networkd.service']);
});

t.test('write_files into unit directories count as unit changes', async (t) => {
  const p = plan('write_files:\n  - path: /etc/systemd/system/w.service\n    content: x\n  - path: /etc/other\ncoreos:\n  units:\n    - {name: w.service, command: start}\n');
  t.equal(writeOf(p, '/etc/systemd/system/w.service').affects, 'units');
  t.equal(writeOf(p, '/etc/other').affects, undefined);
  t.same(lines(p).slice(-2), ['daemon-reload', 'start w.service']);
});

t.test('no reload when nothing touches unit files; commands still run', async (t) => {
  const p = plan('coreos:\n  units:\n    - {name: a.service, command: stop}\n');
  t.same(lines(p), ['stop a.service']);
});

t.test('a later write of the same path replaces the earlier one', async (t) => {
  const p = plan('write_files:\n  - {path: /etc/a, content: one}\n  - {path: /etc/b, content: b}\n  - {path: /etc/a, content: two}\n');
  t.same(lines(p), ['write /etc/b mode 0644 (write_files[1])', 'write /etc/a mode 0644 (write_files[2])']);
  t.equal(writeOf(p, '/etc/a').content.toString(), 'two');
});

t.test('/etc/environment: set from substitutions unless write_files writes it', async (t) => {
  const subs = { privateIpv4: '10.0.0.1', publicIpv6: '2001:db8::2' };
  const p = plan('hostname: a\n', subs);
  t.same(p.steps.find((s) => s.kind === 'environment'), {
    kind: 'environment',
    path: '/etc/environment',
    vars: { COREOS_PRIVATE_IPV4: '10.0.0.1', COREOS_PUBLIC_IPV6: '2001:db8::2' },
    source: 'substitutions',
  });
  t.notOk(plan('write_files:\n  - path: /etc/environment\n', subs).steps.some((s) => s.kind === 'environment'));
  t.notOk(plan('hostname: a\n').steps.some((s) => s.kind === 'environment'), 'nothing without values');
});

t.test('scripts are stored by content hash and run as a transient unit', async (t) => {
  const a = planScript('#!/bin/sh\necho a\n');
  const b = planScript('#!/bin/sh\necho a\n');
  t.same(a, b, 'the same script plans the same');
  const s = a.steps[0]!;
  t.equal(s.kind, 'script');
  if (s.kind !== 'script') return;
  t.match(s.path, /^\/var\/lib\/coreos-cloudinit\/scripts\/[0-9a-f]{16}$/);
  t.equal(s.unit, `coreos-cloudinit-${s.path.split('/').pop()}.service`);
  t.not(planScript('#!/bin/sh\necho b\n').steps[0], s);
});
