/**
 * Bad cloud-configs (test/corpus/data/cloud-config, generated bombs (alias, merge, gzip) and giants, seeded fuzz): every one is
 * refused with messages naming the path in the document and its line; `coreos-cloudinit --validate` exits 1
 * without a stack trace, and applying to a --root changes nothing there.
 */
import t, { type Test } from 'tap';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseUserData } from '../../cloud-config/index.js';
import { cloudInit, makeRoot, snapshot } from '../cloud-config/helpers.js';
import type { Run } from '../harness/run.js';
import { DIST, dataPath, gzipZeros, hasStackTrace, lines, prng, readJson, runNode } from './helpers.js';

const CLI = path.join(DIST, 'cloud-config/main.js');

interface Case {
  /** Path of the first error in the document ('' for document-level errors). */
  path?: string;
  line?: number;
  /** Patterns, each matching a line of --validate's stderr. */
  errors: string[];
  /** Only the CLI sees the bytes (invalid UTF-8). */
  cliOnly?: boolean;
}

const manifest = readJson<Record<string, Case>>('cloud-config', 'manifest.json');
const tmp = mkdtempSync(path.join(os.tmpdir(), 'corpus-cloud-config-'));
t.teardown(() => rmSync(tmp, { recursive: true, force: true }));

const SUMMARY = /^\d+ errors?, \d+ warnings?; nothing was changed$/;

/**
 * How a case runs coreos-cloudinit: in this process (runCli, test/cloud-config/helpers.ts), or as the binary,
 * killed after maxMs: the first hand-written document, so main.ts stays covered, and the bombs' --validate, so
 * a bound that failed would be a killed child (exit code null), not a test process that hangs or runs out of memory.
 */
type Runner = (args: string[], maxMs: number) => Promise<Run>;
const inProcess: Runner = (args) => cloudInit(args);
const binary: Runner = (args, maxMs) => runNode(CLI, args, { timeoutMs: maxMs });
const bomb = { validate: binary, apply: inProcess };

/** --validate and an apply into a fresh --root: both refuse, say where, print no stack trace, change nothing. */
async function refused(t: Test, what: string, file: string, patterns: readonly RegExp[], maxMs = 60_000, run: { validate: Runner; apply: Runner } = { validate: inProcess, apply: inProcess }): Promise<void> {
  const v = await run.validate(['--validate', '--from-file', file], maxMs);
  t.equal(v.code, 1, `${what}: --validate exits 1`);
  t.equal(v.stdout, '', `${what}: nothing on stdout`);
  t.notOk(hasStackTrace(v.stderr), `${what}: no stack trace`);
  for (const p of patterns) t.match(v.stderr, p, `${what}: ${p.source.slice(0, 80)}`);
  const out = lines(v.stderr);
  if (!/^error: cannot read /.test(out[0] ?? '')) t.match(out[out.length - 1] ?? '', SUMMARY, `${what}: summary line`);
  t.ok(out.every((l) => /^(error|warning): /.test(l) || SUMMARY.test(l)), `${what}: only diagnostics and the summary`);

  const root = await makeRoot((fn) => t.teardown(fn));
  const before = await snapshot(root);
  const a = await run.apply(['--from-file', file, '--root', root, '--no-systemd'], maxMs);
  t.equal(a.code, 1, `${what}: apply exits 1`);
  t.notOk(hasStackTrace(a.stderr), `${what}: apply prints no stack trace`);
  t.same(await snapshot(root), before, `${what}: --root unchanged`);
}

t.test('hand-written cloud-configs', async (t) => {
  const files = Object.keys(manifest);
  t.ok(files.length >= 30, `${files.length} documents`);
  for (const [i, file] of files.entries()) {
    const c = manifest[file]!;
    const full = dataPath('cloud-config', file);
    if (!c.cliOnly) {
      const r = parseUserData(readFileSync(full, 'utf8'));
      t.notOk('config' in r && r.config, `${file}: no config`);
      const first = r.diagnostics.find((d) => d.severity === 'error');
      t.ok(first, `${file}: an error`);
      t.equal(first?.path, c.path, `${file}: error at ${c.path || 'document level'}`);
      t.equal(first?.position?.line, c.line, `${file}: line ${c.line}`);
    }
    const run = i === 0 ? { validate: binary, apply: binary } : undefined;
    await refused(t, file, full, c.errors.map((p) => new RegExp(p, 'm')), undefined, run);
  }
});

