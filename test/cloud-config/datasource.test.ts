/** cloud-config's data sources, each against a fake server on 127.0.0.1 or a temp directory: user-data, metadata
 * mapping, retries with backoff, bounds, refused redirects, and choosing among several sources. */
import t from 'tap';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { configDrive } from '../../cloud-config/datasource/configdrive.js';
import { digitalOceanMetadata } from '../../cloud-config/datasource/digitalocean.js';
import { ec2Metadata } from '../../cloud-config/datasource/ec2.js';
import { gceMetadata } from '../../cloud-config/datasource/gce.js';
import { packetMetadata } from '../../cloud-config/datasource/packet.js';
import { commandLinePath, findCloudConfigUrl, PID1_CMDLINE, PROC_CMDLINE, procCmdline } from '../../cloud-config/datasource/proc-cmdline.js';
import { urlSource } from '../../cloud-config/datasource/url.js';
import { sharedConfigAddresses, waagent } from '../../cloud-config/datasource/waagent.js';
import { DatasourceError, inflateUserdata, selectDatasource, mergeMetadata, emptyConfig, type Datasource } from '../../cloud-config/datasource/index.js';
import type { SourceContext } from '../../cloud-config/datasource/common.js';
import { MAX_DOCUMENT_BYTES, MAX_METADATA_BYTES } from '../../cloud-config/limits.js';
import { fakeServer } from './fake-metadata.js';
import type { Teardownable } from '../harness/teardown.js';
import { gzipSync } from 'node:zlib';

const KEY_A = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA a@example';
const KEY_B = 'ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQ b@example';

function context(warnings: string[] = [], retries: string[] = []): SourceContext {
  return {
    http: { timeoutMs: 2_000, attempts: 4, initialBackoffMs: 5, maxBackoffMs: 20, maxRedirects: 3 },
    warn: (m) => warnings.push(m),
    onRetry: (m) => retries.push(m),
  };
}

async function tempDir(t: Teardownable): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'cloud-config-ds-'));
  t.teardown(() => rm(d, { recursive: true, force: true }));
  return d;
}

const available = (ds: Datasource): Promise<boolean> => ds.isAvailable(new AbortController().signal);

t.test('ec2: user-data, addresses, first word of the hostname, keys by index', async (t) => {
  const srv = await fakeServer(t, {
    '/2009-04-04': 'dynamic\nmeta-data\nuser-data',
    '/2009-04-04/user-data': '#cloud-config\n',
    '/2009-04-04/meta-data/hostname': 'ip-10-0-0-5.ec2.internal other',
    '/2009-04-04/meta-data/local-ipv4': '10.0.0.5',
    '/2009-04-04/meta-data/public-ipv4': '203.0.113.5',
    '/2009-04-04/meta-data/public-keys': '0=alice\n1=bob\n../x=evil',
    '/2009-04-04/meta-data/public-keys/0/openssh-key': KEY_A + '\n',
    '/2009-04-04/meta-data/public-keys/1/openssh-key': KEY_B,
  });
  const ds = ec2Metadata(srv.url, context());
  t.equal(await available(ds), true);
  t.equal((await ds.fetchUserdata()).toString(), '#cloud-config\n');
  t.same(await ds.fetchMetadata(), { privateIpv4: '10.0.0.5', publicIpv4: '203.0.113.5', hostname: 'ip-10-0-0-5.ec2.internal', sshPublicKeys: [KEY_A, KEY_B] });
  t.notOk(srv.requests.some((r) => r.includes('..')), 'an index that is not a number is not asked for');
});

t.test('ec2: no user-data (404) is empty; missing metadata is absent; not available when the API is missing', async (t) => {
  const srv = await fakeServer(t, { '/2009-04-04': 'x' });
  const ds = ec2Metadata(srv.url, context());
  t.equal((await ds.fetchUserdata()).length, 0);
  t.same(await ds.fetchMetadata(), { sshPublicKeys: [] });
  srv.routes = {};
  t.equal(await available(ds), false);
});

