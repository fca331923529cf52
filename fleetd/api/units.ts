/** `/units` and `/units/{name}`: fleet's unit resource (api/units.go semantics). */
import { isJsonObject } from '../../lib/json.js';
import { checkManageableUnit, checkManageableUnitName, parseUnitName, unitHash } from '../../lib/unit/index.js';
import { DESIRED_STATES, type DesiredState } from '../../lib/unit/types.js';
import type { Ctx } from './context.js';
import { ApiError } from '../../lib/api/errors.js';
import { readJson, requireJsonContentType, sendEmpty, sendError, sendJson } from './http.js';
import { paginate, requestPageToken } from './pagination.js';
import type { ApiUnitOption, UnitPage } from '../../lib/api/schema.js';
import { goField, wireUnit, wireUnitPage } from '../../lib/api/wire.js';
import { fleetNameProblem, goQuote, goTypeError } from './go-errors.js';
import { errorMessage } from '../../lib/errors.js';
import { UnitNotFoundError } from '../../lib/registry/index.js';

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

const DECODE = 'unable to decode body: ';
const STRING_FIELDS = ['name', 'desiredState', 'currentState', 'machineID'];

/** An option's fields, with Go's type error for one that is not a string (absent or null: empty). */
function decodeOption(o: unknown, i: number): ApiUnitOption {
  if (o === null) throw new ApiError(400, `${DECODE}options[${i}] is null`);
  if (!isJsonObject(o)) throw goTypeError(DECODE, o, 'schema.UnitOption', 'Unit', 'options');
  const opt: ApiUnitOption = { section: '', name: '', value: '' };
  for (const k of Object.keys(o)) {
    const field = (['name', 'section', 'value'] as const).find((f) => goField({ [k]: true }, f) !== undefined);
    if (field === undefined) continue;
    const v = o[k];
    if (v !== null && typeof v !== 'string') throw goTypeError(DECODE, v, 'string', 'UnitOption', `options.${field}`);
  }
  for (const f of ['section', 'name', 'value'] as const) {
    const v = goField(o, f);
    if (typeof v === 'string') opt[f] = v;
  }
  return opt;
}

/** A Unit as fleet's Go decoder read it: field names in any case, Go's texts for values of the wrong type. */
function decodePutBody(raw: unknown): PutBody {
  const body: PutBody = { options: [] };
  if (raw === null) return body;
  if (!isJsonObject(raw)) throw goTypeError(DECODE, raw, 'schema.Unit');
  // type errors in document order, as Go reports the first
  for (const k of Object.keys(raw)) {
    const v = raw[k];
    if (v === null) continue;
    const field = STRING_FIELDS.find((f) => goField({ [k]: true }, f) !== undefined);
    if (field !== undefined && typeof v !== 'string') throw goTypeError(DECODE, v, 'string', 'Unit', field);
    if (goField({ [k]: true }, 'options') !== undefined && !Array.isArray(v)) throw goTypeError(DECODE, v, '[]*schema.UnitOption', 'Unit', 'options');
  }
  const name = goField(raw, 'name');
  if (typeof name === 'string' && name !== '') body.name = name;
  const options = goField(raw, 'options');
  if (Array.isArray(options)) body.options = options.map(decodeOption);
  const ds = goField(raw, 'desiredState');
  if (typeof ds === 'string' && ds !== '') {
    if (!(DESIRED_STATES as readonly string[]).includes(ds)) {
      throw new ApiError(400, `invalid desiredState ${JSON.stringify(ds)}: expected one of ${DESIRED_STATES.join(', ')}`);
    }
    body.desiredState = ds as DesiredState;
  }
  return body;
}

function checkTemplateState(name: string, state: DesiredState): void {
  if (state !== 'inactive' && parseUnitName(name).isTemplate) throw new ApiError(400, `cannot activate template ${goQuote(name)}`);
}

export async function putUnit(c: Ctx, item: string): Promise<void> {
  requireJsonContentType(c.req);
  const body = decodePutBody(await readJson(c.req));
  const name = body.name ?? item;
  if (name !== item) throw new ApiError(400, `name in URL ${goQuote(item)} differs from unit name in request body ${goQuote(name)}`);
  // fleet's own check and words first; ours (stricter) after it
  const problem = fleetNameProblem(name);
  if (problem !== undefined) throw new ApiError(400, problem);
  try {
    // also refuses names fleet must never manage (fleet's, systemd's, D-Bus's units), even for a state change
    checkManageableUnitName(name);
    if (body.options.length > 0) checkManageableUnit(name, { options: body.options });
  } catch (err) {
    throw new ApiError(400, errorMessage(err));
  }

  if (body.options.length === 0 && body.desiredState !== undefined && !parseUnitName(name).isTemplate) {
    // a target-state change (fleetctl start/stop/load of a submitted unit): the registry write refuses a unit that
    // does not exist, so it is not read first (one etcd read fewer per unit of a `fleetctl start` of many)
    try {
      await c.backend.setDesiredState(name, body.desiredState);
    } catch (err) {
      if (err instanceof UnitNotFoundError) throw new ApiError(409, 'unit does not exist and options field empty');
      throw err;
    }
    return sendEmpty(c.res, 204);
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