t.test('invalid UTF-8 on stdin', async (t) => {
  const r = await runNode(CLI, ['--validate', '--from-file', '-'], { stdin: Buffer.from('#cloud-config\nhostname: a\nusers:\n  - name: \xff\n', 'latin1') });
  t.equal(r.code, 1);
  t.equal(r.stderr, 'error: cannot read stdin: invalid UTF-8 at byte offset 43 (line 4, byte 0xff); user-data must be UTF-8\n');
});

const write = (name: string, text: string): string => {
  const p = path.join(tmp, name);
  writeFileSync(p, text);
  return p;
};

t.test('bombs and giants: refused in bounded time, no stack trace', async (t) => {
  // 3000 units, each aliasing a unit with 3000 aliased drop-ins: 9 million drop-ins from 18 KB.
  const n = 3000;
  const aliasBomb = `#cloud-config\nd: &d {name: x.conf, content: "[Unit]"}\nu: &u {name: a.service, drop_ins: [${Array(n).fill('*d').join(',')}]}\ncoreos:\n  units: [${Array(n).fill('*u').join(',')}]\n`;
  await refused(t, 'alias bomb', write('alias-bomb.yml', aliasBomb), [/^error: aliases expand the document to more than 100000 values; .* \(line 3, column \d+\)$/m], 30_000, bomb);

  // Nested lists of aliases: the classic billion laughs, under a key that is walked.
  let laughs = '#cloud-config\nl0: &l0 ["k", "k", "k", "k", "k", "k", "k", "k", "k", "k"]\n';
  for (let i = 1; i < 9; i++) laughs += `l${i}: &l${i} [${Array(10).fill(`*l${i - 1}`).join(', ')}]\n`;
  laughs += 'ssh_authorized_keys: *l8\n';
  await refused(t, 'billion laughs', write('laughs.yml', laughs), [/^error: ssh_authorized_keys\[0\]: expected a string, got a list/m], 30_000, bomb);

  // 30 mappings each merging the previous one twice: 2^29 merges.
  let merges = '#cloud-config\nm0: &m0 {hostname: -bad-}\n';
  for (let i = 1; i < 30; i++) merges += `m${i}: &m${i} {<<: [*m${i - 1}, *m${i - 1}]}\n`;
  merges += '<<: *m29\n';
  await refused(t, 'merge-key bomb', write('merge-bomb.yml', merges), [/^error: hostname: "-bad-" is not a valid host name/m], 30_000, bomb);

  await refused(t, 'self-merge', write('self-merge.yml', '#cloud-config\ncoreos: &c\n  <<: *c\n  units: 5\n'), [/^error: /m]);

  await refused(t, '10000 nested flow lists', write('deep-flow.yml', `#cloud-config\nhostname: ${'['.repeat(10_000)}${']'.repeat(10_000)}\n`), [/nests too deeply|expected a string/]);
  const deepMap = `#cloud-config\n${Array.from({ length: 2000 }, (_, i) => `${' '.repeat(i)}k${i}:`).join('\n')}\n`;
  await refused(t, '2000 nested mappings', write('deep-map.yml', `${deepMap}${' '.repeat(2000)}x: 1\nhostname: [1]\n`), [/^error: /m]);

  const files = Array.from({ length: 25_000 }, (_, i) => `  - path: /etc/f${i}\n    content: "${'x'.repeat(40)}"\n`).join('');
  const big = `#cloud-config\nwrite_files:\n${files}  - path: relative\n`;
  await refused(t, `${(big.length / 1e6).toFixed(1)} MB document, error in the last entry`, write('big.yml', big), [/^error: write_files\[25000\]\.path: "relative" is not an absolute path \(line 50003, column 11\)$/m], 120_000);

  // 128 MiB of zeros, gzip+base64: decoding stops at the 32 MiB bound for one file (limits.ts)
  const gz = gzipZeros(128).toString('base64');
  await refused(t, 'gzip bomb', write('gzip-bomb.yml', `#cloud-config\nwrite_files:\n  - path: /etc/ok\n    content: x\n  - path: /opt/z\n    encoding: gzip+base64\n    content: ${gz}\n`), [
    /^error: write_files\[1\]\.content: decodes to more than 33554432 bytes \(32 MiB\), the limit for one file \(line 7, column 14\)$/m,
  ], undefined, bomb);
  await refused(t, '3 MB document', write('over-size.yml', `#cloud-config\nhostname: a\n#${'x'.repeat(3_000_000)}\n`), [
    /^error: cannot read .*over-size\.yml: larger than 2097152 bytes \(2 MiB\), the limit for a document$/m,
  ]);

  const line = `#cloud-config\nhostname: ${'a'.repeat(2_000_000)}\n`;
  await refused(t, '2 MB hostname', write('long-line.yml', line), [/^error: hostname: "a{20,}.*is not a valid host name/m], 60_000);
});

const SEED_DOC = `#cloud-config
hostname: web-1
ssh_authorized_keys:
  - ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE core@host
users:
  - name: deploy
    groups: [docker, sudo]
    passwd: $6$salt$hash
write_files:
  - path: /etc/motd
    permissions: '0644'
    owner: root:root
    content: |
      hello $private_ipv4
  - path: /opt/blob
    encoding: gzip+base64
    content: H4sIAAAAAAAAA8tIzcnJBwCGphA2BQAAAA==
coreos:
  fleet:
    public-ip: $private_ipv4
    metadata: role=web,region=eu
    agent_ttl: 30s
  etcd2:
    proxy: on
  units:
    - name: docker.service
      command: start
      drop_ins:
        - name: 50-opts.conf
          content: |
            [Service]
            Environment=A=1
    - name: hello@.service
      enable: true
      content: |
        [Service]
        ExecStart=/bin/echo %i
`;

t.test('fuzzed cloud-configs (seeded): parseUserData never throws; no config means an error says why', async (t) => {
  const r = prng(0xc10d);
  const inserts = [':', '- ', '[', ']', '{', '}', '&a ', '*a', '!!binary ', '"', "'", '\t', '\n', '  ', '#', '<<: ', '%', '|', '>', '\\', '\0', '\u2028', '~', '0o7'];
  let refusedCount = 0;
  for (let i = 0; i < 400; i++) {
    let text = SEED_DOC;
    for (let k = 0; k < 1 + r.int(4); k++) {
      const at = 14 + r.int(text.length - 14);
      const op = r.int(3);
      if (op === 0) text = text.slice(0, at) + r.pick(inserts) + text.slice(at);
      else if (op === 1) text = text.slice(0, at) + text.slice(at + 1 + r.int(10));
      else text = text.slice(0, at);
    }
    let res: ReturnType<typeof parseUserData>;
    try {
      res = parseUserData(text, { substitutions: { privateIpv4: '10.0.0.1' } });
    } catch (err) {
      t.fail(`case ${i} threw ${String(err)}: ${JSON.stringify(text)}`);
      continue;
    }
    for (const d of res.diagnostics) {
      if (d.message.trim() === '') t.fail(`case ${i}: empty message`);
    }
    const hasError = res.diagnostics.some((d) => d.severity === 'error');
    if (res.kind === 'cloud-config' && !res.config && !hasError) t.fail(`case ${i}: no config and no error: ${JSON.stringify(text)}`);
    if (res.kind === 'cloud-config' && res.config && hasError) t.fail(`case ${i}: a config despite errors`);
    if (hasError) refusedCount++;
  }
  t.ok(refusedCount > 40, `${refusedCount} of 400 refused`);
});
