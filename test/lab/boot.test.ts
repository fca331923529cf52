/**
 * The pure parts of how lab machines boot (lab/boot.ts, issue 15): per-machine boot options and their flags, the
 * nspawn command line of a bare machine and of one with init arguments, the EC2 metadata layout the lab's
 * metadata service answers (read back through our own --from-ec2-metadata source), the config drive files (read
 * back through --from-configdrive), the lab image files, and the user-data for a machine with the .deb installed.
 */
import t from 'tap';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { runNode } from '../harness/run.js';
import {
  answerMetadata,
  cmdlineBootArg,
  configDriveFiles,
  ec2Layout,
  imageFiles,
  initArgsOf,
  METADATA_URL,
  OEM_DEFAULTS,
  parseBootFrom,
  parseInitArgs,
} from '../../lab/boot.js';
import { nspawnArgs } from '../../lab/machine.js';
import { labUserData } from '../../lab/user-data.js';
import type { MachineRecord } from '../../lab/state.js';
import { ec2Metadata } from '../../cloud-config/datasource/ec2.js';
import { configDrive } from '../../cloud-config/datasource/configdrive.js';
import type { SourceContext } from '../../cloud-config/datasource/common.js';

const ctx: SourceContext = {
  http: { timeoutMs: 2_000, attempts: 2, initialBackoffMs: 5, maxBackoffMs: 20, maxRedirects: 0 },
  warn: () => undefined,
  onRetry: () => undefined,
};
const KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA op@example';
const facts = { name: 'm2', ip: '198.18.7.12', hostname: 'm2', machineId: '0123456789abcdef0123456789abcdef' };

t.test('flags: --boot-from MACHINE:SOURCE and --init-args MACHINE:ARGS', async (t) => {
  t.same(parseBootFrom(['m2:metadata', 'm3:configdrive', 'm4:cmdline']), { m2: 'metadata', m3: 'configdrive', m4: 'cmdline' });
  t.throws(() => parseBootFrom(['m2:floppy']), /expected MACHINE:metadata\|configdrive\|cmdline/);
  t.throws(() => parseBootFrom(['metadata']), /expected MACHINE:/);
  t.throws(() => parseBootFrom(['x9:metadata']), /machine name "x9" is not valid/);
  t.same(parseInitArgs(['m3:a=1  b=2', 'm3:c']), { m3: ['a=1', 'b=2', 'c'] });
  t.throws(() => parseInitArgs(['a=1']), /expected MACHINE:ARG/);
  // refused before anything is made (the state dir is never created)
  const stateDir = join(tmpdir(), `lab-boot-cli-${process.pid}`);
  const cli = fileURLToPath(new URL('../../lab/main.js', import.meta.url));
  const r = await runNode(cli, ['--name', 'hbcli', '--state-dir', stateDir, 'up', '--boot-from', 'm2:floppy']);
  t.equal(r.code, 1);
  t.equal(r.stderr, 'fleet-lab: --boot-from "m2:floppy": expected MACHINE:metadata|configdrive|cmdline (e.g. m2:metadata)\n');
  const bare = await runNode(cli, ['--name', 'hbcli', '--state-dir', stateDir, 'up', '--bare', 'x1']);
  t.match(bare.stderr, /machine name "x1" is not valid/);
  t.notOk(existsSync(stateDir));
});

t.test('nspawn: a bare machine has no /opt/fleet; init arguments and the cmdline URL follow systemd.unit=', async (t) => {
  const m: MachineRecord = {
    name: 'm2', index: 2, ip: facts.ip, machineId: facts.machineId, hostname: 'm2', netns: 'ns', veth: 'v', dir: '/s/m2',
    metadata: '', cut: false, docker: false,
  };
  const ctx = { cluster: 'c', projectDir: '/src', binds: [['/s/m2/configdrive', '/media/configdrive', true]] as const };
  t.ok(nspawnArgs(m, ctx).includes('--bind-ro=/src:/opt/fleet'), 'a normal machine has the project');
  const bare = nspawnArgs({ ...m, boot: { bare: true, from: 'cmdline', initArgs: ['quiet'] } }, ctx);
  t.notOk(bare.some((a) => a.includes('/opt/fleet')), 'a bare machine has nothing of ours');
  t.ok(bare.includes('--bind-ro=/s/m2/configdrive:/media/configdrive'));
  t.same(bare.slice(bare.indexOf('--')), ['--', 'systemd.unit=fleet-lab.target', 'systemd.firstboot=off', 'quiet', cmdlineBootArg()]);
  t.equal(cmdlineBootArg(), 'cloud-config-url=http://169.254.169.254/latest/user-data');
  t.same(initArgsOf(undefined), []);
  t.same(initArgsOf({ bare: false, from: 'metadata', initArgs: [] }), [], 'only cmdline puts a URL on the command line');
});