t.test('gce: Metadata-Flavor header, attribute user-data, addresses and hostname', async (t) => {
  const base = '/computeMetadata/v1/';
  const srv = await fakeServer(t, {
    [base]: 'instance/',
    [`${base}instance/attributes/user-data`]: '#!/bin/sh\necho hi\n',
    [`${base}instance/network-interfaces/0/access-configs/0/external-ip`]: '198.51.100.7',
    [`${base}instance/network-interfaces/0/ip`]: '10.128.0.7',
    [`${base}instance/hostname`]: 'vm-7.c.project.internal',
  });
  const ds = gceMetadata(srv.url, context());
  t.equal(await available(ds), true);
  t.equal((await ds.fetchUserdata()).toString(), '#!/bin/sh\necho hi\n');
  t.same(await ds.fetchMetadata(), { publicIpv4: '198.51.100.7', privateIpv4: '10.128.0.7', hostname: 'vm-7.c.project.internal', sshPublicKeys: [] });
  t.equal(srv.headers.get(`${base}instance/hostname`)?.['metadata-flavor'], 'Google');
});

t.test('digitalocean: v1.json interfaces, keys, hostname; the JSON kept as network config', async (t) => {
  const doc = {
    droplet_id: 1,
    hostname: 'droplet-1',
    public_keys: [KEY_A],
    interfaces: {
      public: [{ ipv4: { ip_address: '192.0.2.10' }, ipv6: { ip_address: '2001:db8::10' } }],
      private: [{ ipv4: { ip_address: '10.132.0.10' } }],
    },
  };
  const srv = await fakeServer(t, { '/metadata/v1': 'id', '/metadata/v1/user-data': '#cloud-config\n', '/metadata/v1.json': JSON.stringify(doc) });
  const ds = digitalOceanMetadata(srv.url, context());
  t.equal(await available(ds), true);
  t.equal((await ds.fetchUserdata()).toString(), '#cloud-config\n');
  const md = await ds.fetchMetadata();
  t.same({ ...md, networkConfig: undefined }, { hostname: 'droplet-1', publicIpv4: '192.0.2.10', publicIpv6: '2001:db8::10', privateIpv4: '10.132.0.10', sshPublicKeys: [KEY_A], networkConfig: undefined });
  t.same(JSON.parse(md.networkConfig!.toString()), doc);
});

t.test('digitalocean: bad JSON is an error naming the source and URL', async (t) => {
  const srv = await fakeServer(t, { '/metadata/v1.json': '{nope' });
  const err = await digitalOceanMetadata(srv.url, context()).fetchMetadata().catch((e: unknown) => e);
  t.type(err, DatasourceError);
  t.match((err as Error).message, `digitalocean-metadata (${srv.url}metadata/v1.json): not valid JSON`);
});

t.test('packet: addresses by family and public flag, ssh_keys, hostname', async (t) => {
  const doc = {
    hostname: 'packet-1',
    ssh_keys: [KEY_A, KEY_B],
    network: {
      addresses: [
        { address_family: 4, public: true, address: '147.75.0.2' },
        { address_family: 6, public: true, address: '2604:1380::2' },
        { address_family: 4, public: false, address: '10.99.0.2' },
        { address_family: 4, public: true, address: '147.75.0.99' },
      ],
    },
  };
  const srv = await fakeServer(t, { '/': 'ok', '/userdata': '#cloud-config\n', '/metadata': JSON.stringify(doc) });
  const ds = packetMetadata(srv.url, context());
  t.equal(await available(ds), true);
  t.equal((await ds.fetchUserdata()).toString(), '#cloud-config\n');
  const md = await ds.fetchMetadata();
  t.equal(md.publicIpv4, '147.75.0.2');
  t.equal(md.privateIpv4, '10.99.0.2');
  t.equal(md.publicIpv6, '2604:1380::2');
  t.equal(md.hostname, 'packet-1');
  t.same(md.sshPublicKeys, [KEY_A, KEY_B]);
});

