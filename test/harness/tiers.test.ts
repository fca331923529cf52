/**
 * The test tiers (test/harness/tiers.ts) stay honest: every test file lands in exactly one tier, no file in the
 * unit tier loads the etcd or lab harness (checked here against the source text too, not only by the classifier),
 * and the classifier follows helpers, spawned sibling scripts and hand marks, and sends what it cannot follow to
 * the lab tier instead of dropping it.
 */
import t, { type Test } from 'tap';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { classify, testSources, TIERS, type Classified } from './tiers.js';

/** An import statement (or import() of a literal) of the etcd or lab harness, or of what starts lab machines. */
const HARNESS_IMPORT = /(?:^(?:import|export|\})[^'"\n]*from\s*|import\(\s*)'[^'\n]*\/(?:harness\/(?:etcd|lab|fleet-lab)|lab\/cluster)\.js'/m;

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

t.test('the repository: every test file in exactly one tier; the unit tier loads no etcd or lab harness', async (t) => {
  const all = classify(ROOT);
  const sources = testSources(ROOT);
  t.ok(sources.length > 50, `${sources.length} test files`);
  t.same(all.map((c) => c.source), sources, 'every test file is classified once, in order');
  for (const tier of TIERS) t.ok(all.some((c) => c.tier === tier), `the ${tier} tier is not empty`);

  const unit = all.filter((c) => c.tier === 'unit');
  for (const c of unit) {
    const text = readFileSync(path.join(ROOT, c.source), 'utf8');
    t.notMatch(text, HARNESS_IMPORT, `${c.source} (unit tier) imports no etcd or lab harness`);
  }

  const tierOf = (source: string): string | undefined => all.find((c) => c.source === source)?.tier;
  t.equal(tierOf('test/harness/tiers.test.ts'), 'unit', 'this test is in the unit tier');
  t.equal(tierOf('test/unit/parse.test.ts'), 'unit');
  t.equal(tierOf('test/registry/harness.test.ts'), 'etcd');
  t.equal(tierOf('test/lab/machines.test.ts'), 'lab');
  t.equal(tierOf('test/fleetd/agent-lab.test.ts'), 'lab', 'through test/fleetd/lab-helpers.ts');
  t.equal(tierOf('test/engine/planner.test.ts'), 'etcd', 'etcd even though it also has pure tests');
  t.equal(tierOf('test/cloud-config/apply.test.ts'), 'lab', 'needs root (chown, useradd): marked by hand');
});

/** A throw-away repository: TypeScript names (only listed) and the compiled files the classifier reads. */
function fakeRepo(t: Test, files: Record<string, string>): string {
  const root = mkdtempSync(path.join(os.tmpdir(), 'tiers-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  for (const [rel, text] of Object.entries(files)) {
    mkdirSync(path.join(root, path.dirname(rel)), { recursive: true });
    writeFileSync(path.join(root, rel), text);
  }
  return root;
}

const byName = (list: Classified[]): Record<string, string> =>
  Object.fromEntries(list.map((c) => [path.posix.basename(c.source), `${c.tier}: ${c.reason}`]));

t.test('a synthetic tree: helpers, spawned scripts, hand marks, and what cannot be followed', async (t) => {
  const src = (names: string[]): Record<string, string> =>
    Object.fromEntries(names.map((n) => [`test/x/${n}.test.ts`, '// source; the classifier reads dist/\n']));
  // spelled so that the classifier, reading this file, does not take the fixtures' dynamic imports for its own
  const dyn = (arg: string): string => `await ${'imp'}ort(${arg})`;
  const root = fakeRepo(t, {
    ...src(['pure', 'via-helper', 'type-only', 'spawns', 'computed', 'broken', 'marked', 'unbuilt', 'lab', 'worst']),
    'dist/test/harness/etcd.js': 'export const startEtcd = 1;\n',
    'dist/test/harness/lab.js': 'import { Lab } from "../../lab/cluster.js";\nexport const startLab = Lab;\n',
    'dist/lab/cluster.js': 'export const Lab = 1;\n',
    'dist/lib/pure.js': 'export const f = () => 1;\n',
    'dist/test/x/helper.js': "export { startEtcd } from '../harness/etcd.js';\n",
    'dist/test/x/child.js': "import { Lab } from '../../lab/cluster.js';\nvoid Lab;\n",
    'dist/test/x/pure.test.js': "import t, { type Test } from 'tap';\nimport { f } from '../../lib/pure.js';\nimport('node:fs');\n// imports from './nowhere.js' in a comment do not count\n",
    'dist/test/x/via-helper.test.js': "import t, { type Test } from 'tap';\nimport {\n  startEtcd,\n} from './helper.js';\n",
    // tsc erased `import type { X } from '../harness/etcd.js'`: nothing left to load
    'dist/test/x/type-only.test.js': "import t, { type Test } from 'tap';\nexport {};\n",
    'dist/test/x/spawns.test.js': "const child = path.join(dir, 'child.js');\nspawn(process.execPath, [child]);\n",
    'dist/test/x/computed.test.js': `const name = '../harness/' + which;\n${dyn('name')};\n`,
    'dist/test/x/broken.test.js': "import { g } from './missing.js';\n",
    'dist/test/x/marked.test.js': "/**\n * needs root for chown\n * test-tier: lab\n */\nimport t, { type Test } from 'tap';\n",
    'dist/test/x/lab.test.js': `const { startLab } = ${dyn("'../harness/lab.js'")};\n`,
    'dist/test/x/worst.test.js': "import '../harness/etcd.js';\nimport './child.js';\n",
  });
  const got = byName(classify(root));
  t.match(got, {
    'pure.test.ts': /^unit: /,
    'via-helper.test.ts': 'etcd: loads test/harness/etcd.ts (via test/x/via-helper.test.ts -> test/x/helper.ts -> test/harness/etcd.ts)',
    'type-only.test.ts': /^unit: /,
    'spawns.test.ts': 'lab: loads lab/cluster.ts (via test/x/spawns.test.ts -> test/x/child.ts -> lab/cluster.ts)',
    'computed.test.ts': 'lab: cannot tell: import() of a computed path (name) in dist/test/x/computed.test.js',
    'broken.test.ts': /^lab: cannot tell: import '\.\/missing\.js' in dist\/test\/x\/broken\.test\.js does not resolve$/,
    'marked.test.ts': 'lab: test/x/marked.test.ts is marked test-tier lab',
    'unbuilt.test.ts': 'lab: dist/test/x/unbuilt.test.js is not built',
    'lab.test.ts': /^lab: loads test\/harness\/lab\.ts/,
    'worst.test.ts': /^lab: /,
  });
  t.equal(Object.keys(got).length, 10, 'no file dropped');
});
