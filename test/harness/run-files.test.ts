/**
 * The unit tier's runner (test/harness/run-files.ts) reports what tap's runner would: scripts/tap-count.mjs
 * counts a passing test, a failing test, a file that throws before any test, and a file whose test outlives the
 * timeout, and the tier fails when any of them failed.
 */
import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runNode } from './run.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const RUNNER = path.join(here, 'run-files.js');
const COUNT = path.resolve(here, '../../../scripts/tap-count.mjs');
const TAP = JSON.stringify(path.resolve(here, '../../../node_modules/tap/dist/esm/index.js'));

const dir = mkdtempSync(path.join(tmpdir(), 'run-files-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string, text: string): string => {
  const p = path.join(dir, name);
  writeFileSync(p, text);
  return p;
};
const pass = file('pass.test.mjs', `import t from ${TAP};\nt.test('one', async (t) => t.ok(true));\nt.test('two', async (t) => t.equal(1, 1));\n`);
const fail = file('fail.test.mjs', `import t from ${TAP};\nt.test('fine', async (t) => t.ok(true));\nt.test('wrong', async (t) => t.equal(1, 2));\n`);
const boom = file('boom.test.mjs', `throw new Error('boom');\n`);
const slow = file('slow.test.mjs', `import t from ${TAP};\nt.test('slow', async (t) => { await new Promise((r) => setTimeout(r, 1500)); t.ok(true); });\n`);

/** run-files on `files`, its output through tap-count: the closing line and tap-count's exit code. */
async function tier(files: string[]): Promise<{ line: string; code: number | null; runner: number | null }> {
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin' };
  const r = await runNode(RUNNER, ['--timeout', '1', '--jobs', '4', ...files], { env });
  const c = await runNode(COUNT, [], { env, stdin: r.stdout });
  return { line: c.stdout.trim().split('\n').pop() ?? '', code: c.code, runner: r.code };
}

t.test('passing files: every test counted, success', async (t) => {
  t.same(await tier([pass]), { line: '2 passed, 0 failed', code: 0, runner: 0 });
});

t.test('a failing test, a file that throws, a test past the timeout: each a failure', async (t) => {
  t.same(await tier([pass, fail, boom, slow]), { line: '3 passed, 3 failed', code: 1, runner: 1 });
});

t.test('usage: no files, bad numbers', async (t) => {
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin' };
  t.equal((await runNode(RUNNER, [], { env })).code, 2);
  t.equal((await runNode(RUNNER, ['--jobs', '0', pass], { env })).code, 2);
});
