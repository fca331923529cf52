import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FleetBackend } from '../../lib/api/backend.js';

/** One request as handlers see it. */
export interface Ctx {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly query: URLSearchParams;
  readonly backend: FleetBackend;
  readonly tokenLimit: number;
  /** ApiServerOptions.planInWorkerAbove */
  readonly planInWorkerAbove?: number | undefined;
}
