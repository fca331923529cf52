/**
 * The value of a rolling-restart request for one global unit on one machine (keys.globalRestart): fleetctl
 * writes a fresh token (pending), the agent of that machine restarts the unit once and settles the request
 * (`done <token>` or `failed <token> <message>`), so the client waiting on it learns the outcome without
 * racing the published unit state. docs/registry.md describes the key.
 */

import type { RestartStatus } from '../unit/types.js';

export type { RestartStatus };

export interface RestartRequest {
  readonly token: string;
  readonly status: RestartStatus;
  /** why the restart failed (status failed) */
  readonly message?: string;
}

const TOKEN = /^[0-9a-f]{1,64}$/;

export function encodeRestartRequest(r: RestartRequest): string {
  if (r.status === 'pending') return r.token;
  if (r.status === 'done') return `done ${r.token}`;
  return `failed ${r.token} ${r.message ?? ''}`.trimEnd();
}

/** undefined for a value that is none of the three forms (ignored, as a malformed key is elsewhere). */
export function decodeRestartRequest(value: string): RestartRequest | undefined {
  if (TOKEN.test(value)) return { token: value, status: 'pending' };
  const m = /^(done|failed) ([0-9a-f]{1,64})(?: (.*))?$/s.exec(value);
  if (!m || !TOKEN.test(m[2]!)) return undefined;
  if (m[1] === 'done') return { token: m[2]!, status: 'done' };
  return { token: m[2]!, status: 'failed', ...(m[3] ? { message: m[3] } : {}) };
}
