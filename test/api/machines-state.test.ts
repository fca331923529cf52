import t from 'tap';
import { startEtcd } from '../harness/etcd.js';
import { HELLO, M1, M2, addMachine, publishState, request, scheduleUnit, startApi, submitUnit } from './fixture.js';

const etcd = await startEtcd(t);

t.test('GET /machines lists live machines sorted by id', async (t) => {
  const f = await startApi(t, { etcd });
  t.same((await request(f, 'GET', '/fleet/v1/machines')).json, {});
  await addMachine(t, f.registry, M2, '198.18.0.12', { region: 'us' });
  const p1 = await addMachine(t, f.registry, M1, '198.18.0.11');
  t.same((await request(f, 'GET', '/fleet/v1/machines')).json, {
    machines: [
      { id: M1, primaryIP: '198.18.0.11' }, // fleet leaves empty metadata out
      { id: M2, primaryIP: '198.18.0.12', metadata: { region: 'us' } },
    ],
  });
  await p1.close({ revoke: true });
  t.same((await request(f, 'GET', '/fleet/v1/machines')).json, { machines: [{ id: M2, primaryIP: '198.18.0.12', metadata: { region: 'us' } }] }, 'a machine whose lease is gone disappears');
});

t.test('PATCH /machines metadata: both value forms, remove, replace, validation before applying', async (t) => {
  const f = await startApi(t, { etcd });
  await addMachine(t, f.registry, M1, '198.18.0.11', { region: 'eu', disk: 'hdd' });
  const md = async (): Promise<unknown> => ((await request(f, 'GET', '/fleet/v1/machines')).json as { machines: { metadata: unknown }[] }).machines[0]!.metadata;

  const add = await request(f, 'PATCH', '/fleet/v1/machines', {
    body: [
      { op: 'add', path: `/${M1}/metadata/role`, value: { value: 'db' } },
      { op: 'replace', path: `/${M1}/metadata/region`, value: 'us' },
      { op: 'remove', path: `/${M1}/metadata/disk` },
    ],
  });
  t.equal(add.status, 204);
  t.equal(add.text, '');
  t.same(await md(), { region: 'us', role: 'db' });

  const offline = await request(f, 'PATCH', '/fleet/v1/machines', { body: [{ op: 'add', path: `/${M2}/metadata/role`, value: { value: 'web' } }] });
  t.equal(offline.status, 204, 'machines need not be registered');

  const cases: [string, unknown, string][] = [
    ['bad op', [{ op: 'move', path: `/${M1}/metadata/a`, value: 'b' }], 'invalid op: expect add, remove, or replace'],
    ['bad path', [{ op: 'add', path: `/${M1}/meta/a`, value: 'b' }], 'machine metadata path invalid'],
    ['bad key', [{ op: 'add', path: `/${M1}/metadata/a b`, value: 'b' }], 'machine metadata path invalid'],
    ['no value', [{ op: 'add', path: `/${M1}/metadata/a` }], 'invalid value: add and replace require a value'],
    ['empty value', [{ op: 'replace', path: `/${M1}/metadata/a`, value: { value: '' } }], 'invalid value: add and replace require a value'],
    ['number value', [{ op: 'add', path: `/${M1}/metadata/a`, value: 3 }], 'json: cannot unmarshal number into Go struct field machineMetadataOp.Value of type struct { Value string "json:\\"value\\"" }'],
    ['not a list', { op: 'add' }, 'json: cannot unmarshal object into Go value of type []api.machineMetadataOp'],
  ];
  for (const [what, body, message] of cases) {
    const r = await request(f, 'PATCH', '/fleet/v1/machines', { body });
    t.equal(r.status, 400, what);
    t.same(r.json, { error: { code: 400, message } }, what);
  }
  const bad = await request(f, 'PATCH', '/fleet/v1/machines', { raw: '[{"op":', headers: { 'Content-Type': 'application/json' } });
  t.equal(bad.status, 400);
  t.same(bad.json, { error: { code: 400, message: 'unexpected EOF' } }, "Go's decoder's text, without a prefix on PATCH");

  const partial = await request(f, 'PATCH', '/fleet/v1/machines', {
    body: [
      { op: 'add', path: `/${M1}/metadata/first`, value: 'x' },
      { op: 'bogus', path: `/${M1}/metadata/second`, value: 'y' },
    ],
  });
  t.equal(partial.status, 400);
  t.same(await md(), { region: 'us', role: 'db' }, 'all ops are validated before any is applied');
});

t.test('GET /state: sorted, filtered by machineID and unitName; /state/{name}', async (t) => {
  const f = await startApi(t, { etcd });
  const p1 = await addMachine(t, f.registry, M1, '198.18.0.11');
  const p2 = await addMachine(t, f.registry, M2, '198.18.0.12');
  const hb = await submitUnit(f.registry, 'b.service', HELLO, 'launched');
  await submitUnit(f.registry, 'a.service', HELLO.replace('Hello', 'A'), 'launched');
  await submitUnit(f.registry, 'g.service', '[Service]\nExecStart=/bin/true\n[X-Fleet]\nGlobal=true\n', 'launched');
  await scheduleUnit(f.registry, 'b.service', M2);
  await scheduleUnit(f.registry, 'a.service', M1);
  await publishState(f.registry, p2, 'b.service', { activeState: 'activating', subState: 'start' });
  await publishState(f.registry, p1, 'a.service');
  await publishState(f.registry, p2, 'g.service');
  await publishState(f.registry, p1, 'g.service', { activeState: 'failed', subState: 'failed' });

  const all = (await request(f, 'GET', '/fleet/v1/state')).json as { states: { name: string; machineID: string }[] };
  t.same(all.states.map((s) => `${s.name}@${s.machineID}`), [`a.service@${M1}`, `b.service@${M2}`, `g.service@${M1}`, `g.service@${M2}`]);
  t.same(all.states[1], {
    name: 'b.service',
    hash: hb,
    machineID: M2,
    systemdLoadState: 'loaded',
    systemdActiveState: 'activating',
    systemdSubState: 'start',
  });

  const byMachine = (await request(f, 'GET', `/fleet/v1/state?machineID=${M1}`)).json as { states: { name: string }[] };
  t.same(byMachine.states.map((s) => s.name), ['a.service', 'g.service']);
  const byUnit = (await request(f, 'GET', '/fleet/v1/state?unitName=g.service')).json as { states: { machineID: string }[] };
  t.same(byUnit.states.map((s) => s.machineID), [M1, M2]);
  const both = (await request(f, 'GET', `/fleet/v1/state?unitName=g.service&machineID=${M2}`)).json as { states: unknown[] };
  t.equal(both.states.length, 1);
  t.same((await request(f, 'GET', '/fleet/v1/state?unitName=nope.service')).json, {});
  t.same((await request(f, 'GET', '/fleet/v1/state?machineID=a%2Fb')).json, {}, 'odd filters just match nothing');

  t.match((await request(f, 'GET', '/fleet/v1/state/g.service')).json, { name: 'g.service', machineID: M1 });
  const none = await request(f, 'GET', '/fleet/v1/state/nope.service');
  t.equal(none.status, 404);
  t.same(none.json, { error: { code: 404, message: 'unit state does not exist' } });
});