t.test('metadata values are checked: bad addresses, host names and multi-line keys are dropped with a warning', async (t) => {
  const warnings: string[] = [];
  const srv = await fakeServer(t, {
    '/metadata': JSON.stringify({ hostname: 'bad host!', ssh_keys: [`${KEY_A}\nssh-rsa injected`, 7], network: { addresses: [{ address_family: 4, public: true, address: '1.2.3' }] } }),
  });
  const md = await packetMetadata(srv.url, context(warnings)).fetchMetadata();
  t.same({ ...md, networkConfig: undefined }, { sshPublicKeys: [], networkConfig: undefined });
  t.equal(warnings.length, 4);
  t.match(warnings.join('\n'), /packet-metadata: publicIpv4 "1.2.3" is not an IPv4 address/);
  t.match(warnings.join('\n'), /packet-metadata: hostname "bad host!" ignored/);
});

t.test('retries: 5xx and dropped connections are retried with backoff, then it succeeds', async (t) => {
  let calls = 0;
  const srv = await fakeServer(t, {
    '/data': (req, res) => {
      calls++;
      if (calls === 1) res.writeHead(503).end('busy');
      else if (calls === 2) req.socket.destroy();
      else res.writeHead(200).end('#cloud-config\n');
    },
  });
  const retries: string[] = [];
  const ds = urlSource(`${srv.url}data`, context([], retries));
  t.equal((await ds.fetchUserdata()).toString(), '#cloud-config\n');
  t.equal(calls, 3);
  t.equal(retries.length, 2);
  t.match(retries[0], /^url \(http:\/\/127\.0\.0\.1:\d+\/data\): HTTP 503; attempt 1 of 4, retrying in 5 ms$/);
  t.match(retries[1], /attempt 2 of 4, retrying in 10 ms$/);
});

t.test('retries exhausted: a clear error naming the source and URL', async (t) => {
  const srv = await fakeServer(t, { '/2009-04-04/user-data': (_req, res) => res.writeHead(500).end() });
  const err = await ec2Metadata(srv.url, context()).fetchUserdata().catch((e: unknown) => e);
  t.type(err, DatasourceError);
  t.equal((err as Error).message, `ec2-metadata (${srv.url}2009-04-04/user-data): gave up after 4 attempts: HTTP 500`);
  t.equal(srv.requests.length, 4);
});

t.test('a 4xx other than 404 fails at once; --from-url treats 404 as an error', async (t) => {
  const srv = await fakeServer(t, { '/forbidden': (_req, res) => res.writeHead(403).end() });
  const e1 = await urlSource(`${srv.url}forbidden`, context()).fetchUserdata().catch((e: unknown) => e);
  t.match((e1 as Error).message, /: HTTP 403$/);
  const e2 = await urlSource(`${srv.url}missing`, context()).fetchUserdata().catch((e: unknown) => e);
  t.match((e2 as Error).message, /^url \(http:\/\/127\.0\.0\.1:\d+\/missing\): HTTP 404/);
  t.equal(srv.requests.length, 2);
});

t.test('timeouts: an answer that never comes is a retried timeout', async (t) => {
  const srv = await fakeServer(t, { '/slow': () => undefined });
  const ctx = { ...context(), http: { ...context().http, timeoutMs: 50, attempts: 2 } };
  const err = await urlSource(`${srv.url}slow`, ctx).fetchUserdata().catch((e: unknown) => e);
  t.match((err as Error).message, /gave up after 2 attempts: no complete answer within 50 ms/);
});

t.test('oversized answers are refused: declared, and streamed without an end', async (t) => {
  let written = 0;
  const srv = await fakeServer(t, {
    '/declared': (_req, res) => res.writeHead(200, { 'content-length': String(MAX_DOCUMENT_BYTES + 1) }).end(),
    '/stream': (_req, res) => {
      res.writeHead(200);
      const chunk = Buffer.alloc(64 * 1024, 0x61);
      const pump = (): void => {
        while (written < 64 * 1024 * 1024 && res.write(chunk)) written += chunk.length;
        if (written < 64 * 1024 * 1024 && !res.destroyed) res.once('drain', pump);
      };
      res.on('close', () => undefined);
      pump();
    },
    '/metadata': (_req, res) => {
      res.writeHead(200);
      res.end(Buffer.alloc(MAX_METADATA_BYTES + 10, 0x20));
    },
  });
  const e1 = await urlSource(`${srv.url}declared`, context()).fetchUserdata().catch((e: unknown) => e);
  t.match((e1 as Error).message, /larger than the limit of 2097152 bytes/);
  const e2 = await urlSource(`${srv.url}stream`, context()).fetchUserdata().catch((e: unknown) => e);
  t.match((e2 as Error).message, /answer is larger than the limit of 2097152 bytes/);
  t.ok(written < 16 * 1024 * 1024, `the reader stopped early (${written} bytes sent)`);
  const e3 = await packetMetadata(srv.url, context()).fetchMetadata().catch((e: unknown) => e);
  t.match((e3 as Error).message, /packet-metadata .*larger than the limit of 1048576 bytes/);
  t.equal(srv.requests.filter((r) => r === 'GET /stream').length, 1, 'not retried');
});

