/**
 * Files named after a unit are written atomically through a temporary file: that temporary file's name must
 * never be longer than the unit's, or the longest accepted names (255 bytes, the file name limit) never load.
 * Covers the agent's units directory and cloud-config's atomic writes (units, drop-ins, links).
 */
import t, { type Test } from 'tap';
import { mkdtemp, readdir, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MAX_UNIT_NAME_BYTES } from '../../lib/unit/index.js';
import { UnitDirectory } from '../../fleetd/agent/unit-directory.js';
import { symlinkAtomic, writeFileAtomic } from '../../cloud-config/fsops.js';

const LONGEST = `${'n'.repeat(MAX_UNIT_NAME_BYTES - '.service'.length)}.service`;

async function scratch(t: Test): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'agent-long-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

t.test('the agent writes a unit file with the longest accepted name, and leaves no temporary file', async (t) => {
  const dir = await scratch(t);
  const units = new UnitDirectory(dir);
  const path = await units.write(LONGEST, '[Service]\nExecStart=/bin/true\n');
  t.equal(path, join(dir, LONGEST));
  t.same(await readdir(dir), [LONGEST], 'only the unit file');
  t.same([...(await units.list()).keys()], [LONGEST], 'read back');
});

t.test('cloud-config writes and links a file with the longest name, and leaves no temporary file', async (t) => {
  const dir = await scratch(t);
  const me = { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };
  t.equal(await writeFileAtomic(dir, `/${LONGEST}`, Buffer.from('x\n'), 0o644, me), 'changed');
  t.equal(await readFile(join(dir, LONGEST), 'utf8'), 'x\n');
  const link = join(dir, 'wants');
  t.equal(await symlinkAtomic(dir, `/wants/${LONGEST}`, join(dir, LONGEST)), 'changed');
  t.equal(await readlink(join(link, LONGEST)), join(dir, LONGEST));
  t.same((await readdir(dir)).sort(), [LONGEST, 'wants'].sort(), 'no temporary file left');
  t.same(await readdir(link), [LONGEST]);
});

t.test("a temporary file an earlier fleetd left in the units directory is removed when the directory is read", async (t) => {
  const dir = await scratch(t);
  const units = new UnitDirectory(dir);
  await units.write('a.service', '[Service]\nExecStart=/bin/true\n');
  await writeFile(join(dir, '.tmp-999999999-3'), 'half');
  await writeFile(join(dir, '.keep-me'), 'not ours');
  t.same([...(await units.list()).keys()], ['a.service']);
  t.same((await readdir(dir)).sort(), ['.keep-me', 'a.service'], 'the stale temporary file is gone, other files stay');
});
