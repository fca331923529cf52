/**
 * Rolling restart of a global unit, one machine at a time (an extension, docs/fleet-compat.md): POST asks that
 * machine's agent to restart the unit once and answers the request's token; GET answers the request as the agent
 * left it (pending, done, failed), so fleetctl waits for one machine before asking the next. fleetd/api/API.md.
 */
import type { Ctx } from './context.js';
import { sendError, sendJson } from './http.js';

export async function postRestart(c: Ctx, name: string, machineId: string): Promise<void> {
  const token = await c.backend.requestRestart(name, machineId);
  sendJson(c.res, 201, { token });
}

export async function getRestart(c: Ctx, name: string, machineId: string): Promise<void> {
  const r = await c.backend.getRestartRequest(name, machineId);
  if (!r) return sendError(c.res, 404, 'no restart request of that unit on that machine');
  sendJson(c.res, 200, { token: r.token, status: r.status, ...(r.message !== undefined ? { message: r.message } : {}) });
}
