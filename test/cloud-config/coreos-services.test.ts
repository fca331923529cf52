/**
 * Issue 15: the cloud-config keys that used to be ignored now write what coreos-cloudinit wrote for them:
 * `manage_etc_hosts: localhost` (/etc/hosts), `coreos.update` (/etc/coreos/update.conf, and locksmithd restarted,
 * or stopped and masked for `off`; update-engine restarted for a group or server), `coreos.locksmith`
 * (locksmithd's drop-in), `coreos.flannel` (/run/flannel/options.env) and `coreos.etcd`, etcd 0.4 (etcd.service's
 * drop-in). A host without CoreOS's locksmithd or update-engine skips their commands instead of failing.
 */
import t from 'tap';
import { lstat, mkdir, readFile, readlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { applyPlan, type ApplyReport } from '../../cloud-config/apply.js';
import { parseUserData, type ParseResult } from '../../cloud-config/parse.js';
import { describeStep, planCloudConfig, type Plan } from '../../cloud-config/plan.js';
import type { SystemdApplier } from '../../cloud-config/systemd-applier.js';
import type { UnitCommand } from '../../cloud-config/types.js';
import { SystemdError, NO_SUCH_UNIT } from '../../lib/systemd/errors.js';
import { makeRoot } from './helpers.js';

function parse(body: string): ParseResult {
  return parseUserData(`#cloud-config\n${body}`);
}

function plan(body: string): Plan {
  const r = parse(body);
  if (r.kind !== 'cloud-config' || !r.config) throw new Error(`invalid: ${JSON.stringify(r.diagnostics)}`);
  return planCloudConfig(r.config, { currentHostname: 'box-7' });
}

const steps = (p: Plan): string[] => p.steps.map(describeStep);
const outcomes = (r: ApplyReport): string[] =>
  r.results.map((x) => `${x.outcome}: ${describeStep(x.step)}${x.detail ? ` [${x.detail}]` : ''}`);
const messages = (r: ParseResult, severity: 'error' | 'warning'): string[] =>
  r.diagnostics.filter((d) => d.severity === severity).map((d) => `${d.path}: ${d.message}`);

/** systemd as cloud-config sees it, knowing only the units in `installed`. */
class FakeSystemd implements SystemdApplier {
  readonly calls: string[] = [];
  constructor(private readonly installed: readonly string[]) {}
  async reload(): Promise<void> {
    this.calls.push('daemon-reload');
  }
  async enableUnitFiles(): Promise<boolean> {
    return false;
  }
  async runUnitCommand(unit: string, command: UnitCommand): Promise<string> {
    if (!this.installed.includes(unit)) throw new SystemdError(`Unit ${unit} not found.`, NO_SUCH_UNIT, 'RestartUnit', unit);
    this.calls.push(`${command} ${unit}`);
    return 'done';
  }
  async close(): Promise<void> {}
}

t.test('the formerly ignored keys are validated like the others', async (t) => {
  const bad = parse(`
manage_etc_hosts: true
coreos:
  update:
    reboot_strategy: sometimes
  locksmith:
    window_start: "Fri 25:00"
    window_length: forever!
  flannel:
    etcd_prefix: "a\\nFLANNELD_IFACE=evil"
  etcd:
    snapshot_count: -1
`);
  t.same(messages(bad, 'error').sort(), [
    'coreos.etcd.snapshot_count: must be at least 0, got -1',
    'coreos.flannel.etcd_prefix: must be a single line',
    'coreos.locksmith.window_length: "forever!" is not a duration such as "1h30m"',
    'coreos.locksmith.window_start: "Fri 25:00" is not a time such as "Thu 04:00" or "04:00"',
    'coreos.update.reboot_strategy: "sometimes" is not one of etcd-lock|reboot|off',
    'manage_etc_hosts: expected a string, got a boolean (true); put it in quotes if you mean the text',
  ]);
  const good = parse(`
manage_etc_hosts: localhost
coreos:
  update: {reboot-strategy: off}
  etcd: {peer_addr: "10.0.0.1:7001", proxy: "on"}
`);
  t.same(messages(good, 'error'), []);
  t.same(messages(good, 'warning'), ['coreos.etcd.proxy: deprecated: etcd2 options no longer work for etcd']);
});

t.test('the plan: files in coreos-cloudinit order, drop-ins, locksmithd masked for off, optional commands last', async (t) => {
  const p = plan(`
manage_etc_hosts: localhost
write_files:
  - {path: /etc/motd, content: hi}
coreos:
  update: {reboot_strategy: "off", group: beta}
  locksmith: {endpoint: "http://10.0.0.1:2379", window_start: "Thu 04:00", window_length: 1h}
  flannel: {etcd_endpoints: "http://10.0.0.1:2379", interface: eth1}
  etcd: {name: node1, addr: "10.0.0.1:4001"}
  units:
    - {name: a.service, command: start}
`);
  t.same(steps(p), [
    'write /etc/motd mode 0644 (write_files[0])',
    'set REBOOT_STRATEGY GROUP in /etc/coreos/update.conf',
    'write /etc/hosts mode 0644 (manage_etc_hosts)',
    'write /run/flannel/options.env mode 0644 (coreos.flannel)',
    'write /run/systemd/system/etcd.service.d/20-cloudinit.conf mode 0644 (coreos.etcd)',
    'unmask etcd.service if masked (/run/systemd/system/etcd.service)',
    'write /run/systemd/system/locksmithd.service.d/20-cloudinit.conf mode 0644 (coreos.locksmith)',
    'mask locksmithd.service (/run/systemd/system/locksmithd.service -> /dev/null)',
    'daemon-reload',
    'start a.service',
    'stop locksmithd.service',
    'restart update-engine.service',
  ]);
  const hosts = p.steps.find((s) => s.kind === 'write' && s.path === '/etc/hosts');
  t.equal(hosts?.kind === 'write' ? hosts.content.toString() : '', '127.0.0.1 box-7\n', "this host's name when the document sets none");
  const named = plan('hostname: web-1\nmanage_etc_hosts: localhost\n').steps.find((s) => s.kind === 'write' && s.path === '/etc/hosts');
  t.equal(named?.kind === 'write' ? named.content.toString() : '', '127.0.0.1 web-1\n', "the document's hostname");
  const restart = plan('coreos:\n  update: {reboot_strategy: etcd-lock}\n');
  t.same(steps(restart).slice(1), [
    'unmask locksmithd.service if masked (/run/systemd/system/locksmithd.service)',
    'daemon-reload',
    'restart locksmithd.service',
  ]);
});

t.test('apply: the files coreos-cloudinit wrote, update.conf merged, CoreOS units absent here skipped', async (t) => {
  const root = await makeRoot((fn) => t.teardown(fn));
  await mkdir(join(root, 'usr/share/coreos'), { recursive: true });
  await writeFile(join(root, 'usr/share/coreos/update.conf'), 'GROUP=stable\n# shipped\nSERVER=https://public.update.example/v1/update/\n');
  const p = plan(`
manage_etc_hosts: localhost
hostname: web-1
coreos:
  update: {reboot_strategy: "off", group: beta}
  locksmith: {endpoint: "http://10.0.0.1:2379", etcd_password: "s3cret%"}
  flannel: {etcd_endpoints: "http://10.0.0.1:2379", etcd_password: pw, ip_masq: "true"}
  etcd: {name: node1, addr: "10.0.0.1:4001", snapshot_count: 5000, verbose: true, http_read_timeout: 2.5}
`);
  const systemd = new FakeSystemd(['update-engine.service']);
  const r = await applyPlan(p, { root, units: systemd });
  t.equal(r.error, undefined, 'no step failed');
  t.equal(
    await readFile(join(root, 'etc/coreos/update.conf'), 'utf8'),
    'GROUP=beta\n# shipped\nSERVER=https://public.update.example/v1/update/\nREBOOT_STRATEGY=off\n',
    'started from the shipped defaults, GROUP replaced, REBOOT_STRATEGY added',
  );
  t.equal(await readFile(join(root, 'etc/hosts'), 'utf8'), '127.0.0.1 web-1\n');
  t.equal(
    await readFile(join(root, 'run/flannel/options.env'), 'utf8'),
    'FLANNELD_ETCD_ENDPOINTS=http://10.0.0.1:2379\nFLANNELD_ETCD_PASSWORD=pw\nFLANNELD_IP_MASQ=true\n',
  );
  t.equal((await lstat(join(root, 'run/flannel/options.env'))).mode & 0o777, 0o600, 'a file holding a password is 0600');
  t.equal(
    await readFile(join(root, 'run/systemd/system/etcd.service.d/20-cloudinit.conf'), 'utf8'),
    '[Service]\nEnvironment="ETCD_ADDR=10.0.0.1:4001"\nEnvironment="ETCD_HTTP_READ_TIMEOUT=2.5"\nEnvironment="ETCD_NAME=node1"\n' +
      'Environment="ETCD_SNAPSHOTCOUNT=5000"\nEnvironment="ETCD_VERBOSE=true"\n',
  );
  t.equal(
    await readFile(join(root, 'run/systemd/system/locksmithd.service.d/20-cloudinit.conf'), 'utf8'),
    '[Service]\nEnvironment="LOCKSMITHD_ENDPOINT=http://10.0.0.1:2379"\nEnvironment="LOCKSMITHD_ETCD_PASSWORD=s3cret%%"\n',
  );
  t.equal((await lstat(join(root, 'run/systemd/system/locksmithd.service.d/20-cloudinit.conf'))).mode & 0o777, 0o600);
  t.equal(await readlink(join(root, 'run/systemd/system/locksmithd.service')), '/dev/null', 'locksmithd masked for reboot_strategy off');
  t.same(outcomes(r).slice(-3), [
    'ran: daemon-reload',
    'skipped: stop locksmithd.service [locksmithd.service is not installed on this host]',
    'ran: restart update-engine.service [job done]',
  ]);
  t.same(systemd.calls, ['daemon-reload', 'restart update-engine.service']);

  const again = await applyPlan(p, { root, units: new FakeSystemd([]) });
  t.same(again.results.filter((x) => x.outcome === 'changed').map((x) => describeStep(x.step)), [], 'a second apply changes nothing');
});

t.test("a unit the document itself names still fails when systemd does not know it", async (t) => {
  const root = await makeRoot((fn) => t.teardown(fn));
  const r = await applyPlan(plan('coreos:\n  units:\n    - {name: locksmithd.service, command: restart}\n'), { root, units: new FakeSystemd([]) });
  t.match(r.error?.message, /restart locksmithd\.service.*not found/);
});