t.test('redirects: http(s) ones are followed, others refused, and a loop stops', async (t) => {
  const srv = await fakeServer(t, {
    '/a': (_req, res) => res.writeHead(302, { location: '/b' }).end(),
    '/b': '#cloud-config\n',
    '/file': (_req, res) => res.writeHead(302, { location: 'file:///etc/shadow' }).end(),
    '/loop': (_req, res) => res.writeHead(301, { location: '/loop' }).end(),
  });
  t.equal((await urlSource(`${srv.url}a`, context()).fetchUserdata()).toString(), '#cloud-config\n');
  const e1 = await urlSource(`${srv.url}file`, context()).fetchUserdata().catch((e: unknown) => e);
  t.match((e1 as Error).message, /redirect to "file:\/\/\/etc\/shadow" refused: only http and https are followed/);
  const e2 = await urlSource(`${srv.url}loop`, context()).fetchUserdata().catch((e: unknown) => e);
  t.match((e2 as Error).message, /more than 3 redirects/);
  t.throws(() => urlSource('file:///etc/shadow', context()), /url \(file:\/\/\/etc\/shadow\): only http and https URLs are read, not file:/);
});

t.test('configdrive: OpenStack files, EC2 addresses, network data confined to the drive', async (t) => {
  const d = await tempDir(t);
  await mkdir(join(d, 'openstack/latest'), { recursive: true });
  await mkdir(join(d, 'openstack/content'), { recursive: true });
  await mkdir(join(d, 'ec2/latest'), { recursive: true });
  await writeFile(join(d, 'openstack/latest/user_data'), '#cloud-config\nhostname: x\n');
  await writeFile(
    join(d, 'openstack/latest/meta_data.json'),
    JSON.stringify({ hostname: 'drive-1', public_keys: { b: KEY_B, a: KEY_A }, network_config: { content_path: '/content/0000' } }),
  );
  await writeFile(join(d, 'openstack/content/0000'), 'auto eth0\n');
  await writeFile(join(d, 'ec2/latest/meta-data.json'), JSON.stringify({ 'local-ipv4': '10.1.0.4', 'public-ipv4': '198.51.100.4' }));
  const ds = configDrive(d, context());
  t.equal(await available(ds), true);
  t.equal((await ds.fetchUserdata()).toString(), '#cloud-config\nhostname: x\n');
  const md = await ds.fetchMetadata();
  t.same({ ...md, networkConfig: md.networkConfig?.toString() }, {
    hostname: 'drive-1',
    privateIpv4: '10.1.0.4',
    publicIpv4: '198.51.100.4',
    sshPublicKeys: [KEY_A, KEY_B],
    networkConfig: 'auto eth0\n',
  });

  await writeFile(join(d, 'openstack/latest/meta_data.json'), JSON.stringify({ network_config: { content_path: '../../etc/passwd' } }));
  const err = await ds.fetchMetadata().catch((e: unknown) => e);
  t.match((err as Error).message, /^configdrive \(.*meta_data\.json\): network_config\.content_path "..\/..\/etc\/passwd" leaves the drive's openstack directory/);
  t.equal(await available(configDrive(join(d, 'nope'), context())), false);
});

t.test('configdrive: EC2 layout only; a link or an oversized user_data is refused', async (t) => {
  const d = await tempDir(t);
  await mkdir(join(d, 'ec2/latest'), { recursive: true });
  await writeFile(join(d, 'ec2/latest/user-data'), '#!/bin/sh\n');
  await writeFile(join(d, 'ec2/latest/meta-data.json'), JSON.stringify({ hostname: 'e', 'public-keys': { '0': { 'openssh-key': KEY_A } } }));
  const ds = configDrive(d, context());
  t.equal((await ds.fetchUserdata()).toString(), '#!/bin/sh\n');
  t.same(await ds.fetchMetadata(), { hostname: 'e', sshPublicKeys: [KEY_A] });
  await mkdir(join(d, 'openstack/latest'), { recursive: true });
  await symlink('/etc/passwd', join(d, 'openstack/latest/user_data'));
  t.match(((await ds.fetchUserdata().catch((e: unknown) => e)) as Error).message, /user_data\): is a symbolic link; not followed/);
  await rm(join(d, 'openstack/latest/user_data'));
  await writeFile(join(d, 'openstack/latest/user_data'), Buffer.alloc(MAX_DOCUMENT_BYTES + 1));
  t.match(((await ds.fetchUserdata().catch((e: unknown) => e)) as Error).message, /larger than the limit of 2097152 bytes/);
});

