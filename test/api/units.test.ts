import t from 'tap';
import { startEtcd } from '../harness/etcd.js';
import { HELLO, M1, addMachine, publishState, request, scheduleUnit, startApi, submitUnit, unitOptions } from './fixture.js';

const etcd = await startEtcd(t);

t.test('PUT creates, GET reads, DELETE removes (fleet status codes and bodies)', async (t) => {
  const f = await startApi(t, { etcd });
  t.same((await request(f, 'GET', '/fleet/v1/units')).json, {}, 'empty list is an empty page');

  const options = unitOptions(HELLO);
  const put = await request(f, 'PUT', '/fleet/v1/units/hello.service', { body: { name: 'hello.service', options } });
  t.equal(put.status, 201);
  t.equal(put.text, '');

  const get = await request(f, 'GET', '/fleet/v1/units/hello.service');
  t.equal(get.status, 200);
  t.match(get.headers['content-type'], /^application\/json/);
  t.same(get.json, { name: 'hello.service', options, desiredState: 'inactive', currentState: 'inactive' });

  const list = await request(f, 'GET', '/fleet/v1/units');
  t.same(list.json, { units: [get.json] });

  t.equal((await request(f, 'DELETE', '/fleet/v1/units/hello.service')).status, 204);
  const gone = await request(f, 'DELETE', '/fleet/v1/units/hello.service');
  t.equal(gone.status, 404);
  t.same(gone.json, { error: { code: 404, message: 'unit does not exist' } });
  t.same((await request(f, 'GET', '/fleet/v1/units/hello.service')).json, { error: { code: 404, message: 'unit does not exist' } });
});

t.test('PUT validation: 415, 400, 409 like fleet', async (t) => {
  const f = await startApi(t, { etcd });
  const options = unitOptions(HELLO);
  const noType = await request(f, 'PUT', '/fleet/v1/units/a.service', { raw: JSON.stringify({ options }) });
  t.equal(noType.status, 415);
  t.same(noType.json, { error: { code: 415, message: 'expected 1 Content-Type, got 0' } });
  const wrongType = await request(f, 'PUT', '/fleet/v1/units/a.service', { raw: '{}', headers: { 'Content-Type': 'text/plain' } });
  t.equal(wrongType.status, 415);
  t.match(wrongType.json, { error: { message: 'only acceptable Content-Type is application/json' } });
  const withCharset = await request(f, 'PUT', '/fleet/v1/units/a.service', {
    raw: JSON.stringify({ options }),
    headers: { 'Content-Type': 'application/json; charset=utf-8' },
  });
  t.equal(withCharset.status, 201, 'parameters of the media type are fine');

  const badJson = await request(f, 'PUT', '/fleet/v1/units/b.service', { raw: '{"options": [', headers: { 'Content-Type': 'application/json' } });
  t.equal(badJson.status, 400);
  t.match(badJson.json, { error: { code: 400, message: /^unable to decode body: / } });

  const notObject = await request(f, 'PUT', '/fleet/v1/units/b.service', { body: [1, 2] });
  t.equal(notObject.status, 400);

  const badOptionType = await request(f, 'PUT', '/fleet/v1/units/b.service', { body: { options: [{ section: 'Unit', name: 'X', value: 3 }] } });
  t.equal(badOptionType.status, 400);
  t.same(badOptionType.json, { error: { code: 400, message: 'unable to decode body: json: cannot unmarshal number into Go struct field UnitOption.options.value of type string' } });

  const mismatch = await request(f, 'PUT', '/fleet/v1/units/b.service', { body: { name: 'c.service', options } });
  t.equal(mismatch.status, 400);
  t.same(mismatch.json, { error: { code: 400, message: 'name in URL "b.service" differs from unit name in request body "c.service"' } });

  const badName = await request(f, 'PUT', '/fleet/v1/units/nosuffix', { body: { options } });
  t.equal(badName.status, 400);
  t.same(badName.json, { error: { code: 400, message: 'unit name must contain "."' } });

  const empty = await request(f, 'PUT', '/fleet/v1/units/d.service', { body: { desiredState: 'launched' } });
  t.equal(empty.status, 409);
  t.same(empty.json, { error: { code: 409, message: 'unit does not exist and options field empty' } });

  const conflicting = unitOptions('[Service]\nExecStart=/bin/true\n[X-Fleet]\nMachineID=113f16a7\nConflicts=foo*\n');
  const invalid = await request(f, 'PUT', '/fleet/v1/units/e.service', { body: { options: conflicting } });
  t.equal(invalid.status, 400);
  t.match(invalid.json, { error: { message: /MachineID cannot be used with Conflicts/ } });

  const badState = await request(f, 'PUT', '/fleet/v1/units/e.service', { body: { options, desiredState: 'running' } });
  t.equal(badState.status, 400);
  t.match(badState.json, { error: { message: /invalid desiredState "running"/ } });

  const badSection = await request(f, 'PUT', '/fleet/v1/units/e.service', { body: { options: [{ section: '', name: 'A', value: 'b' }] } });
  t.equal(badSection.status, 400, 'options that cannot form a unit file');

  t.same((await request(f, 'GET', '/fleet/v1/units')).json, { units: [{ name: 'a.service', options, desiredState: 'inactive', currentState: 'inactive' }] }, 'nothing else was created');
});

