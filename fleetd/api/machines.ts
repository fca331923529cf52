/** `/machines`: live machines, and PATCH of their metadata (fleet's JSON-Patch-like ops). */
import { isJsonObject } from '../../lib/json.js';
import { checkMachineId, checkMetadataKey } from '../../lib/registry/index.js';
import type { Ctx } from './context.js';
import { ApiError } from '../../lib/api/errors.js';
import { readJson, sendEmpty, sendJson } from './http.js';
import { goTypeError } from './go-errors.js';
import { paginate, requestPageToken } from './pagination.js';
import type { MachinePage } from '../../lib/api/schema.js';
import { goField, wireMachinePage } from '../../lib/api/wire.js';
import { errorMessage } from '../../lib/errors.js';

/** Operations one PATCH may carry (each is an etcd write). */
export const MAX_METADATA_OPS = 1000;

const METADATA_PATH = /^\/([^/]+)\/metadata\/([A-Za-z0-9_.-]+)$/;

export async function listMachines(c: Ctx): Promise<void> {
  const tok = requestPageToken(c.query, c.tokenLimit);
  const { items, next } = paginate(await c.backend.listMachines(), tok);
  const page: MachinePage = {};
  if (items.length > 0) page.machines = items;
  if (next) page.nextPageToken = next;
  sendJson(c.res, 200, wireMachinePage(page));
}

interface MetadataOp {
  op: 'add' | 'remove' | 'replace';
  machineId: string;
  key: string;
  value: string;
}

/** The Go type of fleet's op value, as its decoder names it in errors. */
const VALUE_TYPE = 'struct { Value string "json:\\"value\\"" }';

/** `value` as fleet's struct reads it (`{"value": "x"}`) or as its docs show it (`"x"`); else Go's type error. */
function opValue(v: unknown): string {
  if (v === undefined || v === null) return '';
  if (typeof v === 'string') return v;
  if (!isJsonObject(v)) throw goTypeError('', v, VALUE_TYPE, 'machineMetadataOp', 'Value');
  const inner = goField(v, 'value');
  if (inner === undefined || inner === null) return '';
  if (typeof inner !== 'string') throw goTypeError('', inner, 'string', '', 'Value.value');
  return inner;
}

interface RawOp {
  op: unknown;
  path: unknown;
  value: string;
}

/** Fields of one op, typed as Go's decoder types them (its errors, before any op is validated). */
function typedOp(o: unknown): RawOp {
  if (o === null) return { op: undefined, path: undefined, value: '' };
  if (!isJsonObject(o)) throw goTypeError('', o, 'api.machineMetadataOp');
  // field names in any case (fleet's own test sends "Value"), as fleet's Go decoder read them
  const op = goField(o, 'op');
  const path = goField(o, 'path');
  for (const [k, v] of [['op', op], ['path', path]] as const) {
    if (v !== undefined && v !== null && typeof v !== 'string') throw goTypeError('', v, 'string', 'machineMetadataOp', k);
  }
  return { op, path, value: opValue(goField(o, 'value')) };
}

function decodeOps(raw: unknown): MetadataOp[] {
  if (raw === null) return [];
  if (!Array.isArray(raw)) throw goTypeError('', raw, '[]api.machineMetadataOp');
  if (raw.length > MAX_METADATA_OPS) throw new ApiError(400, `too many operations in one request: ${raw.length} (limit ${MAX_METADATA_OPS})`);
  const typed = raw.map(typedOp);
  return typed.map(({ op, path: opPath, value }, i): MetadataOp => {
    if (op !== 'add' && op !== 'remove' && op !== 'replace') throw new ApiError(400, 'invalid op: expect add, remove, or replace');
    const m = typeof opPath === 'string' ? METADATA_PATH.exec(opPath) : null;
    if (!m) throw new ApiError(400, 'machine metadata path invalid');
    if (op !== 'remove' && value === '') throw new ApiError(400, 'invalid value: add and replace require a value');
    try {
      checkMachineId(m[1]!);
      checkMetadataKey(m[2]!);
    } catch (err) {
      // All ops are checked before the first is applied, so a bad one cannot leave the others half done.
      throw new ApiError(400, `operation ${i}: ${errorMessage(err)}`);
    }
    return { op, machineId: m[1]!, key: m[2]!, value };
  });
}

export async function patchMachines(c: Ctx): Promise<void> {
  const ops = decodeOps(await readJson(c.req, ''));
  for (const o of ops) {
    await c.backend.setMachineMetadata(o.machineId, o.key, o.op === 'remove' ? null : o.value);
  }
  sendEmpty(c.res, 204);
}
