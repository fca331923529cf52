/**
 * fleetctl loads only what a command needs (issue 13): the API driver never loads etcd3, gRPC or lib/registry,
 * `version`/`help` load neither yargs nor the command modules, and the list commands over the API (quick-list.ts)
 * load no yargs and no command module but their own. A loader hook in the child (--import) appends
 * every module URL it loads to a file, which the test reads after the child exited.
 */
import { createServer, type Server } from 'node:http';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import t from 'tap';
import { fleetctl } from './helpers.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'fleetctl-lazy-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const hook = path.join(dir, 'hook.mjs');
const loader = path.join(dir, 'loader.mjs');
writeFileSync(
  loader,
  "import { appendFileSync } from 'node:fs';\n" +
    'export async function load(url, context, next) { appendFileSync(process.env.LOADED_LIST, url + "\\n"); return next(url, context); }\n',
);
// fleetctl runs its start-up code from one bundle (dist/fleetctl/quick.cjs, scripts/bundle.mjs) and the full CLI
// from another (full.cjs): at exit the hook adds the modules each bundle ran, as their dist/ URLs, so the list is
// the same as without the bundles, and every file CommonJS loaded (a bundle's packages are required, which an ES
// module loader hook does not see).
const bundle = fileURLToPath(new URL('../../fleetctl/quick.cjs', import.meta.url));
const fullBundle = fileURLToPath(new URL('../../fleetctl/full.cjs', import.meta.url));
writeFileSync(
  hook,
  "import { appendFileSync } from 'node:fs';\n" +
    "import { createRequire, register } from 'node:module';\n" +
    "import { pathToFileURL } from 'node:url';\n" +
    `register(${JSON.stringify(pathToFileURL(loader).href)});\n` +
    `const bundles = [[${JSON.stringify(bundle)}, 'bundle'], [${JSON.stringify(fullBundle)}, 'full-bundle']];\n` +
    "process.on('exit', () => { const cache = createRequire(import.meta.url).cache; for (const [file, tag] of bundles) { const m = cache[file]; " +
    "if (m) appendFileSync(process.env.LOADED_LIST, [tag, ...m.exports.bundledModulesRun()].join('\\n') + '\\n'); } " +
    "appendFileSync(process.env.LOADED_LIST, Object.keys(cache).filter((f) => f.includes('/node_modules/')).map((f) => pathToFileURL(f).href).join('\\n') + '\\n'); " +
    // and the Node built-ins loaded (node:http is not: the quick path's GETs go over node:net).
    "appendFileSync(process.env.LOADED_LIST, process.moduleLoadList.filter((n) => n.startsWith('NativeModule ')).map((n) => 'builtin:' + n.slice(13)).join('\\n') + '\\n'); });\n",
);

let runs = 0;
/** fleetctl args... with the hook; resolves with its stdout and the URLs of every module it loaded. */
async function loaded(args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string; urls: string[]; bundled: boolean; fullBundled: boolean; builtins: string[] }> {
  const list = path.join(dir, `loaded-${runs++}.txt`);
  writeFileSync(list, '');
  const r = await fleetctl(args, { env: { NODE_OPTIONS: `--import=${pathToFileURL(hook).href}`, LOADED_LIST: list }, child: true });
  const lines = readFileSync(list, 'utf8').split('\n').filter((l) => l !== '');
  const builtins = lines.filter((l) => l.startsWith('builtin:')).map((l) => l.slice(8));
  return { ...r, urls: lines.filter((l) => l !== 'bundle' && l !== 'full-bundle' && !l.startsWith('builtin:')), bundled: lines.includes('bundle'), fullBundled: lines.includes('full-bundle'), builtins };
}

