/**
 * coreos-cloudinit's command line: exit codes, messages, --validate, --dry-run, apply into --root. The cases run
 * its runCli in this process (cli); a few run the binary (bin), so main.ts's exit codes and stdin stay covered.
 */
import t from 'tap';
import { runNode, type Run } from '../harness/run.js';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { normalizeArgs } from '../../cloud-config/cli.js';
import { cloudInit, makeRoot, snapshot } from './helpers.js';

const BIN = fileURLToPath(new URL('../../cloud-config/main.js', import.meta.url));

function bin(args: string[], stdin = '', env: Record<string, string> = {}): Promise<Run> {
  return runNode(BIN, args, { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env }, stdin });
}

function cli(args: string[], stdin = '', env: Record<string, string> = {}): Promise<Run> {
  return cloudInit(args, { stdin, env });
}

const GOOD = `#cloud-config
hostname: web-1
coreos:
  fleet:
    public-ip: $private_ipv4
    metadata: role=web
    frobnicate: 1
write_files:
  - path: /etc/hello
    permissions: '0600'
    content: hi from $private_ipv4
`;

const BAD = `#cloud-config
coreos:
  units:
    - name: a.service
      command: start
    - name: b.service
      command: start
    - name: c.service
      command: strat
write_files:
  - path: /etc/x
    permissions: "999"
  - path: /etc/y
    encoding: gzip+base64
    content: "!!!"
`;

t.test('--validate: valid document, warnings on stderr, exit 0', async (t) => {
  const dir = await makeRoot((fn) => t.teardown(fn));
  const file = join(dir, 'user-data');
  await writeFile(file, GOOD);
  const r = await bin(['--validate', '--from-file', file, '--private-ipv4', '10.0.0.2']);
  t.equal(r.code, 0);
  t.equal(r.stdout, 'valid cloud-config (0 errors, 1 warning)\n');
  t.equal(r.stderr, 'warning: coreos.fleet.frobnicate: unknown key "frobnicate" (ignored) (line 7, column 5)\n');
});

t.test('--validate: every error with its path and position, exit 1', async (t) => {
  const r = await bin(['--validate', '--from-file', '-'], BAD);
  t.equal(r.code, 1);
  t.equal(r.stdout, '');
  t.equal(
    r.stderr,
    [
      'error: coreos.units[2].command: "strat" is not one of start|stop|restart|reload|try-restart|reload-or-restart|reload-or-try-restart (line 9, column 16)',
      'error: write_files[0].permissions: "999" is not an octal mode (line 12, column 18)',
      'error: write_files[1].content: cannot be decoded as "gzip+base64": not valid base64 (line 15, column 14)',
      '3 errors, 0 warnings; nothing was changed',
      '',
    ].join('\n'),
  );
});

t.test('unreadable file, unknown format, YAML error: exit 1 with a clear message', async (t) => {
  let r = await cli(['--from-file', '/nonexistent/user-data']);
  t.equal(r.code, 1);
  t.match(r.stderr, /^error: cannot read \/nonexistent\/user-data: ENOENT/);
  r = await cli(['--from-file', '-'], 'hostname: a\n');
  t.equal(r.code, 1);
  t.match(r.stderr, /the first line must be exactly "#cloud-config" or start with "#!", found "hostname: a"/);
  r = await cli(['--from-file', '-'], '');
  t.equal(r.code, 1);
  t.match(r.stderr, /the document is empty/);
  r = await cli(['--from-file', '-'], '#cloud-config\ncoreos:\n  units: [\n');
  t.equal(r.code, 1);
  t.match(r.stderr, /^error: YAML syntax error: .*\(line \d+, column \d+\)/);
});

t.test('usage errors exit 2', async (t) => {
  let r = await bin([]);
  t.equal(r.code, 2);
  t.match(r.stderr, /no user-data given: use --from-file PATH/);
  r = await cli(['--from-file', '-', '--frobnicate']);
  t.equal(r.code, 2);
  t.match(r.stderr, /Unknown argument: frobnicate/);
  r = await cli(['--from-file', '-', '--private-ipv4', '10.0.0'], GOOD);
  t.equal(r.code, 2);
  t.match(r.stderr, /--private-ipv4: "10\.0\.0" is not an IPv4 address/);
  r = await cli(['--from-file', '-'], GOOD, { COREOS_PUBLIC_IPV6: '10.0.0.1' });
  t.equal(r.code, 2);
  t.match(r.stderr, /COREOS_PUBLIC_IPV6: "10\.0\.0\.1" is not an IPv6 address/);
  r = await cli(['--help']);
  t.equal(r.code, 0);
  t.match(r.stdout, /--from-file/);
});

