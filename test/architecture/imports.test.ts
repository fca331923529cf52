/**
 * The package structure as a test: reads the import graph of the TypeScript sources of lib/, fleetd/, fleetctl/,
 * cloud-config/ and lab/ (type-only imports count: a type is part of a contract too) and checks the one-way
 * dependencies docs/architecture.md draws:
 *
 *   - lib/ imports nothing outside lib/ (node builtins and packages aside);
 *   - fleetd, fleetctl, cloud-config and lab never import one another (lab starts the programs as processes);
 *   - a package in a subfolder of a program does not reach up into a file of the program's own folder (the
 *     program composes its packages, not the reverse); named exceptions below, each with its reason;
 *   - fleetd's machine, agent and engine packages do not import its API server (fleetd/api);
 *   - no import cycle among project files.
 *
 * Each failure names the offending import as 'file -> file', or the files of a cycle: the message is the fix list.
 */
import t from 'tap';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const LIB = 'lib';
const PROGRAMS = ['fleetd', 'fleetctl', 'cloud-config', 'lab'] as const;

/** Subfolders allowed to import files of their program's folder: from-folder prefix -> why. */
const UPWARD_EXCEPTIONS: Readonly<Record<string, string>> = {
  'fleetctl/commands/': "the commands are fleetctl's CLI split into one file per command; they use its context and output",
  'cloud-config/datasource/':
    "the data sources read user-data within cloud-config's bounds (limits.ts), inflate it (encoding.ts) and check metadata as documents are checked (schema.ts, types.ts); none of those import the sources, and the no-cycle rule still holds",
};

/** Packages of one program that must not import another of its packages: [from, to, why]. */
const FORBIDDEN: ReadonlyArray<readonly [string, string, string]> = [
  ['fleetd/machine/', 'fleetd/api/', 'the API server uses the machine, not the reverse'],
  ['fleetd/agent/', 'fleetd/api/', 'the API server reads what the agent publishes, through the registry'],
  ['fleetd/engine/', 'fleetd/api/', 'the API server reads what the engine publishes, through the registry'],
];

const IMPORT = /(?:^|[;\s])(?:import|export)\b\s*(?:type\s+)?(?:[^'";]*?\sfrom\s*)?(['"])([^'"\n]+)\1/g;
const DYNAMIC = /\bimport\s*\(\s*(['"])([^'"]+)\1\s*\)/g;

function sources(dir: string): string[] {
  const out: string[] = [];
  const walk = (rel: string): void => {
    for (const e of readdirSync(path.join(ROOT, rel), { withFileTypes: true })) {
      const r = `${rel}/${e.name}`;
      if (e.isDirectory()) walk(r);
      else if (e.isFile() && e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) out.push(r);
    }
  };
  walk(dir);
  return out.sort();
}

/** Project files each file imports (repo-relative .ts paths); relative specifiers only. */
function graph(): Map<string, string[]> {
  const g = new Map<string, string[]>();
  for (const file of [LIB, ...PROGRAMS].flatMap(sources)) {
    const text = readFileSync(path.join(ROOT, file), 'utf8').replace(/^\s*(\/\/.*|\/?\*.*)$/gm, '');
    const deps = new Set<string>();
    for (const m of [...text.matchAll(IMPORT), ...text.matchAll(DYNAMIC)]) {
      const spec = m[2]!;
      if (!spec.startsWith('.')) continue;
      deps.add(path.posix.normalize(path.posix.join(path.posix.dirname(file), spec)).replace(/\.js$/, '.ts'));
    }
    g.set(file, [...deps].sort());
  }
  return g;
}

const top = (file: string): string => file.split('/', 1)[0]!;

/** Tarjan's strongly connected components with more than one file (or a file importing itself). */
function cycles(g: Map<string, string[]>): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const out: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of g.get(v) ?? []) {
      if (!g.has(w)) continue;
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1 || (g.get(v) ?? []).includes(v)) out.push(scc.sort());
    }
  };
  for (const v of g.keys()) if (!index.has(v)) visit(v);
  return out;
}

const g = graph();
const edges = [...g].flatMap(([from, deps]) => deps.map((to) => ({ from, to })));

t.test('the sources were found and parsed', async (t) => {
  t.ok(g.size > 100, `${g.size} source files`);
  t.ok(edges.length > g.size, `${edges.length} imports`);
  const missing = edges.filter((e) => !g.has(e.to)).map((e) => `${e.from} -> ${e.to}`);
  t.same(missing, [], 'every relative import names a project source file');
});

t.test('lib/ imports nothing outside lib/', async (t) => {
  const bad = edges.filter((e) => top(e.from) === LIB && top(e.to) !== LIB).map((e) => `${e.from} -> ${e.to}`);
  t.same(bad, [], 'imports from lib/ to a program');
});

t.test('fleetd, fleetctl, cloud-config and lab do not import one another', async (t) => {
  const bad = edges
    .filter((e) => top(e.from) !== LIB && top(e.to) !== LIB && top(e.from) !== top(e.to))
    .map((e) => `${e.from} -> ${e.to}`);
  t.same(bad, [], 'imports between programs (shared code belongs in lib/)');
});

t.test("a program's packages do not reach up into the program's own files", async (t) => {
  const bad = edges
    .filter((e) => {
      if (top(e.from) === LIB || top(e.from) !== top(e.to)) return false;
      const fromDir = path.posix.dirname(e.from);
      const toDir = path.posix.dirname(e.to);
      if (fromDir === toDir || !fromDir.startsWith(`${toDir}/`)) return false; // same folder, sibling or downwards
      return !Object.keys(UPWARD_EXCEPTIONS).some((p) => e.from.startsWith(p));
    })
    .map((e) => `${e.from} -> ${e.to}`);
  t.same(bad, [], 'upward imports (move the shared piece down, or pass it in)');
});

t.test("fleetd's lower packages do not import its API server", async (t) => {
  const bad = edges
    .filter((e) => FORBIDDEN.some(([from, to]) => e.from.startsWith(from) && e.to.startsWith(to)))
    .map((e) => `${e.from} -> ${e.to} (${FORBIDDEN.find(([from, to]) => e.from.startsWith(from) && e.to.startsWith(to))![2]})`);
  t.same(bad, [], 'imports against the layering');
});

t.test('no import cycles', async (t) => {
  t.same(cycles(g).map((c) => c.join(' <-> ')), [], 'import cycles among project files');
});
