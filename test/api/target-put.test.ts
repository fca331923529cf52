/**
 * A PUT that only sets a unit's desired state (what `fleetctl start` sends for each unit after submitting it) is
 * one registry write, without a read of the unit first; a unit that does not exist still gets fleet's 409. The
 * handler runs behind a plain HTTP server on a stand-in backend that counts its calls.
 */
import t from 'tap';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { putUnit } from '../../fleetd/api/units.js';
import { ApiError } from '../../lib/api/errors.js';
import type { FleetBackend } from '../../lib/api/backend.js';
import type { ApiUnit } from '../../lib/api/schema.js';
import { UnitNotFoundError } from '../../lib/registry/index.js';
import type { DesiredState } from '../../lib/unit/types.js';

t.test('a target-state PUT is one write, no read; an unknown unit is 409 as before', async (t) => {
  const units = new Map<string, DesiredState>([['web.service', 'inactive']]);
  const calls: string[] = [];
  const backend = {
    getUnit: async (name: string): Promise<ApiUnit | undefined> => {
      calls.push(`get ${name}`);
      const s = units.get(name);
      return s ? { name, options: [{ section: 'Service', name: 'ExecStart', value: '/bin/true' }], desiredState: s } : undefined;
    },
    setDesiredState: async (name: string, state: DesiredState): Promise<void> => {
      calls.push(`set ${name} ${state}`);
      if (!units.has(name)) throw new UnitNotFoundError(name);
      units.set(name, state);
    },
  } as unknown as FleetBackend;
  const server = createServer((req, res) => {
    const name = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname.replace('/fleet/v1/units/', ''));
    putUnit({ req, res, query: new URLSearchParams(), backend, tokenLimit: 100 }, name).catch((err: unknown) => {
      res.statusCode = err instanceof ApiError ? err.status : 500;
      res.end(err instanceof Error ? err.message : String(err));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const url = (name: string): string => `http://127.0.0.1:${(server.address() as AddressInfo).port}/fleet/v1/units/${name}`;
  const put = (name: string, body: object) =>
    fetch(url(name), { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

  const ok = await put('web.service', { name: 'web.service', desiredState: 'launched' });
  t.equal(ok.status, 204);
  t.same(calls, ['set web.service launched'], 'one write, no read');
  t.equal(units.get('web.service'), 'launched');

  calls.length = 0;
  const missing = await put('nope.service', { name: 'nope.service', desiredState: 'launched' });
  t.equal(missing.status, 409);
  t.equal(await missing.text(), 'unit does not exist and options field empty');
});
