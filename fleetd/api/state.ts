/** `/state` and `/state/{name}`: published unit states, filterable by machine and unit. */
import type { Ctx } from './context.js';
import { sendError, sendJson } from './http.js';
import { paginate, requestPageToken } from './pagination.js';
import type { UnitStatePage } from '../../lib/api/schema.js';
import { wireUnitState, wireUnitStatePage } from '../../lib/api/wire.js';

export async function listStates(c: Ctx): Promise<void> {
  const tok = requestPageToken(c.query, c.tokenLimit);
  const machineID = c.query.get('machineID') ?? '';
  const unitName = c.query.get('unitName') ?? '';
  let states = await c.backend.listUnitStates({
    ...(machineID && !machineID.includes('/') ? { machineID } : {}),
    ...(unitName && !unitName.includes('/') ? { unitName } : {}),
  });
  states = states.filter((s) => (!machineID || s.machineID === machineID) && (!unitName || s.name === unitName));
  const { items, next } = paginate(states, tok);
  const page: UnitStatePage = {};
  if (items.length > 0) page.states = items;
  if (next) page.nextPageToken = next;
  sendJson(c.res, 200, wireUnitStatePage(page));
}

export async function getState(c: Ctx, name: string): Promise<void> {
  const states = await c.backend.listUnitStates({ unitName: name });
  const s = states.find((x) => x.name === name);
  if (!s) return sendError(c.res, 404, 'unit state does not exist');
  sendJson(c.res, 200, wireUnitState(s));
}
