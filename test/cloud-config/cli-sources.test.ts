/** coreos-cloudinit's data source flags through runCli (in-process): metadata feeding substitution, hostname and
 * keys; gzip and script user-data; --oem, --ignore-failure, --workspace; failures naming the source. */
import t from 'tap';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { runCli, type CliIO } from '../../cloud-config/cli.js';
import { cloudInit, makeRoot } from './helpers.js';
import { fakeServer } from './fake-metadata.js';
import { buildDatasources, DEFAULT_HTTP, OEM_PRESETS } from '../../cloud-config/datasource/index.js';

const KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA key@example';

interface Result {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

async function cli(args: string[], env: Record<string, string> = {}): Promise<Result> {
  let stdout = '';
  let stderr = '';
  const io: CliIO = {
    stdout: (s) => void (stdout += s),
    stderr: (s) => void (stderr += s),
    readStdin: () => Promise.resolve(''),
    env,
    datasourceTiming: {
      http: { timeoutMs: 2_000, attempts: 3, initialBackoffMs: 5, maxBackoffMs: 10, maxRedirects: 3 },
      select: { timeoutMs: 300, intervalMs: 5, maxIntervalMs: 20 },
    },
  };
  const code = await runCli(args, io);
  return { code, stdout, stderr };
}

const DOC = `#cloud-config
write_files:
  - path: /etc/hello
    content: "private $private_ipv4 public $public_ipv4"
`;

/** An EC2 metadata service; `addressesOnly` leaves out the hostname and key (applying those needs root). */
function ec2Routes(userdata: string | Buffer, addressesOnly = false): Record<string, string | Buffer> {
  if (addressesOnly) {
    return {
      '/2009-04-04': 'meta-data',
      '/2009-04-04/user-data': userdata,
      '/2009-04-04/meta-data/local-ipv4': '10.0.0.5',
      '/2009-04-04/meta-data/public-ipv4': '203.0.113.5',
    };
  }
  return {
    '/2009-04-04': 'meta-data',
    '/2009-04-04/user-data': userdata,
    '/2009-04-04/meta-data/hostname': 'ec2-host',
    '/2009-04-04/meta-data/local-ipv4': '10.0.0.5',
    '/2009-04-04/meta-data/public-ipv4': '203.0.113.5',
    '/2009-04-04/meta-data/public-keys': '0=k',
    '/2009-04-04/meta-data/public-keys/0/openssh-key': KEY,
  };
}

t.test('--from-ec2-metadata: addresses feed $private_ipv4/$public_ipv4 and /etc/environment', async (t) => {
  const root = await makeRoot((fn) => t.teardown(fn));
  const srv = await fakeServer(t, ec2Routes(DOC, true));
  const r = await cli(['--from-ec2-metadata', srv.url, '--root', root, '--no-systemd', '--ssh-key-name', 'x']);
  t.equal(r.stderr, `using data source ec2-metadata (${srv.url})\n`);
  t.equal(r.code, 0, r.stderr);
  t.equal(await readFile(join(root, 'etc/hello'), 'utf8'), 'private 10.0.0.5 public 203.0.113.5');
  t.match(await readFile(join(root, 'etc/environment'), 'utf8'), /COREOS_PRIVATE_IPV4=10\.0\.0\.5\nCOREOS_PUBLIC_IPV4=203\.0\.113\.5\n/);
});

t.test('metadata hostname and SSH keys are applied (dry run); the document hostname wins with a warning', async (t) => {
  const srv = await fakeServer(t, ec2Routes('#cloud-config\n'));
  const r = await cli(['-from-ec2-metadata', srv.url, '--dry-run']);
  t.equal(r.code, 0, r.stderr);
  t.equal(
    r.stdout,
    [
      'would set hostname ec2-host',
      'would ensure user core exists (ssh_authorized_keys)',
      'would authorize 1 SSH key for core as coreos-cloudinit (ssh_authorized_keys)',
      'would set COREOS_PRIVATE_IPV4 COREOS_PUBLIC_IPV4 in /etc/environment',
      '',
    ].join('\n'),
  );
  srv.routes = ec2Routes('#cloud-config\nhostname: mine\n');
  const r2 = await cli(['--from-ec2-metadata', srv.url, '--dry-run']);
  t.match(r2.stdout, /^would set hostname mine\n/);
  t.match(r2.stderr, /warning: the document's hostname "mine" wins over the metadata's "ec2-host"/);
});

t.test('flags win over metadata, metadata over COREOS_* variables', async (t) => {
  const root = await makeRoot((fn) => t.teardown(fn));
  const srv = await fakeServer(t, ec2Routes(DOC, true));
  const r = await cli(['--from-ec2-metadata', srv.url, '--root', root, '--no-systemd', '--public-ipv4', '192.0.2.1'], {
    COREOS_PRIVATE_IPV4: '172.16.0.1',
    COREOS_PUBLIC_IPV4: '172.16.0.2',
  });
  t.equal(r.code, 0, r.stderr);
  t.equal(await readFile(join(root, 'etc/hello'), 'utf8'), 'private 10.0.0.5 public 192.0.2.1');
});

t.test('gzip user-data from a source and from --from-file', async (t) => {
  const root = await makeRoot((fn) => t.teardown(fn));
  const drive = join(root, 'drive');
  await mkdir(join(drive, 'openstack/latest'), { recursive: true });
  await mkdir(join(drive, 'ec2/latest'), { recursive: true });
  await writeFile(join(drive, 'openstack/latest/user_data'), gzipSync(DOC));
  await writeFile(join(drive, 'ec2/latest/meta-data.json'), JSON.stringify({ 'local-ipv4': '10.9.0.1' }));
  const r = await cli(['--from-configdrive', drive, '--root', root, '--no-systemd']);
  t.equal(r.code, 0, r.stderr);
  t.equal(await readFile(join(root, 'etc/hello'), 'utf8'), 'private 10.9.0.1 public ');
  t.match(r.stderr, /warning: write_files\[0\].content: \$public_ipv4 has no value/);

  const file = join(root, 'user-data.gz');
  await writeFile(file, gzipSync('#cloud-config\nhostname: zipped\n'));
  const r2 = await cli(['--from-file', file, '--validate', '--from-configdrive', drive]);
  t.equal(r2.stdout, 'valid cloud-config (0 errors, 0 warnings)\n');
  t.equal(r2.stderr, `warning: --from-file is given, so configdrive (${drive}) is not asked\n`);

  const r3 = await cloudInit(['--from-file', '-', '--validate'], { stdin: gzipSync('#cloud-config\nhostname: zipped\n') });
  t.equal(r3.stdout, 'valid cloud-config (0 errors, 0 warnings)\n', `gzip on stdin: ${r3.stderr}`);
});

t.test('script user-data from a source: metadata applied first, the script stored under --workspace', async (t) => {
  const srv = await fakeServer(t, { '/u': '#!/bin/sh\necho hi\n' });
  const d = await makeRoot((fn) => t.teardown(fn));
  const cmdline = join(d, 'cmdline');
  await writeFile(cmdline, `quiet cloud-config-url=${srv.url}u\n`);
  const r = await cli(['--from-proc-cmdline', '--proc-cmdline-file', cmdline, '--workspace', '/opt/ws/', '--dry-run']);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /^would run script \/opt\/ws\/scripts\/[0-9a-f]{16} as coreos-cloudinit-[0-9a-f]{16}\.service\n$/);
  t.equal(r.stderr, `using data source proc-cmdline (${cmdline})\n`);
  t.same(srv.requests, ['GET /u']);

  const ec2 = await fakeServer(t, ec2Routes(gzipSync('#!/bin/sh\necho hi\n')));
  const r2 = await cli(['--from-ec2-metadata', ec2.url, '--dry-run']);
  t.equal(r2.code, 0, r2.stderr);
  t.match(r2.stdout, /^would set hostname ec2-host\n(.*\n)*would run script \/var\/lib\/coreos-cloudinit\/scripts\/[0-9a-f]{16} as .*\n$/);
});

