/**
 * The API's bodies byte for byte as fleetd v1.0 wrote them (docs/fleet-compat.md#http-api): key order of fleet's
 * Go structs, empty fields left out, sorted metadata keys, Go's escaping, no trailing newline; and the headers
 * every answer carries (Content-Type also on bodiless ones, Server).
 */
import t from 'tap';
import { startEtcd } from '../harness/etcd.js';
import { goJson } from '../../lib/api/wire.js';
import { decodeMachinePage, decodeUnit } from '../../lib/api/decode.js';
import { M1, M2, addMachine, publishState, request, scheduleUnit, startApi, submitUnit } from './fixture.js';

const etcd = await startEtcd(t);

const TEXT = '[Unit]\nDescription=a & b <c>\n\n[Service]\nEnvironment=\nExecStart=/bin/true\n';
const OPTIONS =
  '[{"name":"Description","section":"Unit","value":"a \\u0026 b \\u003cc\\u003e"},' +
  '{"name":"Environment","section":"Service"},' +
  '{"name":"ExecStart","section":"Service","value":"/bin/true"}]';

t.test('goJson escapes as Go does and keeps escape pairs whole', async (t) => {
  t.equal(goJson({ s: 'a&b<c>d\u2028\u2029' }), '{"s":"a\\u0026b\\u003cc\\u003ed\\u2028\\u2029"}');
  t.equal(goJson('\b\f\n\t\u0001'), '"\\u0008\\u000c\\n\\t\\u0001"');
  t.equal(goJson('\\b\\f'), '"\\\\b\\\\f"', 'a backslash followed by b is not a backspace');
  t.equal(goJson('x\ud800y\ud83d\ude00'), '"x\\ufffdy\ud83d\ude00"', 'a lone surrogate becomes U+FFFD, a pair stays');
});

t.test('units, unit pages: fleet key order, omitempty, escaping, no newline', async (t) => {
  const f = await startApi(t, { etcd, config: { tokenLimit: 1 } });
  await addMachine(t, f.registry, M1, '198.18.0.11');
  await submitUnit(f.registry, 'a.service', TEXT, 'launched');
  await submitUnit(f.registry, 'b.service', TEXT);
  await scheduleUnit(f.registry, 'a.service', M1);

  const a = await request(f, 'GET', '/fleet/v1/units/a.service');
  const aBody = `{"currentState":"inactive","desiredState":"launched","machineID":"${M1}","name":"a.service","options":${OPTIONS}}`;
  t.equal(a.text, aBody);
  t.equal(a.headers['content-type'], 'application/json');
  t.equal(a.headers.server, 'fleetd/9.9.9-test');
  t.same(decodeUnit(a.json).options[1], { section: 'Service', name: 'Environment', value: '' }, "fleetctl's decoder reads an option without value");

  const page1 = await request(f, 'GET', '/fleet/v1/units');
  t.equal(page1.text, `{"nextPageToken":"AQACAA==","units":[${aBody}]}`, 'the token comes first in a unit page');
  const page2 = await request(f, 'GET', '/fleet/v1/units?nextPageToken=AQACAA==');
  t.equal(page2.text, `{"nextPageToken":"AQADAA==","units":[{"currentState":"inactive","desiredState":"inactive","name":"b.service","options":${OPTIONS}}]}`);
  t.equal((await request(f, 'GET', '/fleet/v1/units?nextPageToken=AQADAA==')).text, '{}');
});

t.test('machines: id, metadata (sorted keys, left out when empty), primaryIP; token after the list', async (t) => {
  const f = await startApi(t, { etcd, config: { tokenLimit: 1 } });
  await addMachine(t, f.registry, M1, '198.18.0.11', { zone: 'z<1>', az: 'a' });
  await addMachine(t, f.registry, M2, '');
  const p1 = await request(f, 'GET', '/fleet/v1/machines');
  t.equal(p1.text, `{"machines":[{"id":"${M1}","metadata":{"az":"a","zone":"z\\u003c1\\u003e"},"primaryIP":"198.18.0.11"}],"nextPageToken":"AQACAA=="}`);
  const p2 = await request(f, 'GET', '/fleet/v1/machines?nextPageToken=AQACAA==');
  t.equal(p2.text, `{"machines":[{"id":"${M2}"}],"nextPageToken":"AQADAA=="}`);
  t.same(decodeMachinePage(p2.json), { machines: [{ id: M2 }], nextPageToken: 'AQADAA==' });
});

