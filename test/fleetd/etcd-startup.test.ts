/**
 * fleetd's etcd checks at start (issue 15): wrong or unreadable etcd TLS files make the fleetd binary exit 1
 * with one line naming the option and the file (no stack trace, before it talks to etcd); with several
 * etcd_servers of which some do not answer, fleetd logs a warning naming each one and runs on the others;
 * when none answers it logs one error naming them all.
 */
import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { makeCerts } from '../api/certs.js';
import { freePort, startEtcd } from '../harness/etcd.js';
import { waitFor } from '../harness/wait.js';
import { DIST, hasStackTrace, lines, runNode } from '../corpus/helpers.js';
import { defaultConfig, type FleetConfig } from '../../fleetd/config.js';
import { FleetServer } from '../../fleetd/server.js';
import { MemoryUnitManager } from '../../fleetd/agent/memory-unit-manager.js';
import { Registry } from '../../lib/registry/index.js';

const FLEETD = path.join(DIST, 'fleetd/main.js');
const certs = makeCerts(t);
const etcd = await startEtcd(t, {
  tls: { certFile: certs.serverCert, keyFile: certs.serverKey, caFile: certs.caCert, clientCertAuth: true },
});
const tmp = mkdtempSync(path.join(os.tmpdir(), 'etcd-startup-'));
t.teardown(() => rmSync(tmp, { recursive: true, force: true }));
writeFileSync(path.join(tmp, 'machine-id'), 'e7c1a0d0e7c1a0d0e7c1a0d0e7c1a0d0\n');
const garbage = path.join(tmp, 'garbage.pem');
writeFileSync(garbage, 'not a pem file\n', { mode: 0o600 });

t.test('wrong or unreadable etcd TLS files: exit 1, one line naming the option and the file', async (t) => {
  const cases: [string, Record<string, string>, RegExp][] = [
    ['missing CA file', { etcd_cafile: path.join(tmp, 'nope.crt') }, /^fleetd: etcd_cafile \S*nope\.crt: cannot read the file: .*ENOENT/],
    ['CA file is a directory', { etcd_cafile: tmp }, /^fleetd: etcd_cafile \S+: cannot read the file: .*EISDIR/],
    ['CA file not PEM', { etcd_cafile: garbage }, /^fleetd: etcd_cafile \S*garbage\.pem: not a PEM certificate/],
    ['certificate file holds a key', { etcd_certfile: certs.clientKey, etcd_keyfile: certs.clientKey }, /^fleetd: etcd_certfile \S*client\.key: not a PEM certificate/],
    ['key file not a key', { etcd_certfile: certs.clientCert, etcd_keyfile: garbage }, /^fleetd: etcd_keyfile \S*garbage\.pem: not a valid PEM private key/],
    [
      'key of another certificate',
      { etcd_certfile: certs.clientCert, etcd_keyfile: certs.strangerKey },
      /^fleetd: etcd_keyfile \S*stranger\.key is not the private key of etcd_certfile \S*client\.crt/,
    ],
  ];
  for (const [name, files, want] of cases) {
    const flags = Object.entries({ etcd_cafile: certs.caCert, ...files }).map(([k, v]) => `--${k}=${v}`);
    const run = await runNode(FLEETD, [
      `--etcd_servers=${etcd.endpoint}`,
      ...flags,
      `--api_socket=${path.join(tmp, 'fleet.sock')}`,
      `--units_directory=${path.join(tmp, 'units')}/`,
      `--machine_id_file=${path.join(tmp, 'machine-id')}`,
    ], { timeoutMs: 30_000 });
    t.equal(run.code, 1, `${name}: exit 1`);
    t.equal(lines(run.stderr).length, 1, `${name}: one line: ${run.stderr}`);
    t.match(run.stderr, want, name);
    t.notOk(hasStackTrace(run.stderr), `${name}: no stack trace`);
  }
});

/** fleetd's log lines (JSON on stderr) while `fn` runs, in this process. */
function captureLog(): { lines: () => string[]; restore: () => void } {
  const seen: string[] = [];
  const write = process.stderr.write.bind(process.stderr);
  process.stderr.write = ((chunk: string | Uint8Array, ...rest: never[]): boolean => {
    seen.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
    return write(chunk, ...rest);
  }) as typeof process.stderr.write;
  return { lines: () => seen.join('').split('\n').filter(Boolean), restore: () => (process.stderr.write = write) };
}

function server(endpoints: string[], prefix: string, id: string): FleetServer {
  const config: FleetConfig = {
    ...defaultConfig(),
    etcdServers: endpoints,
    etcdKeyPrefix: prefix,
    etcdCafile: certs.caCert,
    etcdCertfile: certs.clientCert,
    etcdKeyfile: certs.clientKey,
    etcdRequestTimeout: 1,
    disableEngine: true,
    apiSocket: '',
    apiListen: '',
    unitsDirectory: path.join(tmp, id, 'units') + '/',
  };
  return new FleetServer(config, { unitManager: async () => new MemoryUnitManager(), machineId: id, instance: id });
}

t.test('some endpoints down: a warning names each, fleetd runs on the others', async (t) => {
  const down = `https://127.0.0.1:${await freePort()}`;
  const prefix = `/etcd-startup-${Date.now()}/`;
  const log = captureLog();
  t.teardown(log.restore);
  const s = server([down, etcd.endpoint], prefix, 'some-down');
  t.teardown(() => s.stop({ keepUnits: true }));
  await s.start();
  const observer = new Registry(etcd.client, prefix);
  await waitFor('registration', async () => (await observer.listMachines()).length === 1);
  const warning = await waitFor('the warning', () => log.lines().find((l) => l.includes(down)), 10_000);
  t.match(JSON.parse(warning), { level: 'warn', msg: new RegExp(`etcd endpoint ${down} \\(etcd_servers\\) does not answer`) });
  t.notOk(log.lines().some((l) => l.includes(etcd.endpoint)), 'the endpoint that answers is not named');
  log.restore();
});

t.test('no endpoint answers: one error naming all of them', async (t) => {
  const down = [`https://127.0.0.1:${await freePort()}`, `https://127.0.0.1:${await freePort()}`];
  const log = captureLog();
  t.teardown(log.restore);
  const s = server(down, `/etcd-startup-none-${Date.now()}/`, 'none-up');
  const started = s.start().catch(() => undefined);
  t.teardown(async () => {
    await s.stop({ keepUnits: true });
    await started;
  });
  const error = await waitFor('the error', () => log.lines().find((l) => l.includes('no etcd endpoint answers')), 10_000);
  const rec = JSON.parse(error) as { level: string; msg: string };
  t.equal(rec.level, 'error');
  for (const d of down) t.match(rec.msg, d, `names ${d}`);
  log.restore();
});