t.test("metadata service: each machine its own layout, read back by our --from-ec2-metadata", async (t) => {
  const layouts: Record<string, ReturnType<typeof ec2Layout>> = {
    '127.0.0.1': ec2Layout('#cloud-config\nhostname: x\n', { ...facts, publicKeys: [{ name: 'op', key: KEY }] }),
  };
  t.same(answerMetadata(undefined, '/latest/user-data'), { status: 404, body: 'not found\n' }, 'an unknown address gets nothing');
  const l = layouts['127.0.0.1'];
  t.equal(answerMetadata(l, '/').body, 'latest\n2009-04-04\n');
  t.equal(answerMetadata(l, '/latest/meta-data/').body, 'hostname\ninstance-id\nlocal-hostname\nlocal-ipv4\npublic-ipv4\npublic-keys/');
  t.equal(answerMetadata(l, '/latest/meta-data/public-keys').body, '0=op');
  t.equal(answerMetadata(l, '/2009-04-04/meta-data/public-keys/0/openssh-key').body, KEY);
  t.equal(answerMetadata(l, '/nope/user-data').status, 404);
  t.equal(answerMetadata(ec2Layout(undefined, facts), '/latest/user-data').status, 404, 'no user-data: 404, as EC2');

  const srv = createServer((req, res) => {
    const a = answerMetadata(layouts[req.socket.remoteAddress ?? ''], req.url ?? '/');
    res.writeHead(a.status).end(a.body);
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => srv.close(() => r())));
  const ds = ec2Metadata(`http://127.0.0.1:${(srv.address() as AddressInfo).port}/`, ctx);
  t.equal(await ds.isAvailable(new AbortController().signal), true);
  t.equal((await ds.fetchUserdata()).toString(), '#cloud-config\nhostname: x\n');
  t.same(await ds.fetchMetadata(), { hostname: 'm2', privateIpv4: facts.ip, publicIpv4: facts.ip, sshPublicKeys: [KEY] });
});

t.test('config drive: OpenStack user_data and EC2 addresses, read back by our --from-configdrive', async (t) => {
  const d = await mkdtemp(join(tmpdir(), 'lab-boot-'));
  t.teardown(() => rm(d, { recursive: true, force: true }));
  for (const [path, text] of Object.entries(configDriveFiles('#cloud-config\n', { ...facts, publicKeys: [{ name: 'op', key: KEY }] }))) {
    await mkdir(dirname(join(d, path)), { recursive: true });
    await writeFile(join(d, path), text);
  }
  const ds = configDrive(d, ctx);
  t.equal(await ds.isAvailable(new AbortController().signal), true);
  t.equal((await ds.fetchUserdata()).toString(), '#cloud-config\n');
  t.same(await ds.fetchMetadata(), { hostname: 'm2', privateIpv4: facts.ip, publicIpv4: facts.ip, sshPublicKeys: [KEY] });
});

t.test('image files: coreos-cloudinit from /opt/fleet, the boot units, user-config.target wanted at boot', async (t) => {
  const files = imageFiles('metadata', { 'user-config.target': '[Unit]\n' }, { cloudinit: '/opt/fleet/dist/cloud-config/main.js', bootTarget: 'fleet-lab.target' });
  t.match(files['/usr/bin/coreos-cloudinit']?.[0], /^#!\/bin\/sh\n[^]*exec \/usr\/bin\/node \/opt\/fleet\/dist\/cloud-config\/main\.js "\$@"\n$/);
  t.equal(files['/usr/bin/coreos-cloudinit']?.[1], 0o755);
  t.same(files['/etc/systemd/system/fleet-lab.target.wants/user-config.target'], ['link:/etc/systemd/system/user-config.target', 0o777]);
  t.same(files['/etc/systemd/system/user-config.target'], ['[Unit]\n', 0o644]);
  t.match(files[OEM_DEFAULTS]?.[0], `OEM_CLOUDINIT_ARGS="--from-ec2-metadata=${METADATA_URL}"`);
  t.notOk(OEM_DEFAULTS in imageFiles('configdrive', {}, { cloudinit: 'x', bootTarget: 'y' }), 'only the metadata source is the OEM');
});

t.test("user-data: the installed fleet.service (the .deb's) and literal addresses for a source without metadata", async (t) => {
  const base = { cluster: 'c', machine: 'm4', etcdServers: ['http://198.18.7.1:2379'], metadata: 'role=x' };
  const deb = parse(labUserData(base)) as { coreos: { units: unknown[]; fleet: Record<string, string> }; write_files: Array<{ content: string }> };
  t.same(deb.coreos.units, [{ name: 'fleet.service', command: 'start' }], 'no unit text: the installed unit is started');
  t.equal(deb.coreos.fleet.public_ip, '$public_ipv4');
  const cmd = parse(labUserData({ ...base, fleetUnit: '[Service]\n', ip: '198.18.7.14' })) as typeof deb;
  t.equal(cmd.coreos.fleet.public_ip, '198.18.7.14');
  t.match(cmd.write_files[0]?.content, /^api_listen=198\.18\.7\.14:49153$/m);
});