t.test('desired state changes, templates, replacement', async (t) => {
  const f = await startApi(t, { etcd });
  const options = unitOptions(HELLO);
  t.equal((await request(f, 'PUT', '/fleet/v1/units/hello.service', { body: { options } })).status, 201);

  const noState = await request(f, 'PUT', '/fleet/v1/units/hello.service', { body: { name: 'hello.service' } });
  t.equal(noState.status, 409);
  t.same(noState.json, { error: { code: 409, message: 'must provide DesiredState to update existing unit' } });
  const sameOptions = await request(f, 'PUT', '/fleet/v1/units/hello.service', { body: { options } });
  t.equal(sameOptions.status, 409, 'identical options are not a replacement');

  const launch = await request(f, 'PUT', '/fleet/v1/units/hello.service', { body: { name: 'hello.service', desiredState: 'launched' } });
  t.equal(launch.status, 204);
  t.match((await request(f, 'GET', '/fleet/v1/units/hello.service')).json, { desiredState: 'launched' });
  const sameWithState = await request(f, 'PUT', '/fleet/v1/units/hello.service', { body: { options, desiredState: 'loaded' } });
  t.equal(sameWithState.status, 204, 'same options with a desired state: state change');
  t.match((await request(f, 'GET', '/fleet/v1/units/hello.service')).json, { desiredState: 'loaded' });

  const before = await f.registry.getUnit('hello.service');
  const changed = unitOptions(HELLO.replace('Hello World', 'Hello Again'));
  const replace = await request(f, 'PUT', '/fleet/v1/units/hello.service', { body: { options: changed } });
  t.equal(replace.status, 201, 'different options replace the unit');
  const after = await f.registry.getUnit('hello.service');
  t.not(after?.hash, before?.hash);
  t.equal(after?.desiredState, 'inactive', 'a replaced unit starts over from inactive unless a state is given');

  const tmpl = unitOptions('[Service]\nExecStart=/bin/echo %i\n');
  t.equal((await request(f, 'PUT', '/fleet/v1/units/web@.service', { body: { options: tmpl } })).status, 201, 'templates can be submitted');
  const act = await request(f, 'PUT', '/fleet/v1/units/web@.service', { body: { desiredState: 'launched' } });
  t.equal(act.status, 400);
  t.same(act.json, { error: { code: 400, message: 'cannot activate template "web@.service"' } });
  t.equal((await request(f, 'PUT', '/fleet/v1/units/web@.service', { body: { desiredState: 'inactive' } })).status, 204);
  const createActive = await request(f, 'PUT', '/fleet/v1/units/db@.service', { body: { options: tmpl, desiredState: 'launched' } });
  t.equal(createActive.status, 400, 'nor created active');

  const missing = await request(f, 'PUT', '/fleet/v1/units/nope.service', { body: { desiredState: 'launched' } });
  t.equal(missing.status, 409);
});

