/** `/units` and `/units/{name}`: fleet's unit resource (api/units.go semantics). */
import { checkManageableUnit, checkManageableUnitName, parseUnitName, unitHash } from '../../lib/unit/index.js';
import { DESIRED_STATES, type DesiredState } from '../../lib/unit/types.js';
import type { Ctx } from './context.js';
import { ApiError } from '../../lib/api/errors.js';
import { isObject, readJson, requireJsonContentType, sendEmpty, sendError, sendJson } from './http.js';
import { paginate, requestPageToken } from './pagination.js';
import type { ApiUnitOption, UnitPage } from '../../lib/api/schema.js';
import { goField, wireUnit, wireUnitPage } from '../../lib/api/wire.js';
import { errorMessage } from '../../lib/errors.js';

export async function listUnits(c: Ctx): Promise<void> {
  const tok = requestPageToken(c.query, c.tokenLimit);
  const { items, next } = paginate(await c.backend.listUnits(), tok);
  const page: UnitPage = {};
  if (items.length > 0) page.units = items;
  if (next) page.nextPageToken = next;
  sendJson(c.res, 200, wireUnitPage(page));
}

export async function getUnit(c: Ctx, name: string): Promise<void> {
  const u = await c.backend.getUnit(name);
  if (!u) return sendError(c.res, 404, 'unit does not exist');
  sendJson(c.res, 200, wireUnit(u));
}

export async function deleteUnit(c: Ctx, name: string): Promise<void> {
  if (!(await c.backend.destroyUnit(name))) return sendError(c.res, 404, 'unit does not exist');
  sendEmpty(c.res, 204);
}

interface PutBody {
  name?: string;
  options: ApiUnitOption[];
  desiredState?: DesiredState;
}

function decodePutBody(raw: unknown): PutBody {
  if (!isObject(raw)) throw new ApiError(400, 'unable to decode body: expected a JSON object (a Unit)');
  const body: PutBody = { options: [] };
  // field names in any case, as fleet's Go decoder read them
  const name = goField(raw, 'name');
  if (name !== undefined && name !== null) {
    if (typeof name !== 'string') throw new ApiError(400, 'unable to decode body: "name" must be a string');
    body.name = name;
  }
  const options = goField(raw, 'options');
  if (options !== undefined && options !== null) {
    if (!Array.isArray(options)) throw new ApiError(400, 'unable to decode body: "options" must be an array of {section, name, value}');
    body.options = options.map((o: unknown, i: number): ApiUnitOption => {
      if (!isObject(o)) throw new ApiError(400, `unable to decode body: options[${i}] must be an object {section, name, value}`);
      const field = (k: 'section' | 'name' | 'value'): string => {
        const v = goField(o, k);
        if (v === undefined || v === null) return '';
        if (typeof v !== 'string') throw new ApiError(400, `unable to decode body: options[${i}].${k} must be a string`);
        return v;
      };
      return { section: field('section'), name: field('name'), value: field('value') };
    });
  }
  const ds = goField(raw, 'desiredState');
  if (ds !== undefined && ds !== null && ds !== '') {
    if (typeof ds !== 'string' || !(DESIRED_STATES as readonly string[]).includes(ds)) {
      throw new ApiError(400, `invalid desiredState ${JSON.stringify(ds)}: expected one of ${DESIRED_STATES.join(', ')}`);
    }
    body.desiredState = ds as DesiredState;
  }
  return body;
}

function checkTemplateState(name: string, state: DesiredState): void {
  if (state !== 'inactive' && parseUnitName(name).isTemplate) throw new ApiError(400, `cannot activate template ${JSON.stringify(name)}`);
}

export async function putUnit(c: Ctx, item: string): Promise<void> {
  requireJsonContentType(c.req);
  const body = decodePutBody(await readJson(c.req));
  const name = body.name ?? item;
  if (name !== item) throw new ApiError(400, `name in URL ${JSON.stringify(item)} differs from unit name in request body ${JSON.stringify(name)}`);
  try {
    // also refuses names fleet must never manage (fleet's, systemd's, D-Bus's units), even for a state change
    checkManageableUnitName(name);
    if (body.options.length > 0) checkManageableUnit(name, { options: body.options });
  } catch (err) {
    throw new ApiError(400, errorMessage(err));
  }

  const existing = await c.backend.getUnit(name);
  if (!existing && body.options.length === 0) throw new ApiError(409, 'unit does not exist and options field empty');
  if (body.options.length > 0) {
    const desired = body.desiredState ?? 'inactive';
    checkTemplateState(name, desired);
    const changed = !existing || !sameOptions(existing.options, body.options);
    if (changed) {
      await c.backend.putUnit(name, body.options, desired);
      return sendEmpty(c.res, 201);
    }
  }
  if (!body.desiredState) throw new ApiError(409, 'must provide DesiredState to update existing unit');
  checkTemplateState(name, body.desiredState);
  await c.backend.setDesiredState(name, body.desiredState);
  sendEmpty(c.res, 204);
}

/** Same unit contents: fleet compares the hashes of the canonical serializations. */
function sameOptions(a: readonly ApiUnitOption[], b: readonly ApiUnitOption[]): boolean {
  try {
    return unitHash({ options: a }) === unitHash({ options: b });
  } catch {
    return false;
  }
}