t.test('waagent: provisioned marker, CustomData, addresses from SharedConfig.xml', async (t) => {
  const d = await tempDir(t);
  const ds = waagent(d, context());
  t.equal(await available(ds), false);
  await writeFile(join(d, 'provisioned'), '');
  await writeFile(join(d, 'CustomData'), '#cloud-config\n');
  await writeFile(
    join(d, 'SharedConfig.xml'),
    `<?xml version="1.0" encoding="utf-8"?>
<SharedConfig version="1.0.0.0" goalStateIncarnation="1">
  <Incarnation number="1" instance="vm-b" guid="{x}" />
  <Instances>
    <Instance id="vm-a" address="10.0.0.9"><InputEndpoints><Endpoint loadBalancedPublicAddress="192.0.2.9:22" /></InputEndpoints></Instance>
    <Instance id="vm-b" address="10.0.0.4">
      <FaultDomains randomId="0" updateId="0" updateCount="0" />
      <InputEndpoints>
        <Endpoint name="ssh" address="10.0.0.4:22" protocol="tcp" hostName="vm-bContractContract" isPublic="true" loadBalancedPublicAddress="40.112.1.4:22" enableDirectServerReturn="false" isDirectAddress="false" disableStealthMode="false" />
      </InputEndpoints>
    </Instance>
  </Instances>
</SharedConfig>`,
  );
  t.equal(await available(ds), true);
  t.equal((await ds.fetchUserdata()).toString(), '#cloud-config\n');
  t.same(await ds.fetchMetadata(), { privateIpv4: '10.0.0.4', publicIpv4: '40.112.1.4', sshPublicKeys: [] });
  t.same(sharedConfigAddresses('<Instance id="x" address="1.1.1.1">'), {}, 'no incarnation, no addresses');
  const long = 'a'.repeat(200_000);
  t.same(sharedConfigAddresses(`<Incarnation ${long} instance="i"/><Instance id="i" ${long}><Endpoint ${long} loadBalancedPublicAddress="1.2.3.4:1"/></Instance>`), {
    publicIpv4: '1.2.3.4',
  }, 'long attribute text is read in linear time');
});

t.test('proc-cmdline: cloud-config-url (last wins, _ spelling) read from the file given, then fetched', async (t) => {
  t.equal(findCloudConfigUrl('root=/dev/sda cloud_config_url=http://a/ cloud-config-url cloud-config-url=http://b/x?y=1\n'), 'http://b/x?y=1');
  t.equal(findCloudConfigUrl('root=/dev/sda quiet'), undefined);
  const srv = await fakeServer(t, { '/cc': '#cloud-config\n' });
  const d = await tempDir(t);
  const file = join(d, 'cmdline');
  await writeFile(file, `BOOT_IMAGE=/vmlinuz cloud-config-url=${srv.url}cc quiet\n`);
  const ds = procCmdline(context(), file);
  t.equal(await available(ds), true);
  t.equal((await ds.fetchUserdata()).toString(), '#cloud-config\n');
  t.same(await ds.fetchMetadata(), { sshPublicKeys: [] });
  await writeFile(file, 'cloud-config-url=file:///etc/shadow\n');
  t.match(((await ds.fetchUserdata().catch((e: unknown) => e)) as Error).message, /^proc-cmdline \(file:\/\/\/etc\/shadow\): only http and https URLs are read/);
  t.equal(await available(procCmdline(context(), join(d, 'missing'))), false);
});

