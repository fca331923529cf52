import t from 'tap';
import { startEtcd } from '../harness/etcd.js';
import { decodePageToken, encodePageToken, paginate } from '../../fleetd/api/pagination.js';
import { HELLO, M1, addMachine, request, startApi, submitUnit } from './fixture.js';

t.test('token encoding is fleet\'s: URL-safe base64 of little-endian {uint16 limit, uint16 page}', async (t) => {
  t.equal(encodePageToken({ limit: 100, page: 2 }), 'ZAACAA==');
  t.equal(encodePageToken({ limit: 2, page: 2 }), 'AgACAA==');
  t.same(decodePageToken('EwBMLg=='), { limit: 19, page: 11852 });
  t.equal(encodePageToken({ limit: 65535, page: 0xfbff }), '____-w==', 'URL-safe alphabet');
  t.same(paginate([1, 2, 3, 4], { limit: 2, page: 2 }), { items: [3, 4], next: 'AgADAA==' }, 'a full page always has a next token');
  t.same(paginate([1, 2, 3, 4], { limit: 2, page: 3 }), { items: [] });
  t.same(paginate([1, 2, 3], { limit: 2, page: 2 }), { items: [3] });
});

t.test('pages over the API, and bad tokens are 400', async (t) => {
  const etcd = await startEtcd(t);
  const f = await startApi(t, { etcd, config: { tokenLimit: 2 } });
  for (const n of ['e', 'a', 'c', 'b', 'd']) await submitUnit(f.registry, `${n}.service`, HELLO.replace('Hello', n));
  await addMachine(t, f.registry, M1, '198.18.0.11');

  const names: string[] = [];
  let token: string | undefined;
  let pages = 0;
  do {
    const r = await request(f, 'GET', `/fleet/v1/units${token ? `?nextPageToken=${encodeURIComponent(token)}` : ''}`);
    t.equal(r.status, 200);
    const page = r.json as { units?: { name: string }[]; nextPageToken?: string };
    names.push(...(page.units ?? []).map((u) => u.name));
    token = page.nextPageToken;
    pages++;
  } while (token);
  t.same(names, ['a.service', 'b.service', 'c.service', 'd.service', 'e.service']);
  t.equal(pages, 3);
  t.same((await request(f, 'GET', '/fleet/v1/units')).json, {
    units: (((await request(f, 'GET', '/fleet/v1/units')).json as { units: unknown[] }).units),
    nextPageToken: 'AgACAA==',
  });

  const bad: [string, string][] = [
    ['EwBMLg==', 'token limit must be 2'],
    [encodePageToken({ limit: 2, page: 0 }), 'token page must be greater than zero'],
    [encodePageToken({ limit: 100, page: 1 }), 'token limit must be 2'],
    // Go's base64 and binary errors, as fleet answered them
    ['not base64!', 'illegal base64 data at input byte 3'],
    ['AgA', 'illegal base64 data at input byte 0'],
    ['AgA=', 'unexpected EOF'],
    ['', 'EOF'],
    ['AQACAA==x', 'illegal base64 data at input byte 8'],
    ['AQACA===', 'illegal base64 data at input byte 5'],
    ['AQAC\nAA==', 'token limit must be 2'], // Go skips newlines in base64
    ['AQAC\\AA==', 'illegal base64 data at input byte 4'],
  ];
  for (const [tok, message] of bad) {
    for (const res of ['units', 'state', 'machines']) {
      const r = await request(f, 'GET', `/fleet/v1/${res}?nextPageToken=${encodeURIComponent(tok)}`);
      t.equal(r.status, 400, `${res} ${tok}`);
      t.same(r.json, { error: { code: 400, message } }, `${res} ${tok}`);
    }
  }
  const two = await request(f, 'GET', '/fleet/v1/machines?nextPageToken=AgABAA==&nextPageToken=AgABAA==');
  t.same(two.json, { error: { code: 400, message: 'too many values for page token' } });
  t.equal((await request(f, 'GET', '/fleet/v1/machines?nextPageToken=AgABAA==')).status, 200, 'page 1 token is valid');
});
