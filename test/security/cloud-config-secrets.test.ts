/**
 * Files holding secrets are not world-readable: the fleet drop-in cloud-config generates with etcd_password is
 * 0600, a fleet.conf given in write_files with api_token/etcd_password and no permissions is written 0600 (with
 * a warning), and fleetd warns once at start when its own config file holding a secret is readable by others.
 */
import t, { type Test } from 'tap';
import { chmod, lstat, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { applyPlan } from '../../cloud-config/apply.js';
import { parseUserData } from '../../cloud-config/parse.js';
import { planCloudConfig } from '../../cloud-config/plan.js';
import { loadConfig } from '../../fleetd/config.js';
import { makeRoot } from '../cloud-config/helpers.js';

async function applied(t: Test, body: string): Promise<{ root: string; warnings: string[] }> {
  const root = await makeRoot((fn) => t.teardown(fn));
  const r = parseUserData(`#cloud-config\n${body}`);
  if (r.kind !== 'cloud-config' || !r.config) throw new Error(`invalid: ${JSON.stringify(r.diagnostics)}`);
  const report = await applyPlan(planCloudConfig(r.config), { root });
  t.notOk(report.error, report.error?.message ?? 'applied');
  return { root, warnings: r.diagnostics.filter((d) => d.severity === 'warning').map((d) => `${d.path}: ${d.message}`) };
}

const modeOf = async (p: string): Promise<number> => (await lstat(p)).mode & 0o7777;

t.test('the generated fleet drop-in holding etcd_password is 0600', async (t) => {
  const { root } = await applied(t, 'coreos:\n  fleet:\n    etcd_username: fleet\n    etcd_password: hunter2\n');
  t.equal(await modeOf(join(root, 'run/systemd/system/fleet.service.d/20-cloudinit.conf')), 0o600);
});

t.test('a fleet drop-in without secrets stays 0644', async (t) => {
  const { root } = await applied(t, 'coreos:\n  fleet:\n    metadata: role=web\n');
  t.equal(await modeOf(join(root, 'run/systemd/system/fleet.service.d/20-cloudinit.conf')), 0o644);
});

t.test('fleet.conf with api_token and no permissions is written 0600, with a warning', async (t) => {
  const { root, warnings } = await applied(t, 'write_files:\n  - path: /etc/fleet/fleet.conf\n    content: |\n      api_listen=10.0.0.1:49153\n      api_token="s3cret"\n');
  t.equal(await modeOf(join(root, 'etc/fleet/fleet.conf')), 0o600);
  t.ok(warnings.some((w) => /^write_files\[0\]\.permissions: .*api_token.*0600/.test(w)), JSON.stringify(warnings));
});

t.test('fleet.conf with a secret and explicit world-readable permissions: kept, but warned about', async (t) => {
  const { root, warnings } = await applied(t, "write_files:\n  - path: /etc/fleet/fleet.conf\n    permissions: '0644'\n    content: |\n      etcd_password = x\n");
  t.equal(await modeOf(join(root, 'etc/fleet/fleet.conf')), 0o644);
  t.ok(warnings.some((w) => /^write_files\[0\]\.permissions: .*etcd_password.*readable/.test(w)), JSON.stringify(warnings));
});

t.test('fleetd warns when its config file holding a secret is readable by group or others', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'cloud-config-fleetconf-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'fleet.conf');
  await writeFile(file, 'api_token = abc\n');
  await chmod(file, 0o644);
  const loud = loadConfig({ configFile: file, env: {} });
  t.equal(loud.warnings.filter((w) => /readable by group or others/.test(w)).length, 1, JSON.stringify(loud.warnings));
  t.match(loud.warnings.join('\n'), /fleet\.conf.*api_token.*0644/);
  await chmod(file, 0o600);
  t.notOk(loadConfig({ configFile: file, env: {} }).warnings.some((w) => /readable/.test(w)), '0600: no warning');
  await writeFile(file, 'metadata = a=b\n');
  await chmod(file, 0o644);
  t.notOk(loadConfig({ configFile: file, env: {} }).warnings.some((w) => /readable/.test(w)), 'no secret: no warning');
  const key = join(dir, 'client.key');
  await writeFile(key, 'KEY');
  await chmod(key, 0o644);
  await writeFile(file, `etcd_keyfile = ${key}\netcd_certfile = ${key}\n`);
  const keyed = loadConfig({ configFile: file, env: {} });
  t.ok(keyed.warnings.some((w) => /client\.key.*etcd_keyfile.*readable by group or others/.test(w)), JSON.stringify(keyed.warnings));
  t.notOk(keyed.warnings.some((w) => /etcd_certfile/.test(w)), 'a certificate is no secret');
});
