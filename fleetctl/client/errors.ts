import { FleetError } from '../../lib/errors.js';

/**
 * fleetctl cannot use the endpoint at all: unreachable, refused, timed out, not authorised, or not speaking
 * fleet's API. Commands let it through; the top level prints its one-line message and exits 1.
 */
export class EndpointError extends FleetError {
  override readonly name = 'EndpointError';
}

/** The API answered with an error status. `message` is the server's message. */
export class ApiRequestError extends FleetError {
  override readonly name = 'ApiRequestError';
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const HINTS: Record<string, string> = {
  ENOENT: 'no such socket (is fleetd running?)',
  ECONNREFUSED: 'connection refused (is fleetd running?)',
  EACCES: 'permission denied (run as root or as a member of the socket\'s group)',
  EPERM: 'permission denied',
  ECONNRESET: 'connection reset by the server',
  EPIPE: 'connection closed by the server',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ENOTFOUND: 'host name not found',
  EAI_AGAIN: 'host name lookup failed (temporary DNS failure)',
  ETIMEDOUT: 'connection timed out',
  ECONNABORTED: 'connection aborted',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'server certificate is self-signed (give --ca-file)',
  SELF_SIGNED_CERT_IN_CHAIN: 'server certificate chain is not trusted (give --ca-file)',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'server certificate is not trusted (give --ca-file)',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'server certificate is not trusted (give --ca-file)',
  CERT_HAS_EXPIRED: 'server certificate has expired',
  ERR_TLS_CERT_ALTNAME_INVALID: 'server certificate does not match the host name',
  EPROTO: 'TLS handshake failed (does the server speak TLS, does it want a client certificate?)',
};

/** A short human reason for a socket/TLS error. */
export function describeNetError(err: unknown): string {
  const e = err as NodeJS.ErrnoException & { reason?: string };
  const code = e?.code;
  if (code && HINTS[code]) return HINTS[code]!;
  if (code === 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED' || /certificate required/i.test(e?.message ?? '')) {
    return 'the server requires a client certificate (give --cert-file and --key-file)';
  }
  if (/alert (bad certificate|unknown ca)/i.test(e?.message ?? '')) return 'the server rejected the client certificate';
  if (/wrong version number|packet length too long/i.test(e?.message ?? '')) {
    return 'TLS handshake failed (is the endpoint plain http?)';
  }
  return e?.message ?? String(err);
}