t.test('derived current state and machine of scheduled units; global units carry neither', async (t) => {
  const f = await startApi(t, { etcd });
  const p = await addMachine(t, f.registry, M1, '198.18.0.11');
  await submitUnit(f.registry, 'a.service', HELLO, 'launched');
  await submitUnit(f.registry, 'g.service', '[Service]\nExecStart=/bin/true\n[X-Fleet]\nGlobal=true\n', 'launched');
  await scheduleUnit(f.registry, 'a.service', M1);
  t.match((await request(f, 'GET', '/fleet/v1/units/a.service')).json, { currentState: 'inactive', machineID: M1 }, 'scheduled but nothing published yet');
  await publishState(f.registry, p, 'a.service', { agentState: 'loaded' });
  t.match((await request(f, 'GET', '/fleet/v1/units/a.service')).json, { currentState: 'loaded', machineID: M1 });
  await publishState(f.registry, p, 'a.service', { agentState: 'launched' });
  t.match((await request(f, 'GET', '/fleet/v1/units/a.service')).json, { currentState: 'launched', machineID: M1 });
  await publishState(f.registry, p, 'g.service');
  const g = (await request(f, 'GET', '/fleet/v1/units/g.service')).json as Record<string, unknown>;
  t.equal(g.desiredState, 'launched');
  t.notOk('currentState' in g, 'global units have no current state (as in fleet)');
  t.notOk('machineID' in g);
});

t.test('routing: prefixes, 404, 405, Server header', async (t) => {
  const f = await startApi(t, { etcd });
  const alpha = await request(f, 'GET', '/v1-alpha/units');
  t.equal(alpha.status, 200);
  t.equal(alpha.headers.server, 'fleetd/9.9.9-test');
  const root = await request(f, 'GET', '/');
  t.equal(root.status, 405);
  t.match(root.json, { error: { code: 405 } });
  t.equal(root.headers.server, 'fleetd/9.9.9-test');
  t.equal((await request(f, 'GET', '/fleet/v1')).status, 405);
  t.equal((await request(f, 'GET', '/fleet/v1/')).status, 404);
  t.equal((await request(f, 'GET', '/nope')).status, 404);
  t.equal((await request(f, 'GET', '/fleet/v2/units')).status, 404);
  t.equal((await request(f, 'GET', '/fleet/v1/units/a.service/x')).status, 404);
  t.equal((await request(f, 'GET', '/fleet/v1/machines/x')).status, 404);
  const post = await request(f, 'POST', '/fleet/v1/units', { body: {} });
  t.equal(post.status, 405);
  t.same(post.json, { error: { code: 405, message: 'only GET supported against this resource' } });
  const patch = await request(f, 'PATCH', '/fleet/v1/units/a.service', { body: {} });
  t.same(patch.json, { error: { code: 405, message: 'only GET, PUT and DELETE supported against this resource' } });
  t.same((await request(f, 'DELETE', '/fleet/v1/machines')).json, { error: { code: 405, message: 'only GET and PATCH supported against this resource' } });
  t.same((await request(f, 'POST', '/fleet/v1/state')).json, { error: { code: 405, message: 'only GET supported against this resource' } });
  const badPct = await request(f, 'GET', '/fleet/v1/units/%E0%A4%A');
  t.equal(badPct.status, 400);

  const disc = await request(f, 'GET', '/fleet/v1/discovery');
  t.equal(disc.status, 200);
  t.match(disc.json, { kind: 'discovery#restDescription', id: 'fleet:v1', basePath: '/fleet/v1/', resources: { Units: {}, Machines: {}, UnitState: {} } });
  t.equal((await request(f, 'POST', '/fleet/v1/discovery')).status, 400);
  t.match((await request(f, 'GET', '/v1-alpha/discovery')).json, { basePath: '/fleet/v1/' }, 'the same document under /v1-alpha, as fleet served it');
});

t.test('503 while unavailable; etcd failures are 503 with a JSON body, never a crash', async (t) => {
  const own = await startEtcd(t);
  const f = await startApi(t, { etcd: own, server: { available: false } });
  const r = await request(f, 'GET', '/fleet/v1/units');
  t.same(r.json, { error: { code: 503, message: 'fleet server unable to communicate with etcd' } });
  f.server.setAvailable(true);
  t.equal((await request(f, 'GET', '/fleet/v1/units')).status, 200);
  await own.stop();
  const down = await request(f, 'GET', '/fleet/v1/units');
  t.equal(down.status, 503);
  t.match(down.json, { error: { code: 503, message: /^fleet server unable to communicate with etcd: / } });
  t.equal((await request(f, 'GET', '/metrics')).status, 200, 'still serving');
});
