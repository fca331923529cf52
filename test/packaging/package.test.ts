/**
 * Issue 15: the installable packages scripts/package.sh builds. The .deb has the three programs on PATH, the code
 * with its runtime dependencies (never tests, benchmarks or the lab), fleet.service running /usr/bin/fleetd, the
 * cloud-config boot units and a fleet.conf sample listing every option; unpacked, its programs run. `npm pack`'s
 * tarball installs with no registry (--offline) and its programs run.
 * Builds both packages (about a minute on the 2-core box, xz left out), so it stays out of the fast tier:
 * test-tier: lab
 */
import t from 'tap';
import { mkdtempSync, readFileSync, readlinkSync, rmSync, existsSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../../lab/run.js';
import { FLEET_OPTION_TABLE } from '../../lib/fleet-options.js';
import { VERSION } from '../../lib/version.js';

const work = mkdtempSync(join(tmpdir(), 'fleet-package-'));
t.teardown(() => rmSync(work, { recursive: true, force: true }));
const env: Record<string, string> = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/root', PACKAGE_COMPRESS: 'none' };
/** `cmd args...` (lab/run.ts) with the environment above only, never the test runner's. */
const runCommand = (cmd: string, args: readonly string[], o: { input?: string; timeoutMs?: number } = {}) =>
  run(cmd, args, { env, timeoutMs: 300_000, ...o });

t.test('the .deb: control, contents, units; unpacked, its programs run', { timeout: 600_000 }, async (t) => {
  const built = await runCommand('bash', ['scripts/package.sh', 'deb', join(work, 'deb')], { timeoutMs: 300_000 });
  t.equal(built.code, 0, `package.sh deb: ${built.stderr}`);
  const deb = built.stdout.trim();
  t.equal(deb, join(work, 'deb', `fleet-ts_${VERSION}_all.deb`));

  const info = await runCommand('dpkg-deb', ['-f', deb]);
  t.match(info.stdout, /^Package: fleet-ts$/m);
  t.match(info.stdout, /^Architecture: all$/m);
  t.match(info.stdout, /^Depends: nodejs \(>= 20\)/m, "Debian's Node");

  const list = (await runCommand('dpkg-deb', ['-c', deb])).stdout;
  for (const path of [
    './usr/bin/fleetd -> ../lib/fleet-ts/dist/fleetd/main.js',
    './usr/bin/fleetctl -> ../lib/fleet-ts/dist/fleetctl/main.cjs',
    './usr/bin/coreos-cloudinit -> ../lib/fleet-ts/dist/cloud-config/main.js',
    './usr/lib/fleet-ts/dist/fleetctl/quick.cjs',
    './usr/lib/fleet-ts/dist/fleetctl/full.cjs',
    './lib/systemd/system/fleet.service',
    './lib/systemd/system/fleet.socket',
    './lib/systemd/system/user-config.target',
    './lib/systemd/system/system-config.target',
    './lib/systemd/system/oem-cloudinit.service',
    './usr/lib/fleet-ts/node_modules/etcd3/package.json',
    './usr/share/doc/fleet-ts/fleet.conf.sample',
  ]) {
    t.ok(list.includes(path), `contains ${path}`);
  }
  for (const absent of ['/dist/test/', '/dist/bench/', '/dist/lab/', '/node_modules/tap/', '/node_modules/typescript/']) {
    t.notOk(list.includes(absent), `nothing of ${absent}`);
  }
  t.notMatch(list, /fleet-ts\/dist\/\S+\.(map|d\.ts|tsbuildinfo)$/m, 'no source maps or declarations of ours');

  const root = join(work, 'root');
  t.equal((await runCommand('dpkg-deb', ['-x', deb, root])).code, 0);
  const unit = readFileSync(join(root, 'lib/systemd/system/fleet.service'), 'utf8');
  t.match(unit, /^ExecStart=\/usr\/bin\/fleetd$/m, 'fleet.service runs the installed fleetd');
  const sample = readFileSync(join(root, 'usr/share/doc/fleet-ts/fleet.conf.sample'), 'utf8');
  for (const o of FLEET_OPTION_TABLE.filter((o) => o.ignored === undefined)) t.match(sample, new RegExp(`^# ${o.name}=$`, 'm'), `sample has ${o.name}`);
  t.equal(readlinkSync(join(root, 'usr/bin/fleetctl')), '../lib/fleet-ts/dist/fleetctl/main.cjs');
  t.ok(statSync(join(root, 'usr/lib/fleet-ts/dist/fleetctl/main.cjs')).mode & 0o111, 'executable');
  // Run through the /usr/bin links, as a user would (Node resolves node_modules from the link's target).
  const v = await runCommand(join(root, 'usr/bin/fleetctl'), ['version']);
  t.equal(v.stdout, `fleetctl version ${VERSION}\n`);
  t.equal((await runCommand(join(root, 'usr/bin/fleetd'), ['--version'])).stdout, `fleetd version ${VERSION}\n`);
  const cc = await runCommand(join(root, 'usr/bin/coreos-cloudinit'), ['--validate', '--from-file', '-'], { input: '#cloud-config\ncoreos:\n  update: {reboot_strategy: "off"}\n' });
  t.equal(cc.code, 0, `coreos-cloudinit --validate: ${cc.stderr}`);
  const help = await runCommand(join(root, 'usr/bin/fleetctl'), ['list-machines', '--help']);
  t.equal(help.code, 0, 'a command that loads yargs and the rest runs from the package');
  if (existsSync('/usr/bin/systemd-analyze')) {
    const units = ['fleet.service', 'user-config.target', 'system-config.target', 'oem-cloudinit.service', 'user-configdrive.service', 'user-cloudinit-proc-cmdline.service'];
    const verify = await runCommand('systemd-analyze', ['verify', '--root', root, ...units.map((u) => `/lib/systemd/system/${u}`)]);
    t.notMatch(verify.stderr, /(Unknown|Invalid|bad-setting|Failed to parse)/i, `systemd-analyze verify: ${verify.stderr}`);
  }
});

t.test('npm pack: installs offline, its programs run', { timeout: 600_000 }, async (t) => {
  const built = await runCommand('bash', ['scripts/package.sh', 'npm', join(work, 'npm')], { timeoutMs: 300_000 });
  t.equal(built.code, 0, `package.sh npm: ${built.stderr}`);
  const tgz = built.stdout.trim();
  const prefix = join(work, 'prefix');
  const installed = await runCommand('npm', ['install', '-g', '--offline', '--no-audit', '--no-fund', '--prefix', prefix, tgz], { timeoutMs: 300_000 });
  t.equal(installed.code, 0, `npm install --offline: ${installed.stderr}`);
  t.equal((await runCommand(join(prefix, 'bin/fleetctl'), ['version'])).stdout, `fleetctl version ${VERSION}\n`);
  t.equal((await runCommand(join(prefix, 'bin/fleetd'), ['--version'])).stdout, `fleetd version ${VERSION}\n`);
  t.equal((await runCommand(join(prefix, 'bin/coreos-cloudinit'), ['--version'])).code, 0);
  t.equal(existsSync(join(prefix, 'lib/node_modules/fleet-ts/dist/test')), false, 'no tests in the package');
});
