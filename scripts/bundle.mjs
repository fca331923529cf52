#!/usr/bin/env node
/**
 * Bundles fleetctl into two CommonJS files (issue 13: reading, compiling and linking ES modules one by one cost
 * fleetctl tens of ms of start-up per 25 modules; one file compiled by the CommonJS loader does not):
 * - dist/fleetctl/quick.cjs: the start-up code, dist/fleetctl/entry.js and every module it imports (statically or
 *   with import()), which fleetctl/main.cts loads. It answers version, help and the list commands over the API.
 * - dist/fleetctl/full.cjs: the full CLI, dist/fleetctl/full.js and what it imports (about 85 modules, with the
 *   etcd and tunnel clients, which run only when a command uses them), which quick.cjs requires for any other
 *   command. Its error classes are its own copies, so every module that throws or tests them is inside it.
 * No bundler dependency: TypeScript (already the compiler) turns each emitted ES module into CommonJS, and a small
 * require shim below runs each module once, when first required, so what runs and in which order is what the ES
 * modules did. A module named in a bundle's EXTERNAL stays outside it, loaded with a real import() or require
 * from dist/. Node built-ins are required as usual and so are the packages a bundle lists (yargs, an ES module,
 * by Node's require of ES modules); any other package, import.meta other than import.meta.url, or a dynamic
 * import of a computed name stops the build: the bundle must hold everything it runs.
 * Usage: node scripts/bundle.mjs [dist-dir]   (run by scripts/build.sh after tsc)
 */
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { builtinModules, createRequire } from 'node:module';
import path from 'node:path';

const dist = path.resolve(process.argv[2] ?? 'dist');
/** The bundles: entry and output (dist-relative), modules left outside, packages it may require. */
const BUNDLES = [
  // the full CLI stays outside: quick.cjs requires full.cjs (or imports full.js when full.cjs is absent)
  { entry: 'fleetctl/entry.js', out: 'fleetctl/quick.cjs', external: new Set(['fleetctl/full.js', 'fleetctl/client/tunnel.js', 'fleetctl/client/registry.js']), packages: new Set() },
  { entry: 'fleetctl/full.js', out: 'fleetctl/full.cjs', external: new Set(), packages: new Set(['yargs', 'etcd3', 'cockatiel']) },
];

/** A bundle's entry → its file: an external import() of an entry requires that bundle instead. */
const bundleOf = new Map(BUNDLES.map((b) => [b.entry, b.out]));

const ts = createRequire(import.meta.url)('typescript');
const builtins = new Set(builtinModules);

function fail(msg) {
  process.stderr.write(`bundle: ${msg}\n`);
  process.exit(1);
}

const resolveRel = (from, spec) => path.posix.normalize(path.posix.join(path.posix.dirname(from), spec));

