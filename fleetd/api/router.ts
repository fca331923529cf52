/** Maps method + path to a handler, with fleet's 404/405 answers. Mounted under /fleet/v1 and /v1-alpha. */
import type { Ctx } from './context.js';
import { discoveryDocument } from './discovery.js';
import { ApiError } from '../../lib/api/errors.js';
import { sendJson } from './http.js';
import { unitJournal, unitStatus, type InspectDeps } from './inspect.js';
import { listMachines, patchMachines } from './machines.js';
import { postPlan } from './plan.js';
import { getRestart, postRestart } from './restart.js';
import { getRollout, listRollouts, postRollout, postRolloutControl } from './rollouts.js';
import { getState, listStates } from './state.js';
import type { StateStreams, UnitStreams } from './state-stream.js';
import { deleteUnit, getUnit, listUnits, putUnit } from './units.js';
import { API_PREFIX } from '../../lib/api/schema.js';

export const PREFIXES = [API_PREFIX, '/v1-alpha'];

export interface Route {
  /** Label for metrics: the route pattern, never the unit name. */
  readonly name: string;
  readonly handle: (c: Ctx) => Promise<void>;
  /** Reads the whole registry (lists, plan): counted against MAX_WHOLE_REGISTRY_REQUESTS. */
  readonly wholeRegistry?: boolean;
}

export interface RouterDeps extends InspectDeps {
  metricsText: () => string;
  /** Serve `watch/state` and `watch/units` (our extensions); without them the paths are unknown (404), as in fleet. */
  stateStreams?: StateStreams;
  unitStreams?: UnitStreams;
}

const notAllowed = (msg: string): never => {
  throw new ApiError(405, msg);
};

function segment(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    throw new ApiError(400, `malformed percent-encoding in path segment ${JSON.stringify(raw)}`);
  }
}

function prefixed(method: string, prefix: string, rest: string, deps: RouterDeps): Route {
  const r = (name: string, handle: (c: Ctx) => Promise<void>): Route => ({ name: `${prefix}/${name}`, handle });
  const all = (name: string, handle: (c: Ctx) => Promise<void>): Route => ({ ...r(name, handle), wholeRegistry: true });
  if (rest === '' || rest === '/') {
    if (rest === '') notAllowed('');
    throw new ApiError(404, '');
  }
  const parts = rest.slice(1).split('/');
  const [res, item, sub, ...more] = parts;
  switch (res) {
    case 'discovery':
      if (parts.length !== 1) break;
      if (method !== 'GET') throw new ApiError(400, 'only HTTP GET supported against this resource');
      return r('discovery', async (c) => sendJson(c.res, 200, discoveryDocument()));
    case 'machines':
      if (parts.length !== 1) break;
      if (method === 'GET') return all('machines', listMachines);
      if (method === 'PATCH') return r('machines', patchMachines);
      return notAllowed('only GET and PATCH supported against this resource');
    case 'plan':
      if (parts.length !== 1) break;
      if (method === 'POST') return all('plan', postPlan);
      return notAllowed('only POST supported against this resource');
    case 'state':
      if (parts.length === 1) {
        if (method === 'GET') return all('state', listStates);
        return notAllowed('only GET supported against this resource');
      }
      if (parts.length === 2 && item !== '') {
        const name = segment(item!);
        if (method === 'GET') return r('state/{name}', (c) => getState(c, name));
        return notAllowed('only GET supported against this resource');
      }
      break;
    case 'watch': {
      if (parts.length !== 2) break;
      const streams = item === 'state' ? deps.stateStreams : item === 'units' ? deps.unitStreams : undefined;
      if (!streams) break;
      if (method === 'GET') return r(`watch/${item}`, (c) => streams.serve(c));
      return notAllowed('only GET supported against this resource');
    }
    case 'rollouts':
      if (parts.length === 1) {
        if (method === 'GET') return r('rollouts', listRollouts);
        if (method === 'POST') return r('rollouts', postRollout);
        return notAllowed('only GET and POST supported against this resource');
      }
      if (item === '' || item === undefined) break;
      if (parts.length === 2) {
        const id = segment(item);
        if (method === 'GET') return r('rollouts/{id}', (c) => getRollout(c, id));
        return notAllowed('only GET supported against this resource');
      }
      if (parts.length === 3 && sub === 'control') {
        const id = segment(item);
        if (method === 'POST') return r('rollouts/{id}/control', (c) => postRolloutControl(c, id));
        return notAllowed('only POST supported against this resource');
      }
      break;
    case 'units':
      if (parts.length === 1) {
        if (method === 'GET') return all('units', listUnits);
        return notAllowed('only GET supported against this resource');
      }
      if (item === '' || item === undefined) break;
      if (parts.length === 2) {
        const name = segment(item);
        if (method === 'GET') return r('units/{name}', (c) => getUnit(c, name));
        if (method === 'PUT') return r('units/{name}', (c) => putUnit(c, name));
        if (method === 'DELETE') return r('units/{name}', (c) => deleteUnit(c, name));
        return notAllowed('only GET, PUT and DELETE supported against this resource');
      }
      if (parts.length === 3 && more.length === 0 && (sub === 'status' || sub === 'journal')) {
        const name = segment(item);
        if (method !== 'GET') return notAllowed('only GET supported against this resource');
        if (sub === 'status') return r('units/{name}/status', (c) => unitStatus(c, deps, name));
        return r('units/{name}/journal', (c) => unitJournal(c, deps, name));
      }
      if (parts.length === 4 && sub === 'restart' && more[0] !== '') {
        const name = segment(item);
        const machineId = segment(more[0]!);
        if (method === 'POST') return r('units/{name}/restart/{machineID}', (c) => postRestart(c, name, machineId));
        if (method === 'GET') return r('units/{name}/restart/{machineID}', (c) => getRestart(c, name, machineId));
        return notAllowed('only GET and POST supported against this resource');
      }
      break;
  }
  throw new ApiError(404, '');
}

/**
 * The route for a request, or an ApiError (404/405/400) to answer with. An unknown path (404) and a request to
 * the root or the bare prefix (405) get an empty message, as in fleet.
 */
export function resolve(method: string, path: string, deps: RouterDeps): Route {
  if (path === '/metrics') {
    if (method !== 'GET' && method !== 'HEAD') notAllowed('only GET supported against this resource');
    return {
      name: '/metrics',
      handle: async (c) => {
        c.res.statusCode = 200;
        c.res.setHeader('Content-Type', 'text/plain; version=0.0.4; charset=utf-8');
        c.res.end(deps.metricsText());
      },
    };
  }
  for (const p of PREFIXES) {
    if (path === p || path.startsWith(p + '/')) return prefixed(method, p, path.slice(p.length), deps);
  }
  if (path === '/') throw new ApiError(405, '');
  throw new ApiError(404, '');
}
