/**
 * What fleetctl reads as a unit file: regular files only (symlinks to them are fine), at most MAX_UNIT_FILE_BYTES.
 * A directory, FIFO or device named as a unit is refused with what it is, exit 1, before any unit is created
 * (so `submit good.service fifo.service` leaves the cluster untouched), and a FIFO never blocks fleetctl.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { diskFiles } from '../../fleetctl/context.js';
import { MAX_UNIT_FILE_BYTES } from '../../lib/unit/index.js';
import { startEtcd } from '../harness/etcd.js';
import { HELLO, startApi } from '../api/fixture.js';
import { fleetctl } from '../fleetctl/helpers.js';

const etcd = await startEtcd(t);
const f = await startApi(t, { etcd });
const env = { FLEETCTL_ENDPOINT: `unix://${f.socket}` };

const dir = mkdtempSync(path.join(os.tmpdir(), 'small-unitfiles-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const at = (name: string): string => path.join(dir, name);
writeFileSync(at('good.service'), HELLO);
mkdirSync(at('units'));
mkdirSync(at('dir.service'));
execFileSync('mkfifo', [at('fifo.service'), at('tmpl@.service')]);
symlinkSync(at('fifo.service'), at('link.service'));
const big = `[Service]\nExecStart=/bin/true\n# ${'x'.repeat(MAX_UNIT_FILE_BYTES)}\n`;
writeFileSync(at('big.service'), big);

const refused: [string, string, RegExp][] = [
  ['a directory given as a path', at('units'), /units is a directory/],
  ['a directory named like a unit', at('dir.service'), /dir\.service is a directory/],
  ['a FIFO', at('fifo.service'), /fifo\.service is a FIFO/],
  ['a symlink to a FIFO', at('link.service'), /link\.service is a FIFO/],
  ['a character device', '/dev/null', /\/dev\/null is a character device/],
  ['an instance whose template on disk is a FIFO', at('tmpl@1.service'), /tmpl@\.service is a FIFO/],
  ['a file over the size limit', at('big.service'), new RegExp(`big\\.service: unit file is ${Buffer.byteLength(big)} bytes, more than the limit of ${MAX_UNIT_FILE_BYTES} bytes`)],
];

for (const cmd of ['submit', 'load', 'start']) {
  t.test(`${cmd}: non-regular or oversized unit files are refused, nothing is created`, async (t) => {
    for (const [what, file, message] of refused) {
      const r = await fleetctl([cmd, '--no-block', at('good.service'), file].filter((a) => cmd !== 'submit' || a !== '--no-block'), { env, timeoutMs: 20000 });
      t.equal(r.code, 1, `${what}: exit 1 (not blocked, not killed)`);
      t.equal(r.stdout, '', `${what}: nothing on stdout`);
      t.match(r.stderr, message, `${what}: says what it is`);
      t.equal(r.stderr.split('\n').length, 2, `${what}: one line`);
      t.equal(await f.registry.getUnit('good.service'), undefined, `${what}: the good unit before it was not created`);
      await f.registry.destroyUnit('good.service').catch(() => undefined);
    }
  });
}

t.test('plan: a FIFO or directory is refused with what it is', async (t) => {
  for (const [what, file, message] of refused) {
    const r = await fleetctl(['plan', file], { env, timeoutMs: 20000 });
    t.equal(r.code, 1, `${what}: exit 1`);
    t.match(r.stderr, message, `${what}: says what it is`);
  }
});

t.test('a bare name that is a directory here but no unit anywhere: the not-found error says what it is', async (t) => {
  const r = await fleetctl(['submit', 'units'], { env, cwd: dir, timeoutMs: 20000 });
  t.equal(r.code, 1);
  t.match(r.stderr, /unable to find Unit\(units\.service\).*units is a directory/);
});

t.test('the reader itself refuses what is not a regular file, without blocking on a FIFO', async (t) => {
  t.throws(() => diskFiles.read(at('fifo.service')), /fifo\.service is a FIFO/);
  t.throws(() => diskFiles.read(at('dir.service')), /dir\.service is a directory/);
  t.throws(() => diskFiles.read('/dev/zero'), /\/dev\/zero is a character device/);
  t.throws(() => diskFiles.read(at('big.service')), /more than the limit/);
  t.equal(diskFiles.read(at('missing.service')), undefined, 'missing is undefined, as before');
  t.equal(Buffer.from(diskFiles.read(at('good.service'))!).toString(), HELLO);
});

t.test('a regular file and a symlink to one still work', async (t) => {
  symlinkSync(at('good.service'), at('alias.service'));
  const r = await fleetctl(['plan', at('good.service'), at('alias.service')], { env, timeoutMs: 20000 });
  t.notMatch(r.stderr, /is a|not a regular/);
});
