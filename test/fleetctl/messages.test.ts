import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { startEtcd, freePort } from '../harness/etcd.js';
import { VERSION } from '../../lib/version.js';
import { M1, addMachine, startApi } from '../api/fixture.js';
import { makeCerts } from '../api/certs.js';
import { fleetctl, golden } from './helpers.js';

const etcd = await startEtcd(t);
const f = await startApi(t, { etcd });
await addMachine(t, f.registry, M1, '198.18.0.11');
const env = { FLEETCTL_ENDPOINT: `unix://${f.socket}` };

t.test('version, help, completion need no cluster', async (t) => {
  const line = `fleetctl version ${VERSION}\n`;
  for (const args of [['version'], ['--version'], ['-v'], ['vers']]) {
    t.same(await fleetctl(args), { code: 0, stdout: line, stderr: '' }, args.join(' '));
  }
  const help = await fleetctl([]);
  t.equal(help.code, 0);
  t.match(help.stdout, /^NAME:\n\tfleetctl - fleetctl is a command-line interface to fleet, the cluster-wide CoreOS init system\.\n/);
  t.match(help.stdout, /\nCOMMANDS:\n\tcat\t\tOutput the contents of a submitted unit\n/);
  t.same(await fleetctl(['help']), help);
  t.same(await fleetctl(['--help']), help);
  const start = await fleetctl(['help', 'start']);
  t.equal(start.code, 0);
  golden(t, 'help-start.txt', start.stdout);
  t.same(await fleetctl(['start', '-h']), start, 'start -h');
  t.same(await fleetctl(['star', '--help']), start, 'prefix + --help');
  const comp = await fleetctl(['completion']);
  t.equal(comp.code, 0);
  t.match(comp.stdout, /fleetctl/);
  t.match(comp.stdout, /complete/);
});

t.test('deprecated signing, verify', async (t) => {
  const warn = 'WARNING: The signed/verified units feature is DEPRECATED and cannot be used.\n';
  t.same(await fleetctl(['verify', 'x'], { env }), { code: 2, stdout: '', stderr: warn });
  t.same(await fleetctl(['submit', '--sign', 'x'], { env }), { code: 2, stdout: '', stderr: warn });
  t.same(await fleetctl(['start', '--sign', 'x'], { env }), { code: 2, stdout: '', stderr: warn });
});

t.test('no units given', async (t) => {
  for (const cmd of ['submit', 'load', 'start', 'stop', 'unload', 'destroy', 'restart']) {
    t.same(await fleetctl([cmd], { env }), { code: 0, stdout: '', stderr: 'No units given\n' }, cmd);
  }
  t.same(await fleetctl(['stop', 'nope'], { env }), { code: 0, stdout: '', stderr: 'Units not found in registry\n' });
  t.same(await fleetctl(['journal'], { env }), { code: 1, stdout: '', stderr: 'One unit file must be provided.\n' });
  t.same(await fleetctl(['journal', 'nope'], { env }), { code: 1, stdout: '', stderr: 'Unit nope.service does not exist.\n' });
});

t.test('command prefixes, flags before the command, unknown commands and flags', async (t) => {
  const full = await fleetctl(['list-machines', '--no-legend'], { env });
  t.equal(full.stdout, `113f16a7...\t198.18.0.11\t-\n`);
  t.same(await fleetctl(['list-m', '--no-legend'], { env }), full, 'unambiguous prefix');
  t.same(await fleetctl(['--no-legend', 'list-machines'], { env }), full, 'command flags may come first (cobra)');
  t.same(await fleetctl(['--endpoint', `unix://${f.socket}`, 'list-machines', '--no-legend']), full);
  t.same(await fleetctl(['list'], { env }), {
    code: 1,
    stdout: '',
    stderr: 'Error: unknown command "list" for "fleetctl" (ambiguous: list-machines, list-unit-files, list-units)\nRun \'fleetctl help\' for usage.\n',
  });
  t.same(await fleetctl(['frobnicate'], { env }), { code: 1, stdout: '', stderr: 'Error: unknown command "frobnicate" for "fleetctl"\nRun \'fleetctl help\' for usage.\n' });
  const unk = await fleetctl(['list-units', '--bogus'], { env });
  t.equal(unk.code, 1);
  t.equal(unk.stderr, 'Error: Unknown argument: bogus\n');
  const nan = await fleetctl(['start', '--block-attempts=abc', 'x'], { env });
  t.same(nan, { code: 1, stdout: '', stderr: 'Error: invalid argument "abc" for "--block-attempts" flag: not a number\n' });
});

