/**
 * The work a document can cause is bounded: the document's own size, each write_files entry's decoded size and
 * the decoded total. A gzip bomb (1 GiB of zeros in a 1.4 MB document) is refused by validation, and the
 * decompression stops at the bound instead of inflating everything first (the process's peak memory says so).
 */
import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MAX_DECODED_FILE_BYTES, MAX_DECODED_TOTAL_BYTES, MAX_DOCUMENT_BYTES } from '../../cloud-config/limits.js';
import { parseUserData } from '../../cloud-config/parse.js';
import { DIST, gzipZeros, hasStackTrace, runNode } from '../corpus/helpers.js';

const tmp = mkdtempSync(join(tmpdir(), 'cloud-config-bounds-'));
t.teardown(() => rmSync(tmp, { recursive: true, force: true }));

/** Runs the CLI in a child that reports its own peak RSS (kB) on the last stderr line. */
async function runMeasured(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string; maxRssMb: number }> {
  const wrapper = join(tmp, 'measure.mjs');
  writeFileSync(
    wrapper,
    `import { runCli } from ${JSON.stringify(join(DIST, 'cloud-config/cli.js'))};
const code = await runCli(process.argv.slice(2), { stdout: (t) => process.stdout.write(t), stderr: (t) => process.stderr.write(t), readStdin: async () => '', env: {} });
process.stderr.write('maxrss=' + process.resourceUsage().maxRSS + '\\n');
process.exitCode = code;
`,
  );
  const r = await runNode(wrapper, args, { timeoutMs: 120_000 });
  const m = /maxrss=(\d+)\n$/.exec(r.stderr);
  return { code: r.code, stdout: r.stdout, stderr: r.stderr.replace(/maxrss=\d+\n$/, ''), maxRssMb: m ? Number(m[1]) / 1024 : Infinity };
}

t.test('the bounds are what the docs say', async (t) => {
  t.equal(MAX_DOCUMENT_BYTES, 2 * 1024 * 1024);
  t.equal(MAX_DECODED_FILE_BYTES, 32 * 1024 * 1024);
  t.equal(MAX_DECODED_TOTAL_BYTES, 64 * 1024 * 1024);
});

t.test('a gzip bomb (1 GiB of zeros in gzip+base64) is refused, and inflating stops at the bound', async (t) => {
  const gz = gzipZeros(1024);
  const doc = `#cloud-config\nwrite_files:\n  - path: /etc/ok\n    content: fine\n  - path: /opt/bomb\n    encoding: gzip+base64\n    content: ${gz.toString('base64')}\n`;
  t.ok(doc.length < 2_000_000, `${(doc.length / 1e6).toFixed(1)} MB document`);
  const file = join(tmp, 'bomb.yml');
  writeFileSync(file, doc);
  const r = await runMeasured(['--validate', '--from-file', file]);
  t.equal(r.code, 1, 'invalid');
  t.equal(r.stdout, '');
  t.notOk(hasStackTrace(r.stderr));
  t.match(r.stderr, /^error: write_files\[1\]\.content: decodes to more than 33554432 bytes \(32 MiB\), the limit for one file \(line 7, column 14\)$/m);
  t.ok(r.maxRssMb < 400, `peak memory ${r.maxRssMb.toFixed(0)} MB (inflating all of it took over 1 GB)`);
});

t.test('several files under the per-file bound still hit the total bound', async (t) => {
  const gz = gzipZeros(30).toString('base64');
  const entries = [0, 1, 2].map((i) => `  - path: /opt/f${i}\n    encoding: gz+b64\n    content: ${gz}\n`).join('');
  const r = parseUserData(`#cloud-config\nwrite_files:\n${entries}`);
  const errors = r.diagnostics.filter((d) => d.severity === 'error');
  t.equal(errors.length, 1, JSON.stringify(errors.map((e) => e.message)));
  t.equal(errors[0]?.path, 'write_files[2].content');
  t.match(errors[0]?.message ?? '', /all write_files together decode to more than 67108864 bytes \(64 MiB\)/);
});

t.test('plain gzip and !!binary contents count too', async (t) => {
  const bin = gzipZeros(40).toString('base64');
  const r = parseUserData(`#cloud-config\nwrite_files:\n  - path: /opt/a\n    encoding: gzip\n    content: !!binary ${bin}\n`);
  t.match(r.diagnostics.find((d) => d.severity === 'error')?.message ?? '', /decodes to more than 33554432 bytes/);
});

t.test('a document larger than the bound is refused before it is parsed', async (t) => {
  const file = join(tmp, 'huge.yml');
  writeFileSync(file, `#cloud-config\nhostname: a\n# ${'x'.repeat(MAX_DOCUMENT_BYTES)}\n`);
  const r = await runNode(join(DIST, 'cloud-config/main.js'), ['--validate', '--from-file', file]);
  t.equal(r.code, 1);
  t.match(r.stderr, /^error: cannot read .*huge\.yml: larger than 2097152 bytes \(2 MiB\), the limit for a document$/m);
  const stdin = await runNode(join(DIST, 'cloud-config/main.js'), ['--validate', '--from-file', '-'], {
    stdin: `#cloud-config\n# ${'x'.repeat(MAX_DOCUMENT_BYTES)}\n`,
  });
  t.equal(stdin.code, 1);
  t.match(stdin.stderr, /^error: cannot read stdin: larger than 2097152 bytes/m);
});