t.test('states: hash, machineID, name, systemdActiveState, systemdLoadState, systemdSubState', async (t) => {
  const f = await startApi(t, { etcd });
  const p = await addMachine(t, f.registry, M1, '198.18.0.11');
  const hash = await submitUnit(f.registry, 'a.service', TEXT, 'launched');
  await scheduleUnit(f.registry, 'a.service', M1);
  await publishState(f.registry, p, 'a.service');
  const state = `{"hash":"${hash}","machineID":"${M1}","name":"a.service","systemdActiveState":"active","systemdLoadState":"loaded","systemdSubState":"running"}`;
  t.equal((await request(f, 'GET', '/fleet/v1/state')).text, `{"states":[${state}]}`);
  t.equal((await request(f, 'GET', '/fleet/v1/state/a.service')).text, state);
});

t.test('errors and bodiless answers: Content-Type application/json and Server on every one', async (t) => {
  const f = await startApi(t, { etcd });
  const put = await request(f, 'PUT', '/fleet/v1/units/x.service', { body: { options: [{ section: 'Service', name: 'ExecStart', value: '/bin/true' }] } });
  const state = await request(f, 'PUT', '/fleet/v1/units/x.service', { body: { desiredState: 'loaded' } });
  const patch = await request(f, 'PATCH', '/fleet/v1/machines', { body: [{ op: 'add', path: `/${M1}/metadata/a`, value: { value: 'b' } }] });
  const del = await request(f, 'DELETE', '/fleet/v1/units/x.service');
  const missing = await request(f, 'GET', '/fleet/v1/units/x.service');
  for (const [what, r, status] of [['PUT create', put, 201], ['PUT state', state, 204], ['PATCH', patch, 204], ['DELETE', del, 204], ['404', missing, 404]] as const) {
    t.equal(r.status, status, what);
    t.equal(r.headers['content-type'], 'application/json', what);
    t.equal(r.headers.server, 'fleetd/9.9.9-test', what);
  }
  t.equal(missing.text, '{"error":{"code":404,"message":"unit does not exist"}}');
});

t.test('request fields in any case, as Go decodes them: PATCH "Value", PUT "DesiredState" and option fields', async (t) => {
  const f = await startApi(t, { etcd });
  await addMachine(t, f.registry, M1, '198.18.0.11');
  // what fleet's functional test sends
  const patch = await request(f, 'PATCH', '/fleet/v1/machines', { body: [{ op: 'add', path: `/${M1}/metadata/foo`, Value: { value: 'bar' } }] });
  t.equal(patch.status, 204);
  const upper = await request(f, 'PATCH', '/fleet/v1/machines', { body: [{ OP: 'replace', Path: `/${M1}/metadata/role`, VALUE: { Value: 'db' } }] });
  t.equal(upper.status, 204);
  t.match((await request(f, 'GET', '/fleet/v1/machines')).json, { machines: [{ metadata: { foo: 'bar', role: 'db' } }] });

  const put = await request(f, 'PUT', '/fleet/v1/units/x.service', {
    body: { Name: 'x.service', Options: [{ Section: 'Service', NAME: 'ExecStart', vAlUe: '/bin/true' }], DesiredState: 'loaded' },
  });
  t.equal(put.status, 201);
  t.equal((await request(f, 'GET', '/fleet/v1/units/x.service')).text, '{"currentState":"inactive","desiredState":"loaded","name":"x.service","options":[{"name":"ExecStart","section":"Service","value":"/bin/true"}]}');
  const last = await request(f, 'PUT', '/fleet/v1/units/x.service', { body: { desiredState: 'launched', DESIREDSTATE: 'inactive' } });
  t.equal(last.status, 204, 'of two keys naming one field the last wins');
  t.match((await request(f, 'GET', '/fleet/v1/units/x.service')).json, { desiredState: 'inactive' });
});
