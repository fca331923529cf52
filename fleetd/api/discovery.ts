/** `/discovery`: a Google-API-style discovery document of the v1 API (what fleet's generated client read). */

const str = { type: 'string' };
const pageToken = { nextPageToken: { type: 'string', location: 'query' } };

function listMethod(id: string, path: string, response: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { id, path, httpMethod: 'GET', parameters: { ...pageToken, ...extra }, response: { $ref: response } };
}

export function discoveryDocument(prefix: string): Record<string, unknown> {
  const base = prefix.replace(/^\//, '') + '/';
  const unitName = { unitName: { type: 'string', required: true, location: 'path' } };
  return {
    kind: 'discovery#restDescription',
    discoveryVersion: 'v1',
    id: 'fleet:v1',
    name: 'schema',
    version: 'v1',
    title: 'fleet API',
    description: 'Cluster-wide systemd units: submit, schedule, start and inspect them.',
    protocol: 'rest',
    baseUrl: `$ENDPOINT/${base}`,
    basePath: `/${base}`,
    rootUrl: '$ENDPOINT/',
    servicePath: base,
    batchPath: 'batch',
    parameters: {},
    auth: {},
    schemas: {
      Machine: { id: 'Machine', type: 'object', properties: { id: str, primaryIP: str, metadata: { type: 'object', additionalProperties: str } } },
      MachinePage: { id: 'MachinePage', type: 'object', properties: { machines: { type: 'array', items: { $ref: 'Machine' } }, nextPageToken: str } },
      UnitOption: { id: 'UnitOption', type: 'object', properties: { section: str, name: str, value: str } },
      Unit: {
        id: 'Unit',
        type: 'object',
        properties: {
          name: str,
          options: { type: 'array', items: { $ref: 'UnitOption' } },
          desiredState: { type: 'string', enum: ['inactive', 'loaded', 'launched'] },
          currentState: { type: 'string', enum: ['inactive', 'loaded', 'launched'] },
          machineID: str,
        },
      },
      UnitPage: { id: 'UnitPage', type: 'object', properties: { units: { type: 'array', items: { $ref: 'Unit' } }, nextPageToken: str } },
      UnitState: {
        id: 'UnitState',
        type: 'object',
        properties: { name: str, hash: str, machineID: str, systemdLoadState: str, systemdActiveState: str, systemdSubState: str },
      },
      UnitStatePage: { id: 'UnitStatePage', type: 'object', properties: { states: { type: 'array', items: { $ref: 'UnitState' } }, nextPageToken: str } },
    },
    resources: {
      Machines: { methods: { List: listMethod('fleet.Machine.List', 'machines', 'MachinePage') } },
      Units: {
        methods: {
          List: listMethod('fleet.Unit.List', 'units', 'UnitPage'),
          Get: { id: 'fleet.Unit.Get', path: 'units/{unitName}', httpMethod: 'GET', parameters: unitName, response: { $ref: 'Unit' } },
          Delete: { id: 'fleet.Unit.Delete', path: 'units/{unitName}', httpMethod: 'DELETE', parameters: unitName },
          Set: { id: 'fleet.Unit.Set', path: 'units/{unitName}', httpMethod: 'PUT', parameters: unitName, request: { $ref: 'Unit' } },
        },
      },
      UnitState: {
        methods: {
          List: listMethod('fleet.UnitState.List', 'state', 'UnitStatePage', {
            machineID: { type: 'string', location: 'query' },
            unitName: { type: 'string', location: 'query' },
          }),
        },
      },
    },
  };
}
