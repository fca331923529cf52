/**
 * Sorts the test files into three tiers by what they start, so that the fast tier needs neither root nor etcd:
 *
 *   unit  needs nothing but Node (runs as any user, in well under a minute)
 *   etcd  starts a real etcd (test/harness/etcd.ts) but no lab machines and no root
 *   lab   starts lab machines (test/harness/lab.ts, test/harness/fleet-lab.ts, lab/cluster.ts), or needs root:
 *         root, nspawn, docker
 *
 * Nobody keeps a list. A test file's tier is read from the compiled JavaScript it loads at run time: the file
 * and everything it imports (static imports, re-exports, import() of a literal path, and sibling scripts it names
 * by a literal 'x.js' path, e.g. a child it spawns), followed through dist/. The slowest marker reached wins.
 * A comment line of the form `// test-tier: lab` (or etcd) in any of those files raises the tier by hand, for a
 * test that needs root or etcd in a way the imports do not show. When the closure cannot be followed (an import()
 * of a computed path, a relative import that does not resolve) the file goes to the lab tier with the reason, so
 * a file is never dropped and never runs in a tier that lacks what it needs. Type-only imports are erased by tsc
 * and so do not count, which is why this reads dist/ and not the TypeScript.
 *
 * The test files themselves are listed from the TypeScript sources (test/**\/*.test.ts), so a stale .js left in
 * dist/ by a renamed or deleted test is not run. Used by scripts/test.sh; test/harness/tiers.test.ts checks it.
 *
 * CLI: node dist/test/harness/tiers.js list <unit|etcd|lab>   the dist/ paths of that tier, one a line
 *      node dist/test/harness/tiers.js explain                 every test file with its tier and why
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const TIERS = ['unit', 'etcd', 'lab'] as const;
export type Tier = (typeof TIERS)[number];

/** Modules (repo-relative, as TypeScript sources) whose loading puts a test in a tier. */
export const MARKERS: Readonly<Record<string, Tier>> = {
  'test/harness/etcd.ts': 'etcd',
  'test/harness/lab.ts': 'lab',
  'test/harness/fleet-lab.ts': 'lab',
  'lab/cluster.ts': 'lab',
};

export interface Classified {
  /** repo-relative TypeScript source, e.g. test/unit/glob.test.ts */
  readonly source: string;
  /** repo-relative compiled file tap runs, e.g. dist/test/unit/glob.test.js */
  readonly dist: string;
  readonly tier: Tier;
  /** why: the marker reached and the import chain to it, or what could not be followed */
  readonly reason: string;
}

const rank = (t: Tier): number => TIERS.indexOf(t);

/** All test/**\/*.test.ts under `root`, repo-relative with '/' separators, sorted. */
export function testSources(root: string): string[] {
  const out: string[] = [];
  const walk = (rel: string): void => {
    for (const e of readdirSync(path.join(root, rel), { withFileTypes: true })) {
      const r = `${rel}/${e.name}`;
      if (e.isDirectory()) walk(r);
      else if (e.isFile() && e.name.endsWith('.test.ts')) out.push(r);
    }
  };
  if (existsSync(path.join(root, 'test'))) walk('test');
  return out.sort();
}