t.test('each source through the CLI: its addresses reach the document', async (t) => {
  const root = await makeRoot((fn) => t.teardown(fn));
  const gce = await fakeServer(t, {
    '/computeMetadata/v1/': 'x',
    '/computeMetadata/v1/instance/attributes/user-data': DOC,
    '/computeMetadata/v1/instance/network-interfaces/0/ip': '10.1.1.1',
    '/computeMetadata/v1/instance/network-interfaces/0/access-configs/0/external-ip': '198.51.100.1',
  });
  const doc = { interfaces: { public: [{ ipv4: { ip_address: '198.51.100.2' } }], private: [{ ipv4: { ip_address: '10.1.1.2' } }] } };
  const digitalocean = await fakeServer(t, { '/metadata/v1': 'x', '/metadata/v1/user-data': DOC, '/metadata/v1.json': JSON.stringify(doc) });
  const packet = await fakeServer(t, {
    '/': 'x',
    '/userdata': DOC,
    '/metadata': JSON.stringify({ network: { addresses: [{ address_family: 4, public: false, address: '10.1.1.3' }, { address_family: 4, public: true, address: '198.51.100.3' }] } }),
  });
  const wa = join(root, 'waagent');
  await mkdir(wa);
  await writeFile(join(wa, 'provisioned'), '');
  await writeFile(join(wa, 'CustomData'), DOC);
  await writeFile(
    join(wa, 'SharedConfig.xml'),
    '<SharedConfig><Incarnation instance="i"/><Instances><Instance id="i" address="10.1.1.4"><InputEndpoints><Endpoint loadBalancedPublicAddress="198.51.100.4:22"/></InputEndpoints></Instance></Instances></SharedConfig>',
  );
  const cases: [string[], string][] = [
    [['--from-gce-metadata', gce.url], '1'],
    [['--from-digitalocean-metadata', digitalocean.url], '2'],
    [['--from-packet-metadata', packet.url], '3'],
    [['--from-waagent', wa], '4'],
  ];
  for (const [args, n] of cases) {
    const r = await cli([...args, '--root', root, '--no-systemd']);
    t.equal(r.code, 0, r.stderr);
    t.equal(await readFile(join(root, 'etc/hello'), 'utf8'), `private 10.1.1.${n} public 198.51.100.${n}`, args[0]);
  }
});

