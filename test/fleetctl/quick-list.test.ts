/**
 * The quick path of the list commands (fleetctl/quick-list.ts, issue 13) against the full CLI (cli.ts's runCli):
 * for a table of command lines and FLEETCTL_* environments over the same API server, main.ts's order (quick path,
 * then the full CLI when it declines) gives the same stdout, stderr, exit status and error as the full CLI alone,
 * and the quick path takes exactly the command lines it is meant to take.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { runCli } from '../../fleetctl/cli.js';
import type { Output } from '../../fleetctl/output.js';
import { quickList } from '../../fleetctl/quick-list.js';
import { errorMessage } from '../../lib/errors.js';

const M1 = 'abcdef0123456789abcdef0123456789';
const M2 = '0123456789abcdef0123456789abcdef';
const HASH = 'f'.repeat(40);

const machines = [
  { id: M1, primaryIP: '10.0.0.1', metadata: { region: 'eu', disk: 'ssd' } },
  { id: M2, primaryIP: '10.0.0.2' },
];
const states = [
  { name: 'a.service', hash: HASH, machineID: M1, systemdLoadState: 'loaded', systemdActiveState: 'active', systemdSubState: 'running' },
  { name: 'b.service', hash: HASH, machineID: M2, systemdLoadState: 'loaded', systemdActiveState: 'failed', systemdSubState: 'failed', reschedule: { gaveUp: false, reason: 'failed on 01234567' } },
];
const opts = (desc: string, extra: { section: string; name: string; value: string }[] = []): { section: string; name: string; value: string }[] => [
  { section: 'Unit', name: 'Description', value: desc },
  { section: 'Service', name: 'ExecStart', value: '/bin/sleep 1000' },
  ...extra,
];
const units = [
  { name: 'a.service', options: opts('the a unit'), desiredState: 'launched', currentState: 'launched', machineID: M1 },
  { name: 'g.service', options: opts('global', [{ section: 'X-Fleet', name: 'Global', value: 'true' }]), desiredState: 'launched' },
  { name: 'z.service', options: opts('not scheduled'), desiredState: 'inactive' },
];

async function listen(handler: Parameters<typeof createServer>[1]): Promise<{ server: Server; endpoint: string }> {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

interface Outcome {
  stdout: string;
  stderr: string;
  code?: number;
  thrown?: string;
}

/** Runs `fn` over a capturing Output; a thrown error is recorded by class and message (main.ts prints it). */
async function outcome(fn: (out: Output) => Promise<number>): Promise<Outcome> {
  const r: Outcome = { stdout: '', stderr: '' };
  const nl = (s: string): string => (s.endsWith('\n') ? s : `${s}\n`);
  const out: Output = { isTTY: false, out: (l) => (r.stdout += nl(l)), err: (l) => (r.stderr += nl(l)), write: (s) => (r.stdout += s.toString()) };
  try {
    r.code = await fn(out);
  } catch (err) {
    r.thrown = `${(err as Error).constructor.name}: ${errorMessage(err)}`;
  }
  return r;
}

