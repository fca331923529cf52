/**
 * `/discovery`: the Google-API-style discovery document of the v1 API (what fleet's generated client read). Its
 * machine-readable parts are fleet v1.0's (schemas, resources, methods, parameters, parameterOrder, required
 * flags; test/api/discovery.test.ts compares them with fleet's schema/v1.json); the descriptions are ours.
 * fleet served the same document under both prefixes, so `/v1-alpha/discovery` also names `/fleet/v1/`
 * (docs/fleet-compat.md#http-api).
 */

const str = { type: 'string' };
const pageToken = { nextPageToken: { type: 'string', location: 'query' } };
const unitName = { unitName: { type: 'string', location: 'path', required: true } };
const states = { type: 'string', enum: ['inactive', 'loaded', 'launched'] };

function page(id: string, field: string, item: string): Record<string, unknown> {
  return { id, type: 'object', properties: { [field]: { type: 'array', items: { $ref: item } }, nextPageToken: str } };
}

function method(
  id: string, description: string, httpMethod: string, path: string, parameters: Record<string, unknown>,
  body: { response?: string; request?: string } = {},
): Record<string, unknown> {
  return {
    id,
    description,
    httpMethod,
    path,
    parameters,
    ...('unitName' in parameters && path.includes('{unitName}') ? { parameterOrder: ['unitName'] } : {}),
    ...(body.request ? { request: { $ref: body.request } } : {}),
    ...(body.response ? { response: { $ref: body.response } } : {}),
  };
}

const DOCUMENT = {
  kind: 'discovery#restDescription',
  discoveryVersion: 'v1',
  id: 'fleet:v1',
  name: 'schema',
  version: 'v1',
  title: 'fleet API',
  description: 'Cluster-wide systemd units: submit, schedule, start and inspect them.',
  documentationLink: 'http://github.com/coreos/fleet',
  protocol: 'rest',
  icons: { x16: '', x32: '' },
  labels: [],
  baseUrl: '$ENDPOINT/fleet/v1/',
  basePath: '/fleet/v1/',
  rootUrl: '$ENDPOINT/',
  servicePath: 'fleet/v1/',
  batchPath: 'batch',
  parameters: {},
  auth: {},
  schemas: {
    Machine: {
      id: 'Machine',
      type: 'object',
      properties: { id: str, primaryIP: str, metadata: { type: 'object', properties: {}, additionalProperties: str } },
    },
    MachinePage: page('MachinePage', 'machines', 'Machine'),
    UnitOption: { id: 'UnitOption', type: 'object', properties: { section: str, name: str, value: str } },
    Unit: {
      id: 'Unit',
      type: 'object',
      properties: {
        name: str,
        options: { type: 'array', items: { $ref: 'UnitOption' } },
        desiredState: states,
        currentState: states,
        machineID: { type: 'string', required: true },
      },
    },
    UnitPage: page('UnitPage', 'units', 'Unit'),
    UnitState: {
      id: 'UnitState',
      type: 'object',
      properties: { name: str, hash: str, machineID: str, systemdLoadState: str, systemdActiveState: str, systemdSubState: str },
    },
    UnitStatePage: page('UnitStatePage', 'states', 'UnitState'),
  },
  resources: {
    Machines: {
      methods: {
        List: method('fleet.Machine.List', 'One page of the machines in the cluster.', 'GET', 'machines', pageToken,
          { response: 'MachinePage' }),
      },
    },
    Units: {
      methods: {
        List: method('fleet.Unit.List', 'One page of the units, with their options and states.', 'GET', 'units', pageToken,
          { response: 'UnitPage' }),
        Get: method('fleet.Unit.Get', 'One unit by name.', 'GET', 'units/{unitName}', unitName, { response: 'Unit' }),
        Delete: method('fleet.Unit.Delete', 'Removes a unit from the cluster.', 'DELETE', 'units/{unitName}', unitName),
        Set: method('fleet.Unit.Set', 'Creates a unit, replaces its options, or changes its desired state.', 'PUT',
          'units/{unitName}', unitName, { request: 'Unit' }),
      },
    },
    UnitState: {
      methods: {
        Get: method('fleet.UnitState.Get', 'The state systemd reports for one unit.', 'GET', 'state/{unitName}', unitName,
          { response: 'UnitState' }),
        List: method('fleet.UnitState.List', 'One page of unit states, optionally only one unit\'s or one machine\'s.', 'GET',
          'state', {
            ...pageToken,
            unitName: { type: 'string', location: 'query' },
            machineID: { type: 'string', location: 'query' },
          }, { response: 'UnitStatePage' }),
      },
    },
  },
};

/** The document, the same under every prefix, as fleet served it. */
export function discoveryDocument(): Record<string, unknown> {
  return DOCUMENT;
}
