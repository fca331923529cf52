/**
 * fleetd v1.0's error texts, one request per row (docs/fleet-compat.md#http-api): invalid unit names, [X-Fleet]
 * combinations fleet refused, bodies that are not JSON or have values of the wrong type (Go's decoder's texts),
 * page tokens that are not base64, and the empty message of 404 and 405.
 */
import t from 'tap';
import { startEtcd } from '../harness/etcd.js';
import { M1, request, startApi } from './fixture.js';

const etcd = await startEtcd(t);

const UNIT = JSON.stringify({ options: [{ section: 'Service', name: 'ExecStart', value: '/bin/true' }] });
const xfleet = (...lines: string[]): string =>
  JSON.stringify({ options: [{ section: 'Service', name: 'ExecStart', value: '/bin/true' }, ...lines.map((l) => ({ section: 'X-Fleet', name: l.split('=')[0], value: l.split('=')[1] }))] });
const D = 'unable to decode body: ';

/** [what, method, path, raw body or undefined, status, message] */
const ROWS: [string, string, string, string | undefined, number, string][] = [
  // unit names, fleet's checks in fleet's order
  ['no dot', 'PUT', '/fleet/v1/units/nosuffix', UNIT, 400, 'unit name must contain "."'],
  ['ends in a dot', 'PUT', '/fleet/v1/units/a.', UNIT, 400, 'unit name cannot end in "."'],
  ['unknown type', 'PUT', '/fleet/v1/units/a.foo', UNIT, 400, 'invalid unit type: "foo"'],
  ['type before characters', 'PUT', '/fleet/v1/units/a%20b.foo', UNIT, 400, 'invalid unit type: "foo"'],
  ['template type', 'PUT', '/fleet/v1/units/a@b.mount', UNIT, 400, 'invalid unit type for template: "mount"'],
  ['bad character', 'PUT', '/fleet/v1/units/a%20b.service', UNIT, 400, "invalid character ' ' in unit name"],
  ['control character', 'PUT', '/fleet/v1/units/a%01b.service', UNIT, 400, "invalid character '\\x01' in unit name"],
  ['leading @', 'PUT', '/fleet/v1/units/@a.service', UNIT, 400, 'unit name cannot start in "@"'],
  ['too long', 'PUT', `/fleet/v1/units/${'x'.repeat(300)}.service`, UNIT, 400, 'unit name exceeds maximum length (255)'],
  // [X-Fleet] combinations
  ['MachineID+MachineOf', 'PUT', '/fleet/v1/units/a.service', xfleet(`MachineID=${M1}`, 'MachineOf=b.service'), 400, 'MachineID cannot be used with Peers'],
  ['MachineID+Conflicts', 'PUT', '/fleet/v1/units/a.service', xfleet(`MachineID=${M1}`, 'Conflicts=b*'), 400, 'MachineID cannot be used with Conflicts'],
  ['MachineID+Global', 'PUT', '/fleet/v1/units/a.service', xfleet(`MachineID=${M1}`, 'Global=true'), 400, 'MachineID cannot be used with Global'],
  ['MachineID+Replaces', 'PUT', '/fleet/v1/units/a.service', xfleet(`MachineID=${M1}`, 'Replaces=b.service'), 400, 'MachineID cannot be used with Replaces'],
  ['Global+MachineOf', 'PUT', '/fleet/v1/units/a.service', xfleet('Global=true', 'MachineOf=b.service'), 400, 'Global cannot be used with Peers'],
  ['Global+Replaces', 'PUT', '/fleet/v1/units/a.service', xfleet('Global=true', 'Replaces=b.service'), 400, 'Global cannot be used with Replaces'],
  ['Conflicts+Replaces', 'PUT', '/fleet/v1/units/a.service', xfleet('Conflicts=b*', 'Replaces=c.service'), 400, 'Conflicts cannot be used with Replaces'],
  ['peer matches conflict', 'PUT', '/fleet/v1/units/a.service', xfleet('MachineOf=b.service', 'Conflicts=b*'), 400, 'unresolvable requirements: peer "b.service" matches conflict "b*"'],
  ['peer matches replace', 'PUT', '/fleet/v1/units/a.service', xfleet('MachineOf=b.service', 'Replaces=b.service'), 400, 'unresolvable requirements: peer "b.service" matches replace "b.service"'],
  // bodies that are not JSON: Go's decoder (after fleet's prefix on PUT, bare on PATCH)
  ['empty body', 'PUT', '/fleet/v1/units/a.service', '', 400, `${D}EOF`],
  ['only spaces', 'PUT', '/fleet/v1/units/a.service', ' \n', 400, `${D}EOF`],
  ['cut short', 'PUT', '/fleet/v1/units/a.service', '{"options": [', 400, `${D}unexpected EOF`],
  ['not a key', 'PUT', '/fleet/v1/units/a.service', '{x', 400, `${D}invalid character 'x' looking for beginning of object key string`],
  ['no colon', 'PUT', '/fleet/v1/units/a.service', '{"a" 1}', 400, `${D}invalid character '1' after object key`],
  ['no comma', 'PUT', '/fleet/v1/units/a.service', '{"a":1 "b":2}', 400, `${D}invalid character '"' after object key:value pair`],
  ['array without comma', 'PUT', '/fleet/v1/units/a.service', '[1 2]', 400, `${D}invalid character '2' after array element`],
  ['not a value', 'PUT', '/fleet/v1/units/a.service', '}', 400, `${D}invalid character '}' looking for beginning of value`],
  ['single quote', 'PUT', '/fleet/v1/units/a.service', "'", 400, `${D}invalid character '\\'' looking for beginning of value`],
  ['bad literal', 'PUT', '/fleet/v1/units/a.service', 'trux', 400, `${D}invalid character 'x' in literal true (expecting 'e')`],
  ['control in string', 'PUT', '/fleet/v1/units/a.service', '"a\tb"', 400, `${D}invalid character '\\t' in string literal`],
  ['bad escape', 'PUT', '/fleet/v1/units/a.service', '{"a":"\\q"}', 400, `${D}invalid character 'q' in string escape code`],
  ['bad number', 'PUT', '/fleet/v1/units/a.service', '-x', 400, `${D}invalid character 'x' in numeric literal`],
  ['bad decimal', 'PUT', '/fleet/v1/units/a.service', '1.x', 400, `${D}invalid character 'x' after decimal point in numeric literal`],
  ['too deep', 'PUT', '/fleet/v1/units/a.service', '['.repeat(10_001), 400, `${D}invalid character '[' exceeded max depth`],
  ['deep but not too deep', 'PUT', '/fleet/v1/units/a.service', `${'['.repeat(10_000)}${']'.repeat(10_000)}`, 400, `${D}json: cannot unmarshal array into Go value of type schema.Unit`],
  // JSON of the wrong type
  ['array body', 'PUT', '/fleet/v1/units/a.service', '[1,2]', 400, `${D}json: cannot unmarshal array into Go value of type schema.Unit`],
  ['number body', 'PUT', '/fleet/v1/units/a.service', '5', 400, `${D}json: cannot unmarshal number into Go value of type schema.Unit`],
  ['number name', 'PUT', '/fleet/v1/units/a.service', '{"name":5}', 400, `${D}json: cannot unmarshal number into Go struct field Unit.name of type string`],
  ['string options', 'PUT', '/fleet/v1/units/a.service', '{"options":"x"}', 400, `${D}json: cannot unmarshal string into Go struct field Unit.options of type []*schema.UnitOption`],
  ['string option', 'PUT', '/fleet/v1/units/a.service', '{"options":["x"]}', 400, `${D}json: cannot unmarshal string into Go struct field Unit.options of type schema.UnitOption`],
  ['bool state', 'PUT', '/fleet/v1/units/a.service', '{"desiredState":true}', 400, `${D}json: cannot unmarshal bool into Go struct field Unit.desiredState of type string`],
  ['white space after the value', 'PUT', '/fleet/v1/units/a.service', '{"desiredState":"launched"} \n', 409, 'unit does not exist and options field empty'],
  ['something after the value (ours: fleet ignored it)', 'PUT', '/fleet/v1/units/a.service', '{"desiredState":"launched"} }x', 400, `${D}invalid character '}' after top-level value`],
  ['null body', 'PUT', '/fleet/v1/units/a.service', 'null', 409, 'unit does not exist and options field empty'],
  ['PATCH empty', 'PATCH', '/fleet/v1/machines', '', 400, 'EOF'],
  ['PATCH cut short', 'PATCH', '/fleet/v1/machines', '[{', 400, 'unexpected EOF'],
  ['PATCH op type', 'PATCH', '/fleet/v1/machines', '[{"op":5}]', 400, 'json: cannot unmarshal number into Go struct field machineMetadataOp.op of type string'],
  ['PATCH element type', 'PATCH', '/fleet/v1/machines', '["x"]', 400, 'json: cannot unmarshal string into Go value of type api.machineMetadataOp'],
  ['PATCH inner value type', 'PATCH', '/fleet/v1/machines', `[{"op":"add","path":"/${M1}/metadata/a","value":{"value":5}}]`, 400, 'json: cannot unmarshal number into Go struct field .Value.value of type string'],
  ['PATCH type errors before checks', 'PATCH', '/fleet/v1/machines', '[{"op":"move"},{"op":5}]', 400, 'json: cannot unmarshal number into Go struct field machineMetadataOp.op of type string'],
  ['PATCH null', 'PATCH', '/fleet/v1/machines', 'null', 204, ''],
  // page tokens
  ['token not base64', 'GET', '/fleet/v1/units?nextPageToken=a%20b', undefined, 400, 'illegal base64 data at input byte 1'],
  ['token too short', 'GET', '/fleet/v1/machines?nextPageToken=AgA%3D', undefined, 400, 'unexpected EOF'],
  ['token limit', 'GET', '/fleet/v1/state?nextPageToken=EwBMLg%3D%3D', undefined, 400, 'token limit must be 100'],
  // 404 and 405: an empty message
  ['unknown path', 'GET', '/nope', undefined, 404, ''],
  ['under the prefix', 'GET', '/fleet/v1/nope', undefined, 404, ''],
  ['below machines', 'GET', '/fleet/v1/machines/x', undefined, 404, ''],
  ['below a unit', 'GET', '/fleet/v1/units/a.service/x/y', undefined, 404, ''],
  ['root', 'GET', '/', undefined, 405, ''],
  ['bare prefix', 'POST', '/fleet/v1', undefined, 405, ''],
  ['bare alpha prefix', 'GET', '/v1-alpha', undefined, 405, ''],
];

t.test("fleet's error texts", async (t) => {
  const f = await startApi(t, { etcd });
  for (const [what, method, path, raw, status, message] of ROWS) {
    const r = await request(f, method, path, raw === undefined ? {} : { raw, headers: { 'Content-Type': 'application/json' } });
    t.equal(r.status, status, `${what}: status`);
    if (status === 204) continue;
    t.equal(r.text, JSON.stringify({ error: { code: status, message } }).replace(/</g, '\\u003c').replace(/>/g, '\\u003e').replace(/&/g, '\\u0026'), `${what}: body`);
  }
});
