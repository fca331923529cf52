/**
 * The rolling-restart routes (ours, fleetd/api/API.md): POST /units/{name}/restart/{machineID} leaves a request
 * for that machine's agent and answers its token; GET answers it as the agent left it. Real etcd.
 */
import t from 'tap';
import { startEtcd } from '../harness/etcd.js';
import { HELLO, M1, request, startApi, unitOptions } from './fixture.js';

const etcd = await startEtcd(t);

t.test('POST leaves a request, GET reads it pending and settled; only global units; 404 and 405', async (t) => {
  const f = await startApi(t, { etcd });
  const path = (unit: string, m = M1) => `/fleet/v1/units/${unit}/restart/${m}`;
  const globalOptions = [...unitOptions(HELLO), { section: 'X-Fleet', name: 'Global', value: 'true' }];
  t.equal((await request(f, 'PUT', '/fleet/v1/units/g.service', { body: { options: globalOptions, desiredState: 'launched' } })).status, 201);
  t.equal((await request(f, 'PUT', '/fleet/v1/units/p.service', { body: { options: unitOptions(HELLO), desiredState: 'launched' } })).status, 201);

  t.same((await request(f, 'GET', path('g.service'))).json, { error: { code: 404, message: 'no restart request of that unit on that machine' } });
  const posted = await request(f, 'POST', path('g.service'), { body: {} });
  t.equal(posted.status, 201);
  const token = (posted.json as { token: string }).token;
  t.match(token, /^[0-9a-f]+$/);
  t.same((await request(f, 'GET', path('g.service'))).json, { token, status: 'pending' });
  await f.registry.settleRestart('g.service', M1, token, { ok: false, message: 'job failed' });
  t.same((await request(f, 'GET', path('g.service'))).json, { token, status: 'failed', message: 'job failed' });

  t.same((await request(f, 'POST', path('p.service'), { body: {} })).json, { error: { code: 404, message: 'unit does not exist' } }, 'not a global unit');
  t.equal((await request(f, 'POST', path('nope.service'), { body: {} })).status, 404);
  t.equal((await request(f, 'PUT', path('g.service'), { body: {} })).status, 405);
  t.equal((await request(f, 'POST', path('g.service', 'bad%20id'), { body: {} })).status, 400, 'an id that cannot be a key');
});