t.test('retries exhausted: exit 1 naming the source, nothing changed; --ignore-failure applies the metadata', async (t) => {
  const root = await makeRoot((fn) => t.teardown(fn));
  const srv = await fakeServer(t, { ...ec2Routes(''), '/2009-04-04/user-data': (_req, res) => res.writeHead(503).end() });
  const r = await cli(['--from-ec2-metadata', srv.url, '--root', root, '--no-systemd']);
  // (were it applied, the metadata's key would need root for useradd; it is not applied)
  t.equal(r.code, 1);
  t.match(r.stderr, `error: cannot read user-data: ec2-metadata (${srv.url}2009-04-04/user-data): gave up after 3 attempts: HTTP 503\nnothing was changed\n`);
  t.match(r.stderr, /retry: ec2-metadata .*: HTTP 503; attempt 1 of 3, retrying in 5 ms/);
  await t.rejects(readFile(join(root, 'etc/environment')), 'nothing was written');

  const r2 = await cli(['--from-ec2-metadata', srv.url, '--dry-run', '--ignore-failure']);
  t.equal(r2.code, 0, r2.stderr);
  t.match(r2.stderr, /the user-data is ignored \(--ignore-failure\)/);
  t.match(r2.stdout, /^would set hostname ec2-host\n/);
});