function bundle({ entry: ENTRY, out: OUT, external: EXTERNAL, packages: PACKAGES }) {
/** dist-relative module path → its CommonJS text. */
const modules = new Map();

function add(rel) {
  if (modules.has(rel)) return;
  modules.set(rel, '');
  let src;
  try {
    src = readFileSync(path.join(dist, rel), 'utf8');
  } catch (err) {
    fail(`${rel}: ${err.message}`);
  }
  src = src.replace(/^#!.*\n/, '').replace(/^\/\/# sourceMappingURL=.*$/m, '');
  // import() of an external module stays a real import() of its file, resolved against the bundle's directory.
  src = src.replace(/\bimport\((['"])(\.{1,2}\/[^'"]+)\1\)/g, (whole, _q, spec) => {
    const target = resolveRel(rel, spec);
    return EXTERNAL.has(target) ? `__importExternal(${JSON.stringify(target)})` : whole;
  });
  src = src.replace(/\bimport\.meta\.url\b/g, `__fileUrl(${JSON.stringify(rel)})`);
  if (/\bimport\.meta\b/.test(src)) fail(`${rel}: import.meta other than import.meta.url`);
  if (/\bimport\((?!['"])/.test(src.replace(/\/\/.*$|\/\*[\s\S]*?\*\//gm, ''))) fail(`${rel}: import() of a computed name`);
  const { outputText, diagnostics } = ts.transpileModule(src, {
    fileName: rel,
    reportDiagnostics: true,
    compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true, sourceMap: false, removeComments: true },
  });
  if (diagnostics?.length) fail(`${rel}: ${ts.flattenDiagnosticMessageText(diagnostics[0].messageText, '\n')}`);
  // Relative requires are resolved here, once: at run time a module is looked up by its dist-relative path.
  const deps = [];
  const code = outputText.replace(/\brequire\((['"])([^'"]+)\1\)/g, (whole, _q, spec) => {
    if (spec.startsWith('./') || spec.startsWith('../')) {
      const target = resolveRel(rel, spec);
      if (EXTERNAL.has(target)) fail(`${rel}: imports ${target} statically, which is to stay outside the bundle`);
      deps.push(target);
      return `__load(${JSON.stringify(target)})`;
    }
    if (!builtins.has(spec.replace(/^node:/, '')) && !PACKAGES.has(spec)) fail(`${rel}: imports the package ${spec}; ${OUT} holds only fleet-ts code, Node built-ins and ${[...PACKAGES].join(', ') || 'no package'}`);
    return whole;
  });
  modules.set(rel, code);
  for (const d of deps) add(d);
}

add(ENTRY);

const dirOfOut = path.posix.dirname(OUT);
let out = `"use strict";
// Generated by scripts/bundle.mjs from dist/ (${[...modules.keys()].length} modules; entry ${ENTRY}). Do not edit.
const __path = require("node:path");
const __url = require("node:url");
const __root = __path.join(__dirname, ${JSON.stringify(path.posix.relative(dirOfOut, '.') || '.')});
const __defs = Object.create(null);
const __done = Object.create(null);
function __load(id) {
  const done = __done[id];
  if (done !== undefined) return done.exports;
  const def = __defs[id];
  if (def === undefined) throw new Error("fleetctl bundle: no module " + id);
  const module = { exports: {} };
  __done[id] = module;
  def(module, module.exports);
  return module.exports;
}
/** The file URL a bundled module had in dist/ (its import.meta.url). */
function __fileUrl(id) {
  return __url.pathToFileURL(__path.join(__root, id)).href;
}
/** External modules that are another bundle's entry, by that bundle's file (dist-relative). */
const __bundles = Object.assign(Object.create(null), ${JSON.stringify(Object.fromEntries([...EXTERNAL].filter((e) => bundleOf.has(e)).map((e) => [e, bundleOf.get(e)])))});
function __importExternal(id) {
  // another bundle's entry from that bundle when it was built; any other module, or without it, as an ES module
  const other = __bundles[id];
  if (other !== undefined) {
    const file = __path.join(__root, other);
    if (require("node:fs").existsSync(file)) return Promise.resolve().then(() => require(file));
  }
  return import(__fileUrl(id));
}
`;
for (const [rel, code] of modules) {
  out += `__defs[${JSON.stringify(rel)}] = function (module, exports) {\n${code.replace(/^"use strict";\n?/, '')}};\n`;
}
out += `module.exports = __load(${JSON.stringify(ENTRY)});
// For test/fleetctl/lazy-load.test.ts: the file URLs of the modules run so far, as an ES module loader hook sees them.
Object.defineProperty(module.exports, "bundledModulesRun", { value: () => Object.keys(__done).map(__fileUrl) });
`;

const target = path.join(dist, OUT);
writeFileSync(`${target}.tmp`, out);
renameSync(`${target}.tmp`, target);
process.stderr.write(`bundle: ${OUT}: ${modules.size} modules\n`);
}

for (const b of BUNDLES) bundle(b);