const toDist = (source: string): string => `dist/${source.replace(/\.ts$/, '.js')}`;
const toSource = (dist: string): string => dist.replace(/^dist\//, '').replace(/\.js$/, '.ts');

interface Edges {
  readonly deps: string[];
  /** what could not be followed, if anything */
  readonly unknown?: string;
  readonly marker?: Tier;
}

const STATIC = /(?:^|[;\s])(?:import|export)\b\s*(?:[^'";]*?\sfrom\s*)?(['"])([^'"\n]+)\1/g;
const DYNAMIC = /\bimport\s*\(\s*([^)\s][^)]*?)\s*\)/g;
const NAMED_SCRIPT = /(['"])([\w.-]+\.js)\1/g;
const HAND_MARK = /^\s*(?:\/\/|\*)\s*test-tier:\s*(unit|etcd|lab)\s*$/m;

/** The runtime dependencies of one compiled file (repo-relative dist paths). */
function edges(root: string, file: string): Edges {
  const text = readFileSync(path.join(root, file), 'utf8');
  const dir = path.posix.dirname(file);
  const deps: string[] = [];
  let unknown: string | undefined;
  const add = (spec: string, how: string): void => {
    if (!spec.startsWith('.')) return; // node: builtins and packages need nothing from a tier
    const target = path.posix.normalize(path.posix.join(dir, spec));
    if (existsSync(path.join(root, target))) deps.push(target);
    else unknown ??= `${how} '${spec}' in ${file} does not resolve`;
  };
  for (const m of text.matchAll(STATIC)) add(m[2]!, 'import');
  for (const m of text.matchAll(DYNAMIC)) {
    const arg = m[1]!;
    const lit = /^(['"])([^'"]+)\1$/.exec(arg);
    if (lit) add(lit[2]!, 'import()');
    else unknown ??= `import() of a computed path (${arg}) in ${file}`;
  }
  for (const m of text.matchAll(NAMED_SCRIPT)) {
    const target = path.posix.join(dir, m[2]!);
    if (target !== file && existsSync(path.join(root, target))) deps.push(target);
  }
  const hand = HAND_MARK.exec(text)?.[1] as Tier | undefined;
  return { deps, ...(unknown ? { unknown } : {}), ...(hand ? { marker: hand } : {}) };
}

/**
 * Classifies every test file under `root` (the repository; dist/ must be built). A test file whose compiled
 * .js is missing is put in the lab tier with that reason (it is then reported by tap as a missing file).
 */
export function classify(root: string): Classified[] {
  const cache = new Map<string, Edges>();
  const edgesOf = (f: string): Edges => {
    let e = cache.get(f);
    if (!e) cache.set(f, (e = edges(root, f)));
    return e;
  };
  return testSources(root).map((source): Classified => {
    const dist = toDist(source);
    if (!existsSync(path.join(root, dist))) return { source, dist, tier: 'lab', reason: `${dist} is not built` };
    // breadth-first, so the chain reported is a shortest one
    const parent = new Map<string, string | null>([[dist, null]]);
    const queue = [dist];
    let best: { tier: Tier; at: string; why: string } = { tier: 'unit', at: dist, why: 'loads no etcd or lab harness' };
    const raise = (tier: Tier, at: string, why: string): void => {
      if (rank(tier) > rank(best.tier)) best = { tier, at, why };
    };
    while (queue.length > 0) {
      const f = queue.shift()!;
      const marker = MARKERS[toSource(f)];
      if (marker) raise(marker, f, `loads ${toSource(f)}`);
      const e = edgesOf(f);
      if (e.marker) raise(e.marker, f, `${toSource(f)} is marked test-tier ${e.marker}`);
      if (e.unknown) raise('lab', f, `cannot tell: ${e.unknown}`);
      for (const d of e.deps) {
        if (!parent.has(d)) {
          parent.set(d, f);
          queue.push(d);
        }
      }
    }
    const chain: string[] = [];
    for (let f: string | null | undefined = best.at; f; f = parent.get(f)) chain.unshift(toSource(f));
    const via = chain.length > 2 ? ` (via ${chain.join(' -> ')})` : '';
    return { source, dist, tier: best.tier, reason: `${best.why}${via}` };
  });
}

function main(argv: string[]): number {
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
  const [cmd, tier] = argv;
  if (cmd === 'list' && (TIERS as readonly string[]).includes(tier ?? '')) {
    for (const c of classify(root)) if (c.tier === tier) process.stdout.write(`${c.dist}\n`);
    return 0;
  }
  if (cmd === 'explain' && argv.length === 1) {
    for (const c of classify(root)) process.stdout.write(`${c.tier.padEnd(4)}  ${c.source}  ${c.reason}\n`);
    return 0;
  }
  process.stderr.write(`usage: node ${path.relative(process.cwd(), fileURLToPath(import.meta.url))} list <${TIERS.join('|')}> | explain\n`);
  return 2;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = main(process.argv.slice(2));
}