t.test('global flags from FLEETCTL_* unless given on the command line', async (t) => {
  const ok = await fleetctl(['list-machines', '--no-legend'], { env: { FLEETCTL_ENDPOINT: `unix://${f.socket}` } });
  t.equal(ok.code, 0);
  const flagWins = await fleetctl(['--endpoint', `unix://${f.socket}`, 'list-machines', '--no-legend'], { env: { FLEETCTL_ENDPOINT: 'unix:///nonexistent.sock' } });
  t.same(flagWins, ok);
  const emptyIgnored = await fleetctl(['list-machines', '--no-legend'], { env: { ...env, FLEETCTL_DRIVER: '' } });
  t.same(emptyIgnored, ok, 'an empty variable counts as unset');
  t.same(await fleetctl(['list-machines'], { env: { ...env, FLEETCTL_REQUEST_TIMEOUT: 'soon' } }), {
    code: 1,
    stdout: '',
    stderr: 'Error: FLEETCTL_REQUEST_TIMEOUT="soon" is not a number\n',
  });
  t.same(await fleetctl(['list-machines'], { env: { ...env, FLEETCTL_DRIVER: 'grpc' } }), {
    code: 1,
    stdout: '',
    stderr: 'Unable to initialize client: unrecognized driver "grpc" (use --driver=API or --driver=etcd)\n',
  });
  const viaEnvEtcd = await fleetctl(['list-machines', '--no-legend'], {
    env: { FLEETCTL_DRIVER: 'etcd', FLEETCTL_ENDPOINT: etcd.endpoint, FLEETCTL_ETCD_KEY_PREFIX: f.registry.prefix },
  });
  t.same(viaEnvEtcd, ok, 'driver, endpoint and key prefix from the environment');

  const newer = await startApi(t, { etcd });
  await addMachine(t, newer.registry, M1, '198.18.0.11', {}, '99.0.0');
  const warned = await fleetctl(['--driver=etcd', `--endpoint=${etcd.endpoint}`, `--etcd-key-prefix=${newer.registry.prefix}`, 'list-machines', '--no-legend']);
  t.equal(warned.code, 0);
  t.equal(warned.stdout, ok.stdout);
  t.equal(
    warned.stderr,
    '####################################################################\n' +
      `WARNING: fleetctl (${VERSION}) is older than the latest registered\n` +
      'version of fleet found in the cluster (99.0.0). You are strongly\n' +
      'recommended to upgrade fleetctl to prevent incompatibility issues.\n' +
      '####################################################################\n',
    'etcd driver warns when the cluster runs a newer fleet',
  );
});

t.test('an unusable endpoint is one clear line, exit 1, no stack trace', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fleetctl-ep-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const closed = await freePort();
  const cases: [string[], Record<string, string>, string][] = [
    [['list-units'], { FLEETCTL_ENDPOINT: `unix://${dir}/none.sock` }, `Error: cannot reach the fleet API at unix://${dir}/none.sock: no such socket (is fleetd running?)\n`],
    [['list-machines'], { FLEETCTL_ENDPOINT: `http://127.0.0.1:${closed}` }, `Error: cannot reach the fleet API at http://127.0.0.1:${closed}: connection refused (is fleetd running?)\n`],
    [['start', 'x'], { FLEETCTL_ENDPOINT: `http://127.0.0.1:${closed}` }, `Error: cannot reach the fleet API at http://127.0.0.1:${closed}: connection refused (is fleetd running?)\n`],
    [['list-units'], { FLEETCTL_DRIVER: 'etcd', FLEETCTL_ENDPOINT: `http://127.0.0.1:${closed}`, FLEETCTL_REQUEST_TIMEOUT: '1' }, `Error: cannot reach etcd at http://127.0.0.1:${closed}: connection refused (is etcd running there?)\n`],
    [['list-units'], { FLEETCTL_ENDPOINT: 'unix://var/run/fleet.sock' }, 'Unable to initialize client: --endpoint "unix://var/run/fleet.sock": unable to connect to host "var" with scheme "unix" (did you mean unix:///var/run/fleet.sock?)\n'],
    [['list-units'], { FLEETCTL_ENDPOINT: '127.0.0.1:4001' }, 'Unable to initialize client: --endpoint "127.0.0.1:4001": URL scheme undefined (e.g. unix:///var/run/fleet.sock or http://127.0.0.1:4001)\n'],
  ];
  for (const [args, e, line] of cases) {
    t.same(await fleetctl(args, { env: e }), { code: 1, stdout: '', stderr: line }, `${args.join(' ')} ${JSON.stringify(e)}`);
  }

  // Something that accepts connections but never answers: the request timeout applies.
  const silent = net.createServer(() => undefined);
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  t.teardown(() => silent.close());
  const port = (silent.address() as net.AddressInfo).port;
  const slow = await fleetctl(['list-units', '--request-timeout=0.5'], { env: { FLEETCTL_ENDPOINT: `http://127.0.0.1:${port}` } });
  t.same(slow, { code: 1, stdout: '', stderr: `Error: fleet API at http://127.0.0.1:${port} did not answer within 0.5s (raise --request-timeout?)\n` });
  silent.close();
  for (const s of [] as net.Socket[]) s.destroy();
});

