/**
 * Rolling updates (our extension, docs/fleet-compat.md; fleet's clients never call it): POST /rollouts creates one
 * from units given as options (as PUT /units takes them), GET /rollouts lists them, GET /rollouts/{id} answers one
 * with the engine leader's status, POST /rollouts/{id}/control pauses, resumes or aborts it. fleetd/api/API.md.
 */
import { isJsonObject } from '../../lib/json.js';
import type { Ctx } from './context.js';
import { ApiError, ApiDecodeError } from '../../lib/api/errors.js';
import { decodeRolloutRequest } from '../../lib/api/decode.js';
import { isRolloutControl } from '../../lib/rollout/codec.js';
import { readJson, requireJsonContentType, sendError, sendJson } from './http.js';

async function body(c: Ctx): Promise<unknown> {
  requireJsonContentType(c.req);
  return readJson(c.req);
}

export async function postRollout(c: Ctx): Promise<void> {
  let req;
  try {
    req = decodeRolloutRequest(await body(c));
  } catch (err) {
    if (err instanceof ApiDecodeError) throw new ApiError(400, `unable to decode body: ${err.message}`);
    throw err;
  }
  sendJson(c.res, 201, await c.backend.createRollout(req));
}

export async function listRollouts(c: Ctx): Promise<void> {
  sendJson(c.res, 200, { rollouts: await c.backend.listRollouts() });
}

export async function getRollout(c: Ctx, id: string): Promise<void> {
  const r = await c.backend.getRollout(id);
  if (!r) return sendError(c.res, 404, 'rollout does not exist');
  sendJson(c.res, 200, r);
}

export async function postRolloutControl(c: Ctx, id: string): Promise<void> {
  const b = await body(c);
  const control = isJsonObject(b) ? b['control'] : undefined;
  if (!isRolloutControl(control)) throw new ApiError(400, 'unable to decode body: expected {"control": "pause" | "resume" | "abort"}');
  await c.backend.controlRollout(id, control);
  const r = await c.backend.getRollout(id);
  if (!r) return sendError(c.res, 404, 'rollout does not exist');
  sendJson(c.res, 200, r);
}