const heavy = (urls: readonly string[]): string[] => urls.filter((u) => /\/node_modules\/(etcd3|@grpc)\/|\/lib\/registry\//.test(u));

async function fakeApi(): Promise<{ server: Server; endpoint: string }> {
  const server = createServer((req, res) => {
    res.setHeader('content-type', 'application/json');
    if (req.url?.startsWith('/fleet/v1/machines')) res.end(JSON.stringify({ machines: [{ id: 'abcdef0123456789', primaryIP: '10.0.0.1', metadata: {} }] }));
    else if (req.url?.startsWith('/fleet/v1/state')) res.end(JSON.stringify({ states: [] }));
    else {
      res.statusCode = 404;
      res.end(JSON.stringify({ error: { code: 404, message: 'not found' } }));
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  if (addr === null || typeof addr === 'string') throw new Error('no port');
  return { server, endpoint: `http://127.0.0.1:${addr.port}` };
}

t.test('list-machines over the API driver loads no etcd3, no gRPC, no lib/registry', async (t) => {
  const { server, endpoint } = await fakeApi();
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const r = await loaded(['--driver=API', `--endpoint=${endpoint}`, 'list-machines']);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /abcdef01.*10\.0\.0\.1/, 'the machine is listed');
  t.ok(r.urls.some((u) => u.endsWith('/fleetctl/client/http.js')), 'the hook saw the API client load');
  t.ok(r.bundled, 'run from the bundle, dist/fleetctl/quick.cjs');
  t.same(r.urls.filter((u) => u.endsWith('/fleetctl/entry.js')).length, 1, 'entry.js from the bundle');
  t.same(r.urls.filter((u) => u.endsWith('/fleetctl/main.js')), [], 'no ES module entry: the bin is main.cjs');
  t.same(heavy(r.urls), [], 'nothing of etcd3, gRPC or lib/registry');
  t.ok(r.builtins.includes('net'), 'node:net is loaded');
  t.same(r.builtins.filter((b) => /^_?http|^https$/.test(b)), [], 'node:http is not: the GET goes over node:net (fleetctl/client/raw-get.ts)');
});

const cliOnly = (urls: readonly string[]): string[] => urls.filter((u) => /\/node_modules\/yargs\/|\/fleetctl\/(cli|commands)\.js$|\/fleetctl\/commands\//.test(u) && !u.endsWith('/fleetctl/commands/version.js'));

t.test('version and the root help load neither yargs nor the command modules, and print what runCli prints', async (t) => {
  const { runCli } = await import('../../fleetctl/cli.js');
  for (const args of [[], ['version'], ['--version'], ['-v', 'list-units'], ['help'], ['help', 'help'], ['--help'], ['-h']]) {
    const r = await loaded(args);
    t.equal(r.code, 0, `fleetctl ${args.join(' ')}: exit 0`);
    t.same(cliOnly(r.urls), [], `fleetctl ${args.join(' ')}: no yargs, no command module`);
    let expected = '';
    const sink = { isTTY: false, out: (l: string) => (expected += l.endsWith('\n') ? l : `${l}\n`), err: () => undefined, write: (s: string | Buffer) => (expected += s.toString()) };
    t.equal(await runCli({ argv: args, env: {}, out: sink }), 0);
    t.equal(r.stdout, expected, `fleetctl ${args.join(' ')}: same bytes as runCli`);
  }
  const bad = await fleetctl(['version'], { env: { FLEETCTL_REQUEST_TIMEOUT: '-1' } });
  t.equal(bad.code, 1, 'a bad FLEETCTL_* variable is still refused by version');
  t.match(bad.stderr, /^Error: FLEETCTL_REQUEST_TIMEOUT="-1" /);
});

t.test('the list commands over the API load no yargs, no lib/unit index, no command module but their own', async (t) => {
  const { server, endpoint } = await fakeApi();
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  for (const args of [['list-machines'], ['--driver=API', 'list-machines', '-l', '--no-legend'], ['list-units', '--full']]) {
    const r = await loaded([`--endpoint=${endpoint}`, ...args]);
    const own = `/fleetctl/commands/${args.find((a) => a.startsWith('list-'))}.js`;
    t.ok(r.urls.some((u) => u.endsWith(own)), `fleetctl ${args.join(' ')}: its command module is loaded`);
    t.same(
      cliOnly(r.urls).filter((u) => !u.endsWith(own) && !u.endsWith('/fleetctl/commands/report.js')),
      [],
      `fleetctl ${args.join(' ')}: no yargs, no other command module`,
    );
    t.same(
      r.urls.filter((u) => u.endsWith('/lib/unit/index.js') || u.endsWith('/fleetctl/unitfile.js')),
      [],
      `fleetctl ${args.join(' ')}: no lib/unit index`,
    );
    t.same(heavy(r.urls), [], `fleetctl ${args.join(' ')}: nothing of etcd3, gRPC or lib/registry`);
  }
  const machines = await loaded([`--endpoint=${endpoint}`, 'list-machines']);
  t.equal(machines.code, 0, machines.stderr);
  t.match(machines.stdout, /abcdef01.*10\.0\.0\.1/, 'the machine is listed');
});

t.test('the static command index behind the fast root help matches COMMANDS', async (t) => {
  const { COMMANDS } = await import('../../fleetctl/commands.js');
  const { COMMAND_INDEX } = await import('../../fleetctl/root-help.js');
  t.same(
    COMMAND_INDEX.map((c) => ({ name: c.name, summary: c.summary, hidden: c.hidden === true })),
    COMMANDS.map((c) => ({ name: c.name, summary: c.summary, hidden: c.hidden === true })),
  );
});

t.test('every other command runs the full CLI from its bundle, dist/fleetctl/full.cjs, with its errors as one line', async (t) => {
  const { server, endpoint } = await fakeApi();
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  // the API answers 404 for the unit: the command's own message, from an error class of the bundle
  const cat = await loaded([`--endpoint=${endpoint}`, 'cat', 'nope.service']);
  t.equal(cat.code, 1);
  t.ok(cat.fullBundled, 'the full CLI ran from full.cjs');
  t.equal(cat.urls.filter((u) => u.endsWith('/fleetctl/cli.js')).length, 1, 'cli.js ran once: from the bundle, not also as an ES module');
  t.ok(cat.urls.some((u) => u.includes('/node_modules/yargs/')), 'yargs is loaded');
  t.same(heavy(cat.urls), [], 'the API driver: nothing of etcd3, gRPC or lib/registry');
  t.equal(cat.stderr, 'Unit nope.service not found\n');
  // the etcd driver's error passes through lib/registry and the registry client, all inside the bundle
  const etcd = await loaded(['--driver=etcd', '--endpoint=http://127.0.0.1:1', '--request-timeout=2', 'list-unit-files']);
  t.equal(etcd.code, 1);
  t.ok(etcd.fullBundled, 'the full CLI ran from full.cjs');
  t.ok(etcd.urls.some((u) => u.endsWith('/fleetctl/client/registry.js')), 'the bundle ran the registry client');
  t.ok(etcd.urls.some((u) => u.includes('/node_modules/etcd3/')), 'etcd3 is loaded');
  t.match(etcd.stderr, /^Error: cannot reach etcd at http:\/\/127\.0\.0\.1:1: [^\n]*\n$/, 'one line, the registry client\'s EndpointError recognised by the bundle\'s CLI');
});