t.test('TCP API with TLS client certificates and a token', async (t) => {
  const c = makeCerts(t);
  const g = await startApi(t, {
    etcd,
    prefix: f.registry.prefix,
    tcp: true,
    config: { apiTlsCertfile: c.serverCert, apiTlsKeyfile: c.serverKey, apiTlsCafile: c.caCert, apiToken: 'tok' },
  });
  const endpoint = `https://${g.tcp}`;
  const tls = ['--ca-file', c.caCert, '--cert-file', c.clientCert, '--key-file', c.clientKey];
  const ok = await fleetctl([...tls, 'list-machines', '--no-legend'], { env: { FLEETCTL_ENDPOINT: endpoint, FLEETCTL_API_TOKEN: 'tok' } });
  t.same(ok, { code: 0, stdout: '113f16a7...\t198.18.0.11\t-\n', stderr: '' });
  const noToken = await fleetctl([...tls, 'list-machines'], { env: { FLEETCTL_ENDPOINT: endpoint } });
  t.same(noToken, {
    code: 1,
    stdout: '',
    stderr: `Error: fleet API at ${endpoint} refused the request: this API requires a bearer token (Authorization: Bearer <api_token>) (give --api-token or FLEETCTL_API_TOKEN)\n`,
  });
  const noCert = await fleetctl(['--ca-file', c.caCert, '--api-token', 'tok', 'list-machines'], { env: { FLEETCTL_ENDPOINT: endpoint } });
  t.equal(noCert.code, 1);
  t.match(noCert.stderr, new RegExp(`^Error: cannot reach the fleet API at ${endpoint.replace(/\./g, '\\.')}: .*\\n$`));
  t.equal(noCert.stderr.split('\n').length, 2, 'one line');
  const noCa = await fleetctl(['--cert-file', c.clientCert, '--key-file', c.clientKey, '--api-token', 'tok', 'list-machines'], { env: { FLEETCTL_ENDPOINT: endpoint } });
  t.match(noCa.stderr, /^Error: cannot reach the fleet API at .*: server certificate (chain )?is not trusted \(give --ca-file\)\n$/);
  const badFile = await fleetctl(['--ca-file', '/nonexistent/ca.pem', 'list-machines'], { env: { FLEETCTL_ENDPOINT: endpoint } });
  t.match(badFile, { code: 1, stderr: /^Unable to initialize client: --ca-file \/nonexistent\/ca\.pem: ENOENT/ });
});

t.test('fd-forward proxies stdin/stdout to a unix socket (what --tunnel runs on the bastion)', async (t) => {
  const { spawn } = await import('node:child_process');
  const { FLEETCTL } = await import('./helpers.js');
  const child = spawn(process.execPath, [FLEETCTL, 'fd-forward', f.socket], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stdin.write('GET /fleet/v1/machines HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  const code = await new Promise<number | null>((r) => child.on('close', r));
  t.equal(code, 0);
  t.match(out, /^HTTP\/1\.1 200 OK\r\n/);
  t.match(out, /Server: fleetd\/[^\r]+\r\n/);
  t.match(out, /"machines":\[\{"id":"113f16a7c2f84b5f8d2e1f6a3b4c5d6e"/);
  t.same(await fleetctl(['fd-forward']), { code: 1, stdout: '', stderr: 'Provide a single argument\n' });
  const none = await fleetctl(['fd-forward', '/nonexistent/x.sock']);
  t.equal(none.code, 1);
  t.match(none.stderr, /^Failed dialing remote address: connect ENOENT/);
});
