/**
 * The discovery document (`GET /fleet/v1/discovery`, `/v1-alpha/discovery`) against fleet v1.0's own
 * (schema-v1.json in ../shared/tools/fleet-v1.0.0, FLEET_V1_DIR overrides): with every `description` taken out of
 * both, they are deeply equal (resources, methods, parameters, parameterOrder, required flags, schemas), and both
 * prefixes serve the same document, as fleet did. Descriptions are ours (docs/fleet-compat.md#http-api).
 */
import t from 'tap';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startEtcd } from '../harness/etcd.js';
import { request, startApi } from './fixture.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const dir = process.env.FLEET_V1_DIR ?? path.resolve(root, '../shared/tools/fleet-v1.0.0');
const schemaFile = path.join(dir, 'schema-v1.json');

/** The document without its human-readable parts. */
function withoutDescriptions(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(withoutDescriptions);
  if (v !== null && typeof v === 'object') {
    return Object.fromEntries(Object.entries(v).filter(([k]) => k !== 'description').map(([k, x]) => [k, withoutDescriptions(x)]));
  }
  return v;
}

/** Every `description` in the document, with where it is. */
function descriptions(v: unknown, at = '', out: string[] = []): string[] {
  if (Array.isArray(v)) v.forEach((x, i) => descriptions(x, `${at}[${i}]`, out));
  else if (v !== null && typeof v === 'object') {
    for (const [k, x] of Object.entries(v)) {
      if (k === 'description' && typeof x === 'string') out.push(`${at}: ${x}`);
      else descriptions(x, `${at}.${k}`, out);
    }
  }
  return out;
}

if (!existsSync(schemaFile)) {
  t.test('discovery document equals fleet v1.0\'s', { skip: `fleet's schema-v1.json not found at ${schemaFile}` }, async () => undefined);
} else {
  const fleets: unknown = JSON.parse(readFileSync(schemaFile, 'utf8'));
  const etcd = await startEtcd(t);
  const f = await startApi(t, { etcd });

  t.test('discovery document equals fleet v1.0\'s without descriptions, under both prefixes', async (t) => {
    for (const prefix of ['/fleet/v1', '/v1-alpha']) {
      const a = await request(f, 'GET', `${prefix}/discovery`);
      t.equal(a.status, 200, prefix);
      t.match(a.headers['content-type'], /^application\/json/, `${prefix}: JSON`);
      t.same(withoutDescriptions(a.json), withoutDescriptions(fleets), `${prefix}: machine-readable parts equal fleet's`);
    }
  });

  t.test('descriptions are our own words, none copied from fleet\'s document', async (t) => {
    const ours = new Set(descriptions((await request(f, 'GET', '/fleet/v1/discovery')).json).map((d) => d.slice(d.indexOf(': ') + 2)));
    t.ok(ours.size > 0, 'the document describes itself');
    const theirs = descriptions(fleets).map((d) => d.slice(d.indexOf(': ') + 2));
    t.same(theirs.filter((d) => ours.has(d)), [], 'no description of fleet\'s appears in ours');
  });
}