t.test("proc-cmdline: in a container it reads systemd's command line (PID 1's NUL-separated arguments)", async (t) => {
  const d = await tempDir(t);
  const marker = join(d, 'container');
  t.equal(commandLinePath(marker), PROC_CMDLINE, 'on a host: the kernel command line');
  await writeFile(marker, 'systemd-nspawn\n');
  t.equal(commandLinePath(marker), PID1_CMDLINE, 'in a container: /proc/1/cmdline, as systemd');
  const argv = ['/lib/systemd/systemd', 'systemd.unit=fleet-lab.target', 'cloud-config-url=http://a/x y', 'cloud_config_url=http://b/u', ''].join('\0');
  t.equal(findCloudConfigUrl(argv), 'http://b/u', 'last one wins');
  t.equal(findCloudConfigUrl(['/lib/systemd/systemd', 'cloud-config-url=http://a/x y', ''].join('\0')), 'http://a/x y', 'one argument is one word');
  const srv = await fakeServer(t, { '/cc': '#cloud-config\n' });
  const file = join(d, 'cmdline');
  await writeFile(file, ['/lib/systemd/systemd', 'systemd.firstboot=off', `cloud-config-url=${srv.url}cc`, ''].join('\0'));
  const ds = procCmdline(context(), file);
  t.equal(await available(ds), true);
  t.equal((await ds.fetchUserdata()).toString(), '#cloud-config\n');
});

t.test('gzip user-data is inflated within the document bound; a gzip bomb is refused', async (t) => {
  t.equal(inflateUserdata(gzipSync('#cloud-config\n')).toString(), '#cloud-config\n');
  t.equal(inflateUserdata(Buffer.from('#!/bin/sh\n')).toString(), '#!/bin/sh\n');
  t.throws(() => inflateUserdata(gzipSync(Buffer.alloc(MAX_DOCUMENT_BYTES + 1))), /decodes to more than 2097152 bytes/);
});

t.test('selecting: the first available source wins; none within the timeout gives undefined', async (t) => {
  const srv = await fakeServer(t, { '/metadata/v1': 'ok' });
  const d = await tempDir(t);
  const sources = [configDrive(join(d, 'none'), context()), ec2Metadata(srv.url, context()), digitalOceanMetadata(srv.url, context())];
  const opts = { timeoutMs: 2_000, intervalMs: 5, maxIntervalMs: 20 };
  t.equal((await selectDatasource(sources, opts))?.type, 'digitalocean-metadata');
  setTimeout(() => void mkdir(join(d, 'none')), 50);
  t.equal((await selectDatasource(sources.slice(0, 2), opts))?.type, 'configdrive', 'a source that appears later is found');
  t.equal(await selectDatasource([ec2Metadata(srv.url, context())], { ...opts, timeoutMs: 100 }), undefined);
});

t.test('metadata merge: the document hostname wins (warning), keys are added', async (t) => {
  const warnings: string[] = [];
  const merged = mergeMetadata({ ...emptyConfig(), hostname: 'doc', sshAuthorizedKeys: [KEY_B] }, { hostname: 'md', sshPublicKeys: [KEY_A] }, (m) => warnings.push(m));
  t.equal(merged.hostname, 'doc');
  t.same(merged.sshAuthorizedKeys, [KEY_B, KEY_A]);
  t.equal(warnings.length, 1);
  t.equal(mergeMetadata(emptyConfig(), { hostname: 'md', sshPublicKeys: [] }, () => undefined).hostname, 'md');
});
