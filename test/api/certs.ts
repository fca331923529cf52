/** Throw-away CA, server and client certificates made with the openssl CLI. */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Test } from 'tap';

export interface Certs {
  dir: string;
  caCert: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
  /** Signed by another CA: must be refused. */
  strangerCert: string;
  strangerKey: string;
  read(file: string): Buffer;
}

function openssl(dir: string, ...args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

function issue(dir: string, name: string, ca: string, cn: string, ext: string): void {
  openssl(dir, 'req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`);
  writeFileSync(path.join(dir, `${name}.ext`), ext);
  openssl(dir, 'x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.crt`, '-CAkey', `${ca}.key`, '-CAcreateserial', '-days', '2', '-out', `${name}.crt`, '-extfile', `${name}.ext`);
}

function makeCa(dir: string, name: string): void {
  openssl(dir, 'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.crt`, '-days', '2', '-subj', `/CN=${name}`);
}

/** `serverIps`: more addresses the server certificate is valid for (lab machines), besides 127.0.0.1. */
export function makeCerts(t: Test, opts: { serverIps?: readonly string[] } = {}): Certs {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fleet-certs-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  makeCa(dir, 'ca');
  makeCa(dir, 'otherca');
  const sans = ['IP:127.0.0.1', 'DNS:localhost', ...(opts.serverIps ?? []).map((ip) => `IP:${ip}`)].join(',');
  issue(dir, 'server', 'ca', 'fleetd', `subjectAltName=${sans}\nextendedKeyUsage=serverAuth,clientAuth\n`);
  issue(dir, 'client', 'ca', 'operator', 'extendedKeyUsage=clientAuth\n');
  issue(dir, 'stranger', 'otherca', 'stranger', 'extendedKeyUsage=clientAuth\n');
  const p = (f: string): string => path.join(dir, f);
  return {
    dir,
    caCert: p('ca.crt'),
    serverCert: p('server.crt'),
    serverKey: p('server.key'),
    clientCert: p('client.crt'),
    clientKey: p('client.key'),
    strangerCert: p('stranger.crt'),
    strangerKey: p('stranger.key'),
    read: (f) => readFileSync(f),
  };
}
