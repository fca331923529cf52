/**
 * A throwaway certificate authority for a lab cluster's etcd (`fleet-lab up --etcd-tls`), made with the openssl
 * CLI under <state dir>/pki: the CA, one server certificate for every etcd member (valid for the bridge
 * address and 127.0.0.1), and one client certificate (CN `fleet`) that every machine's fleetd presents.
 * Keys are 0600. Made once; a later `up` reuses what is there. `down` removes it with the state dir.
 */
import { existsSync } from 'node:fs';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runOk } from './run.js';

export interface LabPki {
  readonly dir: string;
  readonly caFile: string;
  readonly serverCert: string;
  readonly serverKey: string;
  readonly clientCert: string;
  readonly clientKey: string;
}

/** What a client needs, as PEM text (for user-data) rather than paths. */
export interface ClientPem {
  readonly ca: string;
  readonly cert: string;
  readonly key: string;
}

export function pkiPaths(stateDir: string): LabPki {
  const dir = join(stateDir, 'pki');
  return {
    dir,
    caFile: join(dir, 'ca.pem'),
    serverCert: join(dir, 'server.pem'),
    serverKey: join(dir, 'server.key'),
    clientCert: join(dir, 'client.pem'),
    clientKey: join(dir, 'client.key'),
  };
}

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

async function issue(dir: string, name: string, cn: string, ext: string, caKey: string, caCert: string): Promise<void> {
  const key = join(dir, `${name}.key`);
  const csr = join(dir, `${name}.csr`);
  const extFile = join(dir, `${name}.ext`);
  await runOk('openssl', ['req', '-new', ...EC, '-keyout', key, '-out', csr, '-subj', `/CN=${cn}`]);
  await chmod(key, 0o600);
  await writeFile(extFile, ext);
  await runOk('openssl', ['x509', '-req', '-in', csr, '-CA', caCert, '-CAkey', caKey, '-CAcreateserial', '-days', '30', '-out', join(dir, `${name}.pem`), '-extfile', extFile]);
}

/** Creates the CA and certificates unless they exist; `serverIps`: the addresses etcd members listen on. */
export async function ensurePki(stateDir: string, serverIps: readonly string[]): Promise<LabPki> {
  const p = pkiPaths(stateDir);
  if (existsSync(p.clientCert) && existsSync(p.serverCert)) return p;
  await mkdir(p.dir, { recursive: true, mode: 0o700 });
  const caKey = join(p.dir, 'ca.key');
  await runOk('openssl', ['req', '-x509', ...EC, '-keyout', caKey, '-out', p.caFile, '-days', '30', '-subj', '/CN=fleet-lab etcd CA']);
  await chmod(caKey, 0o600);
  const sans = [...new Set(['127.0.0.1', ...serverIps])].map((ip) => `IP:${ip}`).join(',');
  await issue(p.dir, 'server', 'etcd', `subjectAltName=${sans}\nextendedKeyUsage=serverAuth,clientAuth\n`, caKey, p.caFile);
  await issue(p.dir, 'client', 'fleet', 'extendedKeyUsage=clientAuth\n', caKey, p.caFile);
  return p;
}

export async function clientPem(p: LabPki): Promise<ClientPem> {
  return {
    ca: await readFile(p.caFile, 'utf8'),
    cert: await readFile(p.clientCert, 'utf8'),
    key: await readFile(p.clientKey, 'utf8'),
  };
}