t.test('the quick path prints what the full CLI prints, and declines what it does not fully understand', async (t) => {
  const api = await listen((req, res) => {
    res.setHeader('content-type', 'application/json');
    const url = req.url ?? '';
    if (url.startsWith('/fleet/v1/machines')) res.end(JSON.stringify({ machines }));
    else if (url.startsWith('/fleet/v1/state')) res.end(JSON.stringify({ states }));
    else if (url.startsWith('/fleet/v1/units')) res.end(JSON.stringify({ units }));
    else res.end(JSON.stringify({ error: { code: 404, message: 'not found' } }));
  });
  const broken = await listen((_req, res) => {
    res.statusCode = 500;
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ error: { code: 500, message: 'etcd is gone' } }));
  });
  const closed = await listen(() => undefined);
  await new Promise<void>((resolve) => closed.server.close(() => resolve()));
  t.teardown(async () => {
    for (const s of [api.server, broken.server]) await new Promise<void>((resolve) => s.close(() => resolve()));
  });
  const EP = api.endpoint;
  const env = { FLEETCTL_ENDPOINT: EP };

  // [argv, environment, does the quick path take it?]
  const table: [string[], Record<string, string>, boolean][] = [
    [['list-machines'], env, true],
    [['--endpoint', EP, 'list-machines'], {}, true],
    [[`--endpoint=${EP}`, 'list-machines', '--no-legend'], {}, true],
    [['list-machines', `--endpoint=${EP}`, '-l'], {}, true],
    [['--full', 'list-machines'], env, true],
    [['list-machines', '--full=false', '--no-legend=true'], env, true],
    [['list-machines', '--fields=ip,machine'], env, true],
    [['list-machines', '--fields', 'metadata'], env, true],
    [['list-machines', '--fields=bogus'], env, true],
    [['list-machines', '--output=json'], env, true],
    [['--driver=API', 'list-machines'], env, true],
    [['--driver', 'api', '--request-timeout=5', 'list-machines'], env, true],
    [['list-machines', '--request-timeout', '2.5', '--ssh-timeout=3', '--ssh-username=me', '--strict-host-key-checking=false'], env, true],
    [['list-machines', '--known-hosts-file=/nowhere', '--etcd-key-prefix=/x/', '--api-token=tok', '--experimental-api=true'], env, true],
    [['list-machines', '--ca-file=/nowhere/ca.pem'], env, true],
    [['list-machines'], { ...env, FLEETCTL_REQUEST_TIMEOUT: '4', FLEETCTL_STRICT_HOST_KEY_CHECKING: 'false' }, true],
    [['list-machines'], { FLEETCTL_ENDPOINT: broken.endpoint }, true],
    [['list-machines'], { FLEETCTL_ENDPOINT: closed.endpoint }, true],
    [['list-machines', '--endpoint='], {}, true],
    [['list-machines', '--endpoint=unix:///nowhere/fleet.sock'], {}, true],
    [['list-units'], env, true],
    [['list-units', '--no-legend', '--full'], env, true],
    [['list-units', '-l', '--fields=unit,hash,load,active,sub,machine,reason'], env, true],
    [['list-units', '--fields='], env, true],
    [['list-units', '--output=yaml'], env, true],
    [['list-units', '--output', 'json'], env, true],
    [['list-units'], { FLEETCTL_ENDPOINT: broken.endpoint }, true],
    [['list-unit-files'], env, true],
    [['list-unit-files', '--full', '--fields=unit,global,dstate,target,state,hash,desc'], env, true],
    [['list-unit-files', '--fields=unit,tmachine'], env, true],
    [['list-unit-files', '--output=json', '--no-legend'], env, true],
    // left to the full CLI
    [['list-unit-files', '-l'], env, false],
    [['list-m'], env, false],
    [['list-machines', 'extra'], env, false],
    [['list-machines', '--bogus'], env, false],
    [['list-machines', '--full', '--full'], env, false],
    [['list-machines', '--full', 'true'], env, false],
    [['list-machines', '--no-legend=yes'], env, false],
    [['list-machines', '-lx'], env, false],
    [['list-machines', '--help'], env, false],
    [['list-machines', '-h'], env, false],
    [['list-machines', '--'], env, false],
    [['list-machines', '--endpoint'], {}, false],
    [['list-machines', '--fields', '--full'], env, false],
    [['list-machines', '--request-timeout=-1'], env, false],
    [['list-machines', '--request-timeout=abc'], env, false],
    [['list-machines'], { ...env, FLEETCTL_REQUEST_TIMEOUT: 'abc' }, false],
    [['list-machines'], { ...env, FLEETCTL_STRICT_HOST_KEY_CHECKING: 'maybe' }, false],
    [['--driver=bogus', 'list-machines'], env, false],
    [['list-machines'], { ...env, FLEETCTL_DRIVER: 'nope' }, false],
    [['--driver=etcd', `--endpoint=${closed.endpoint}`, '--request-timeout=1', 'list-machines'], {}, false],
    [['list-machines', '--lines=3'], env, false],
    [['status', 'list-machines'], env, false],
  ];
  for (const [argv, e, quick] of table) {
    const name = `${Object.entries(e).map(([k, v]) => `${k}=${v} `).join('')}fleetctl ${argv.join(' ')}`;
    const full = await outcome((out) => runCli({ argv, env: e, out }));
    const ours = await outcome(async (out) => (await quickList(argv, e, out)) ?? runCli({ argv, env: e, out }));
    const alone = await outcome(async (out) => (await quickList(argv, e, out)) ?? -1);
    const took = alone.code !== -1;
    t.same(ours, full, `${name}: same output, status and error as the full CLI`);
    t.equal(took, quick, `${name}: ${quick ? 'taken by' : 'left by'} the quick path`);
  }
});
