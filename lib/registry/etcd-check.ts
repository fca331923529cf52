/**
 * Checks of etcd connection settings that fleetd makes once at start, so a misconfiguration is one clear line
 * instead of a client that retries forever: the TLS files (readable, PEM of the right kind, certificate and key
 * belonging together, certificate not expired), and which endpoints answer (each unreachable one is named).
 * openEtcd itself stays lazy; these are separate so that the caller decides what to do with the findings.
 */
import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { errorMessage } from '../errors.js';
import { openEtcd, type EtcdOptions } from './etcd.js';
import { RegistryConfigError } from './errors.js';
import { normalizePrefix } from './keys.js';

/** The TLS files to check, each with the name of the option that set it (for the message). */
export interface TlsFiles {
  readonly ca?: { readonly option: string; readonly file: string };
  readonly cert?: { readonly option: string; readonly file: string };
  readonly key?: { readonly option: string; readonly file: string };
}

function read(option: string, file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new RegistryConfigError(`${option} ${file}: cannot read the file: ${errorMessage(err)}`);
  }
}

function certificate(option: string, file: string, data: Buffer): X509Certificate {
  if (!data.includes('-----BEGIN CERTIFICATE-----')) {
    throw new RegistryConfigError(`${option} ${file}: not a PEM certificate (no "BEGIN CERTIFICATE" block)`);
  }
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(data);
  } catch (err) {
    throw new RegistryConfigError(`${option} ${file}: not a valid PEM certificate: ${errorMessage(err)}`);
  }
  const until = Date.parse(cert.validTo);
  if (Number.isFinite(until) && until < Date.now()) {
    throw new RegistryConfigError(`${option} ${file}: the certificate expired on ${new Date(until).toISOString()}`);
  }
  return cert;
}

/**
 * Throws a RegistryConfigError naming the option and the file when a TLS file cannot be read, is not what the
 * option needs, or when the certificate and the key do not belong together.
 */
export function checkTlsFiles(files: TlsFiles): void {
  if (files.ca) certificate(files.ca.option, files.ca.file, read(files.ca.option, files.ca.file));
  const cert = files.cert && certificate(files.cert.option, files.cert.file, read(files.cert.option, files.cert.file));
  let key: KeyObject | undefined;
  if (files.key) {
    const data = read(files.key.option, files.key.file);
    try {
      key = createPrivateKey(data);
    } catch (err) {
      throw new RegistryConfigError(`${files.key.option} ${files.key.file}: not a valid PEM private key: ${errorMessage(err)}`);
    }
  }
  if (cert && key && files.cert && files.key && !cert.checkPrivateKey(key)) {
    throw new RegistryConfigError(
      `${files.key.option} ${files.key.file} is not the private key of ${files.cert.option} ${files.cert.file}`,
    );
  }
}

export interface EndpointCheck {
  readonly endpoint: string;
  /** Undefined when the endpoint answered (and accepted the credentials). */
  readonly error?: string;
}

/**
 * Asks every endpoint on its own for its status, authenticating as the real client would; resolves with one
 * entry per endpoint, in order. Never rejects.
 */
export async function checkEndpoints(opts: EtcdOptions, timeoutMs: number): Promise<EndpointCheck[]> {
  return Promise.all(
    opts.endpoints.map(async (endpoint): Promise<EndpointCheck> => {
      let client: ReturnType<typeof openEtcd> | undefined;
      try {
        client = openEtcd({ ...opts, endpoints: [endpoint], requestTimeoutMs: timeoutMs });
        // a key read below the prefix, not maintenance.status: it also proves that the credentials are accepted
        await client.get(`${normalizePrefix(opts.prefix)}startup-check`).string();
        return { endpoint };
      } catch (err) {
        // grpc-js appends an empty "Resolution note:" to connection errors
        const first = (errorMessage(err).split('\n')[0] ?? '').replace(/\s*Resolution note:\s*$/, '');
        return { endpoint, error: first || 'unknown error' };
      } finally {
        client?.close();
      }
    }),
  );
}
