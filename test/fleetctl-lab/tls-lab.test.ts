/**
 * The TCP API with TLS client certificates on real lab machines: fleetctl reaches m1 over https with a client
 * certificate, and `status`/`journal` of a unit on m2 are forwarded by m1's fleetd to m2's over TLS, m1
 * presenting its own certificate. Without a client certificate fleetctl gets a clear refusal.
 */
import t from 'tap';
import { makeCerts } from '../api/certs.js';
import { fleetctl } from '../fleetctl/helpers.js';
import { pinTo, serviceText, startFleetLab, submit, waitFor, waitRunning } from '../fleetd/lab-helpers.js';
import { API_PORT } from '../../lab/endpoint.js';

const TLS_DIR = '/etc/fleet/tls';

t.test('status and journal forwarded between machines over TLS with client certificates', async (t) => {
  const { lab, registry, ids } = await startFleetLab(t, { machines: 2, agentTtl: '5s', prefix: 'tl' });
  const machines = await lab.machines();
  const certs = makeCerts(t, { serverIps: machines.map((m) => m.ip) });
  const files = { 'ca.crt': certs.caCert, 'server.crt': certs.serverCert, 'server.key': certs.serverKey };
  for (const m of machines) {
    const writes = Object.entries(files)
      .map(([name, from]) => `cat > ${TLS_DIR}/${name} <<'EOF_PEM'\n${certs.read(from).toString('utf8')}EOF_PEM`)
      .join('\n');
    const dropIn = [
      '[Service]',
      `Environment=FLEET_API_TLS_CERTFILE=${TLS_DIR}/server.crt`,
      `Environment=FLEET_API_TLS_KEYFILE=${TLS_DIR}/server.key`,
      `Environment=FLEET_API_TLS_CAFILE=${TLS_DIR}/ca.crt`,
      '',
    ].join('\n');
    const script = `set -e\nmkdir -p ${TLS_DIR} /etc/systemd/system/fleet.service.d\n${writes}\nchmod 600 ${TLS_DIR}/server.key\n` +
      `cat > /etc/systemd/system/fleet.service.d/60-tls.conf <<'EOF_UNIT'\n${dropIn}EOF_UNIT\nsystemctl daemon-reload\nsystemctl restart fleet.service`;
    const r = await lab.exec(m.name, ['sh', '-c', script], { timeoutMs: 60_000 });
    t.equal(r.code, 0, `${m.name}: TLS configured and fleetd restarted ${r.stderr}`);
  }

  const m1 = machines.find((m) => m.name === 'm1')!;
  const endpoint = `https://${m1.ip}:${API_PORT}`;
  const tlsFlags = [`--endpoint=${endpoint}`, `--ca-file=${certs.caCert}`, `--cert-file=${certs.clientCert}`, `--key-file=${certs.clientKey}`];
  const run = (args: string[]) => fleetctl([...tlsFlags, ...args], { env: { FLEETCTL_DRIVER: 'API' }, timeoutMs: 60_000 });
  await waitFor('fleetd on m1 answers over TLS', async () => ((await run(['list-machines', '--no-legend'])).code === 0 ? true : undefined), 60_000);

  const name = 'tls-hello.service';
  await submit(registry, name, serviceText('hello over TLS', ['ExecStart=/bin/sh -c "echo hello-from-m2; exec sleep 1007"'], pinTo(ids.m2!)));
  await waitRunning(lab, 'm2', name);

  const status = await waitFor('status through m1', async () => {
    const r = await run(['status', name]);
    return r.code === 0 ? r : undefined;
  }, 30_000);
  t.match(status.stdout, /Active: active \(running\)/, 'status of the unit on m2, asked of m1');
  const journal = await waitFor('journal through m1', async () => {
    const r = await run(['journal', '--lines=20', name]);
    return r.code === 0 && r.stdout.includes('hello-from-m2') ? r : undefined;
  }, 30_000);
  t.match(journal.stdout, 'hello-from-m2', 'journal lines from m2');

  const noCert = await fleetctl([`--endpoint=${endpoint}`, `--ca-file=${certs.caCert}`, 'list-units'], { env: { FLEETCTL_DRIVER: 'API' }, timeoutMs: 60_000 });
  t.not(noCert.code, 0, 'without a client certificate fleetctl fails');
  t.notMatch(noCert.stderr, /^\s+at /m, `and says why without a stack trace: ${noCert.stderr.trim()}`);
  const stranger = await fleetctl([`--endpoint=${endpoint}`, `--ca-file=${certs.caCert}`, `--cert-file=${certs.strangerCert}`, `--key-file=${certs.strangerKey}`, 'list-units'], { env: { FLEETCTL_DRIVER: 'API' }, timeoutMs: 60_000 });
  t.not(stranger.code, 0, 'a certificate of another CA is refused');
});