t.test("coreos-cloudinit's single-dash flags are accepted", async (t) => {
  t.same(normalizeArgs(['-from-file', '-', '-validate', '-x', '--root', '/r']), ['--from-file=-', '--validate', '-x', '--root', '/r']);
  const r = await cli(['-validate', '-from-file', '-'], GOOD);
  t.equal(r.code, 0);
});

t.test('apply into --root from stdin; env substitutions; the second run changes nothing', async (t) => {
  const root = await makeRoot((fn) => t.teardown(fn));
  const args = ['--from-file', '-', '--root', root];
  const first = await cli(args, GOOD, { COREOS_PRIVATE_IPV4: '10.0.0.9' });
  t.equal(first.code, 0, first.stderr);
  t.equal(
    first.stdout,
    [
      'changed: set hostname web-1',
      'changed: write /etc/hello mode 0600 (write_files[0])',
      'changed: set COREOS_PRIVATE_IPV4 in /etc/environment',
      'changed: write /run/systemd/system/fleet.service.d/20-cloudinit.conf mode 0644 (coreos.fleet)',
      'unchanged: unmask fleet.service if masked (/run/systemd/system/fleet.service)',
      'skipped: daemon-reload [no systemd connection]',
      '4 changed, 1 unchanged, 0 ran, 1 skipped, 0 failed',
      '',
    ].join('\n'),
  );
  t.equal(await readFile(join(root, 'etc/hello'), 'utf8'), 'hi from 10.0.0.9');
  t.equal(
    await readFile(join(root, 'run/systemd/system/fleet.service.d/20-cloudinit.conf'), 'utf8'),
    '[Service]\nEnvironment="FLEET_METADATA=role=web"\nEnvironment="FLEET_PUBLIC_IP=10.0.0.9"\n',
  );
  const before = await snapshot(root);
  const second = await cli(args, GOOD, { COREOS_PRIVATE_IPV4: '10.0.0.9' });
  t.equal(second.code, 0);
  t.match(second.stdout, /\nunchanged: daemon-reload \[no unit file changed\]\n0 changed, 6 unchanged, 0 ran, 0 skipped, 0 failed\n$/);
  t.same(await snapshot(root), before);

  const flagWins = await cli([...args, '--private-ipv4', '10.0.0.10'], GOOD, { COREOS_PRIVATE_IPV4: '10.0.0.9' });
  t.equal(flagWins.code, 0);
  t.equal(await readFile(join(root, 'etc/hello'), 'utf8'), 'hi from 10.0.0.10', 'the flag wins over the environment');
});

t.test('an invalid document changes nothing under --root', async (t) => {
  const root = await makeRoot((fn) => t.teardown(fn));
  const before = await snapshot(root);
  const r = await cli(['--from-file', '-', '--root', root], `${BAD}hostname: x\n`);
  t.equal(r.code, 1);
  t.equal(r.stdout, '');
  t.same(await snapshot(root), before);
});

t.test('--dry-run prints the plan and changes nothing', async (t) => {
  const root = await makeRoot((fn) => t.teardown(fn));
  const before = await snapshot(root);
  const r = await cli(['--from-file', '-', '--root', root, '--dry-run', '--private-ipv4', '10.0.0.2'], GOOD);
  t.equal(r.code, 0);
  t.match(r.stdout, /^would set hostname web-1\nwould write \/etc\/hello mode 0600 \(write_files\[0\]\)\n/);
  t.same(await snapshot(root), before);
});

t.test('systemd that cannot be reached: exit 3 before anything is changed', async (t) => {
  const root = await makeRoot((fn) => t.teardown(fn));
  const before = await snapshot(root);
  const r = await cli(['--from-file', '-', '--root', root, '--bus', `unix:path=${join(root, 'no-bus')}`], GOOD);
  t.equal(r.code, 3);
  t.match(r.stderr, /^error: cannot reach systemd: .*no-bus/m);
  t.same(await snapshot(root), before);
});

t.test('a #! script is stored; without systemd it is not run', async (t) => {
  const root = await makeRoot((fn) => t.teardown(fn));
  const r = await cli(['--from-file', '-', '--root', root], '#!/bin/sh\necho $private_ipv4\n', { COREOS_PRIVATE_IPV4: '10.1.2.3' });
  t.equal(r.code, 0);
  const m = /stored at (\/var\/lib\/coreos-cloudinit\/scripts\/[0-9a-f]+)/.exec(r.stdout);
  t.ok(m, r.stdout);
  t.equal(await readFile(join(root, m![1]!), 'utf8'), '#!/bin/sh\necho 10.1.2.3\n');
  const v = await cli(['--validate', '--from-file', '-'], '#!/bin/sh\necho hi\n');
  t.equal(v.stdout, 'valid script (0 errors, 0 warnings)\n');
});