t.test('invalid user-data: exit 1; with --ignore-failure the metadata alone is applied, exit 0', async (t) => {
  const srv = await fakeServer(t, ec2Routes('#cloud-config\nhostname: [\n'));
  const r = await cli(['--from-ec2-metadata', srv.url, '--dry-run']);
  t.equal(r.code, 1);
  t.match(r.stderr, /1 error, 0 warnings; nothing was changed/);
  t.equal(r.stdout, '');
  const r2 = await cli(['--from-ec2-metadata', srv.url, '--dry-run', '--ignore-failure']);
  t.equal(r2.code, 0);
  t.match(r2.stdout, /^would set hostname ec2-host\n/);
  const r3 = await cli(['--from-ec2-metadata', srv.url, '--validate', '--ignore-failure']);
  t.equal(r3.code, 1, '--validate reports invalid user-data even with --ignore-failure');
});

t.test('no user-data at a source is not an error: the metadata is applied', async (t) => {
  const srv = await fakeServer(t, { ...ec2Routes(''), '/2009-04-04/user-data': (_req, res) => res.writeHead(404).end() });
  const r = await cli(['--from-ec2-metadata', srv.url, '--dry-run']);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /^would set hostname ec2-host\n/);
  const v = await cli(['--from-ec2-metadata', srv.url, '--validate']);
  t.equal(v.stdout, 'no user-data\n');
});

t.test('no source available in time: exit 1 naming what was tried', async (t) => {
  const root = await makeRoot((fn) => t.teardown(fn));
  const r = await cli(['--from-configdrive', join(root, 'none'), '--from-url', 'http://127.0.0.1:9/x']);
  t.equal(r.code, 1);
  t.equal(
    r.stderr,
    `error: no data source was available within 0.3 s (tried configdrive ${join(root, 'none')}, url http://127.0.0.1:9/x)\n(nothing was changed)\n`,
  );
});

t.test('usage: bad URLs, unknown --oem, a relative --workspace, no source at all', async (t) => {
  const bad = await cli(['--from-url', 'file:///etc/shadow']);
  t.equal(bad.code, 2);
  t.equal(bad.stderr, 'coreos-cloudinit: url (file:///etc/shadow): only http and https URLs are read, not file:\n');
  const ec2 = await cli(['--from-ec2-metadata', 'gopher://x/']);
  t.equal(ec2.code, 2);
  const oem = await cli(['--oem', 'vmware']);
  t.equal(oem.code, 2);
  t.equal(oem.stderr, 'coreos-cloudinit: --oem: "vmware" is not one of ec2-compat, rackspace-onmetal, digitalocean, azure, packet\n');
  t.equal((await cli(['--oem', 'toString'])).code, 2, 'a name of an object property is not an OEM');
  const ws = await cli(['--from-file', '/dev/null', '--workspace', 'rel']);
  t.equal(ws.code, 2);
  t.match(ws.stderr, /--workspace: "rel" is not an absolute path/);
  const none = await cli([]);
  t.equal(none.code, 2);
  t.match(none.stderr, /no user-data given: use --from-file PATH .* or a data source \(--from-url, --from-configdrive, /);
});

t.test('--oem sets the platform sources (azure: the waagent directory)', async (t) => {
  const r = await cli(['--oem', 'azure', '--validate'], {});
  // /var/lib/waagent/provisioned does not exist here: nothing is available within the test's 0.3 s
  t.equal(r.code, 1);
  t.match(r.stderr, /tried waagent \/var\/lib\/waagent\)/);
  // the other presets are only built here: running them would ask the real link-local metadata address
  const ctx = { http: DEFAULT_HTTP, warn: () => undefined };
  const built = (oem: string): string[] => buildDatasources(OEM_PRESETS[oem]!, ctx).map((d) => `${d.type} ${d.location}`);
  t.same(built('ec2-compat'), ['configdrive /media/configdrive', 'ec2-metadata http://169.254.169.254/']);
  t.same(built('rackspace-onmetal'), ['configdrive /media/configdrive']);
  t.same(built('digitalocean'), ['digitalocean-metadata http://169.254.169.254/']);
  t.same(built('packet'), ['packet-metadata https://metadata.packet.net/']);
});
