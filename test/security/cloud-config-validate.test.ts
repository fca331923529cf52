/**
 * What --validate passes, apply must be able to do: every document-level reason apply could fail on is a
 * validation error. And applying writes files all-or-nothing: when one write_files entry cannot be written,
 * none of them is, and no staged temp file is left behind.
 */
import t from 'tap';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { applyPlan } from '../../cloud-config/apply.js';
import { parseUserData } from '../../cloud-config/parse.js';
import { planCloudConfig } from '../../cloud-config/plan.js';
import { makeRoot, snapshot } from '../cloud-config/helpers.js';

type Snapshot = Awaited<ReturnType<typeof snapshot>>;
const withoutDirTimes = (s: Snapshot): Record<string, unknown> =>
  Object.fromEntries(Object.entries(s).map(([k, e]) => [k, e.type === 'dir' ? { ...e, mtimeMs: 0 } : e]));

const errorsOf = (body: string): string[] =>
  parseUserData(`#cloud-config\n${body}`)
    .diagnostics.filter((d) => d.severity === 'error')
    .map((d) => `${d.path}: ${d.message}`);

const CASES: [string, string, RegExp][] = [
  ['owner uid beyond 32 bits', 'write_files:\n  - path: /etc/a\n    owner: "4294967296"\n', /write_files\[0\]\.owner: .*(too large|at most)/],
  ['owner uid -1 (4294967295, "no change" to chown)', 'write_files:\n  - path: /etc/a\n    owner: "4294967295"\n', /write_files\[0\]\.owner: .*(too large|at most)/],
  ['owner gid beyond 32 bits', 'write_files:\n  - path: /etc/a\n    owner: "root:99999999999"\n', /write_files\[0\]\.owner: .*(too large|at most)/],
  ['a unit name too long for its drop-in directory', `coreos:\n  units:\n    - name: ${'a'.repeat(247)}.service\n      drop_ins: [{name: a.conf, content: x}]\n`, /coreos\.units\[0\]\.name: .*255/],
  ['a drop-in name longer than 255 bytes', `coreos:\n  units:\n    - name: a.service\n      drop_ins: [{name: ${'a'.repeat(252)}.conf, content: x}]\n`, /coreos\.units\[0\]\.drop_ins\[0\]\.name: .*255/],
  ['a NUL in a path', 'write_files:\n  - path: "/etc/a\\0b"\n', /write_files\[0\]\.path: .*(NUL|control)/],
  ['a tab in a path', 'write_files:\n  - path: "/etc/a\\tb"\n', /write_files\[0\]\.path: .*control/],
  ['"/." as a path', 'write_files:\n  - path: /.\n', /write_files\[0\]\.path: .*"\."/],
  ['"/etc/." as a path', 'write_files:\n  - path: /etc/.\n', /write_files\[0\]\.path: .*"\."/],
  ['"/etc/./x" as a path', 'write_files:\n  - path: /etc/./x\n', /write_files\[0\]\.path: .*"\."/],
  ['"/" as a path', 'write_files:\n  - path: /\n', /write_files\[0\]\.path: /],
  ['a path component longer than 255 bytes', `write_files:\n  - path: /etc/${'a'.repeat(256)}\n`, /write_files\[0\]\.path: .*255/],
  ['a path longer than 4095 bytes', `write_files:\n  - path: ${'/aaaaaaaa'.repeat(460)}\n`, /write_files\[0\]\.path: .*4095/],
  ['a home directory with a NUL', 'users:\n  - name: bob\n    homedir: "/home/b\\0b"\n', /users\[0\]\.homedir: .*(NUL|control)/],
  ['a shell with a NUL', 'users:\n  - name: bob\n    shell: "/bin/b\\0sh"\n', /users\[0\]\.shell: .*(NUL|control)/],
  ['a unit directory with a NUL', 'coreos:\n  fleet:\n    units_directory: "/run/u\\0"\n', /coreos\.fleet\.units_directory: .*(NUL|control)/],
];

t.test('--validate refuses what apply would fail on', async (t) => {
  for (const [what, body, pattern] of CASES) {
    const errors = errorsOf(body);
    t.ok(errors.some((e) => pattern.test(e)), `${what}: ${JSON.stringify(errors)}`);
  }
});

t.test('the largest valid ids still validate', async (t) => {
  t.same(errorsOf('write_files:\n  - path: /etc/a\n    owner: "4294967294:4294967294"\n'), []);
});

t.test('write_files are all-or-nothing: one that cannot be written means none is', async (t) => {
  const root = await makeRoot((fn) => t.teardown(fn));
  await writeFile(join(root, 'etc/blocker'), 'a file where a directory is needed\n');
  await mkdir(join(root, 'srv'));
  const before = await snapshot(root);
  const r = parseUserData(
    '#cloud-config\nwrite_files:\n  - path: /etc/first\n    content: one\n  - path: /srv/new/second\n    content: two\n  - path: /etc/blocker/third\n    content: three\n  - path: /srv\n    content: a directory is there\ncoreos:\n  units:\n    - name: a.service\n      content: "[Service]\\nExecStart=/bin/true\\n"\n',
  );
  if (r.kind !== 'cloud-config' || !r.config) throw new Error('invalid');
  const report = await applyPlan(planCloudConfig(r.config), { root });
  t.ok(report.error, 'applying fails');
  t.match(report.error?.message ?? '', /etc\/blocker.*not a directory/);
  // staging and removing temp files touches the directories' mtimes; everything else must be as before
  t.same(withoutDirTimes(await snapshot(root)), withoutDirTimes(before), 'nothing written: no file, no new directory, no temp file');

  await rm(join(root, 'etc/blocker'));
  const again = await applyPlan(planCloudConfig(r.config), { root });
  t.match(again.error?.message ?? '', /\/srv is a directory/, 'a directory where a file goes is found before anything is renamed');
  const expected = withoutDirTimes(before);
  delete expected['/etc/blocker'];
  t.same(withoutDirTimes(await snapshot(root)), expected, 'still nothing written');
});
