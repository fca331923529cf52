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
// fleetctl runs its start-up code from one bundle (dist/fleetctl/quick.cjs, scripts/bundle.mjs): at exit the hook
// adds the modules the bundle ran, as their dist/ URLs, so the list is the same as without the bundle.
const bundle = fileURLToPath(new URL('../../fleetctl/quick.cjs', import.meta.url));
writeFileSync(
  hook,
  "import { appendFileSync } from 'node:fs';\n" +
    "import { createRequire, register } from 'node:module';\n" +
    `register(${JSON.stringify(pathToFileURL(loader).href)});\n` +
    `const bundle = ${JSON.stringify(bundle)};\n` +
    "process.on('exit', () => { const m = createRequire(import.meta.url).cache[bundle]; " +
    "if (m) appendFileSync(process.env.LOADED_LIST, ['bundle', ...m.exports.bundledModulesRun()].join('\\n') + '\\n'); " +
    // and the Node built-ins loaded (node:http is not: the quick path's GETs go over node:net).
    "appendFileSync(process.env.LOADED_LIST, process.moduleLoadList.filter((n) => n.startsWith('NativeModule ')).map((n) => 'builtin:' + n.slice(13)).join('\\n') + '\\n'); });\n",
);

let runs = 0;
/** fleetctl args... with the hook; resolves with its stdout and the URLs of every module it loaded. */
async function loaded(args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string; urls: string[]; bundled: boolean; builtins: string[] }> {
  const list = path.join(dir, `loaded-${runs++}.txt`);
  writeFileSync(list, '');
  const r = await fleetctl(args, { env: { NODE_OPTIONS: `--import=${pathToFileURL(hook).href}`, LOADED_LIST: list }, child: true });
  const lines = readFileSync(list, 'utf8').split('\n').filter((l) => l !== '');
  const builtins = lines.filter((l) => l.startsWith('builtin:')).map((l) => l.slice(8));
  return { ...r, urls: lines.filter((l) => l !== 'bundle' && !l.startsWith('builtin:')), bundled: lines.includes('bundle'), builtins };
}

const heavy = (urls: readonly string[]): string[] => urls.filter((u) => /\/node_modules\/(etcd3|@grpc)\/|\/lib\/registry\//.test(u));

async function fakeApi(): Promise<{ server: Server; endpoint: string }> {
  const server = createServer((req, res) => {
    res.setHeader('content-type', 'application/json');
    if (req.url?.startsWith('/fleet/v1/machines')) res.end(JSON.stringify({ machines: [{ id: 'abcdef0123456789', primaryIP: '10.0.0.1', metadata: {} }] }));
    else if (req.url?.startsWith('/fleet/v1/state')) res.end(JSON.stringify({ states: [] }));
    else res.end(JSON.stringify({ error: { code: 404, message: 'not found' } }));
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
  t.same(r.urls.filter((u) => u.endsWith('/fleetctl/main.js') || u.endsWith('/fleetctl/entry.js')).length, 2, 'main.js as an ES module, entry.js from the bundle');
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
