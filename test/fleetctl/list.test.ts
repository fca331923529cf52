import t from 'tap';
import { startEtcd } from '../harness/etcd.js';
import { HELLO, M1, M2, M3, addMachine, publishState, scheduleUnit, startApi, submitUnit } from '../api/fixture.js';
import { fleetctl, golden } from './helpers.js';

const etcd = await startEtcd(t);
const f = await startApi(t, { etcd });
const reg = f.registry;
const p1 = await addMachine(t, reg, M1, '198.18.0.11', { region: 'eu', role: 'web' });
const p2 = await addMachine(t, reg, M2, '198.18.0.12');
await addMachine(t, reg, M3, '');
await submitUnit(reg, 'hello.service', HELLO, 'launched');
await submitUnit(reg, 'web@1.service', '[Unit]\nDescription=Web %i\n[Service]\nExecStart=/bin/echo web\n', 'loaded');
await submitUnit(reg, 'web@.service', '[Unit]\nDescription=Web %i\n[Service]\nExecStart=/bin/echo web\n');
await submitUnit(reg, 'idle.service', '[Service]\nExecStart=/bin/true\n');
await submitUnit(reg, 'global.service', '[Unit]\nDescription=Everywhere\n[Service]\nExecStart=/bin/true\n[X-Fleet]\nGlobal=true\n', 'launched');
await scheduleUnit(reg, 'hello.service', M1);
await scheduleUnit(reg, 'web@1.service', M2);
await publishState(reg, p1, 'hello.service');
await publishState(reg, p2, 'web@1.service', { agentState: 'loaded', activeState: 'inactive', subState: 'dead' });
await publishState(reg, p1, 'global.service');
await publishState(reg, p2, 'global.service', { activeState: 'failed', subState: 'failed' });

const api = { FLEETCTL_ENDPOINT: `unix://${f.socket}` };
const etcdDriver = { FLEETCTL_DRIVER: 'etcd', FLEETCTL_ENDPOINT: etcd.endpoint, FLEETCTL_ETCD_KEY_PREFIX: reg.prefix };

const cases: [string, string[]][] = [
  ['list-machines.txt', ['list-machines']],
  ['list-machines-full.txt', ['list-machines', '-l']],
  ['list-machines-fields.txt', ['list-machines', '--fields=ip,machine', '--no-legend']],
  ['list-units.txt', ['list-units']],
  ['list-units-full.txt', ['list-units', '--full']],
  ['list-units-fields.txt', ['list-units', '--fields', 'unit,load,active,sub,hash,machine']],
  ['list-units-no-legend.txt', ['list-units', '--no-legend']],
  ['list-unit-files.txt', ['list-unit-files']],
  ['list-unit-files-full.txt', ['list-unit-files', '--full']],
  ['list-unit-files-fields.txt', ['list-unit-files', '--fields=unit,global,dstate,desc']],
  ['cat-hello.txt', ['cat', 'hello']],
];

t.test('list commands and cat: golden output, same for both drivers', async (t) => {
  for (const [file, args] of cases) {
    const r = await fleetctl(args, { env: api });
    t.equal(r.code, 0, args.join(' '));
    t.equal(r.stderr, '', args.join(' '));
    golden(t, file, r.stdout);
    const e = await fleetctl(args, { env: etcdDriver });
    t.equal(e.code, 0, `etcd driver: ${args.join(' ')}`);
    t.equal(e.stdout, r.stdout, `etcd driver: ${args.join(' ')}`);
  }
});

t.test('table layout is Go tabwriter: tabs padded to multiples of 8', async (t) => {
  const r = await fleetctl(['list-units', '--fields=unit,active'], { env: api });
  t.equal(r.stdout.split('\n')[0], 'UNIT\t\tACTIVE');
  t.equal(r.stdout.split('\n')[1], 'global.service\tactive');
});

t.test('--output json', async (t) => {
  const m = await fleetctl(['list-machines', '--output', 'json'], { env: api });
  t.same(JSON.parse(m.stdout), [
    { machine: M1, ip: '198.18.0.11', metadata: { region: 'eu', role: 'web' } },
    { machine: M2, ip: '198.18.0.12', metadata: {} },
    { machine: M3, ip: null, metadata: {} },
  ]);
  const u = JSON.parse((await fleetctl(['list-units', '--output=json'], { env: api })).stdout) as Record<string, unknown>[];
  t.same(u[2], { unit: 'hello.service', machine: M1, ip: '198.18.0.11', load: 'loaded', active: 'active', sub: 'running', hash: (await reg.getUnit('hello.service'))!.hash });
  const files = JSON.parse((await fleetctl(['list-unit-files', '--output=json'], { env: api })).stdout) as Record<string, unknown>[];
  t.match(files.find((x) => x.unit === 'global.service'), { global: true, dstate: 'launched', state: null, target: null, desc: 'Everywhere' });
  t.match(files.find((x) => x.unit === 'web@1.service'), { global: false, dstate: 'loaded', state: 'loaded', target: M2, ip: '198.18.0.12', desc: 'Web %i' });
  const bad = await fleetctl(['list-units', '--output=yaml'], { env: api });
  t.equal(bad.code, 1);
  t.equal(bad.stderr, 'Invalid output format "yaml": use table or json\n');
});

t.test('field errors', async (t) => {
  const bad = await fleetctl(['list-units', '--fields=unit,bogus'], { env: api });
  t.same(bad, { code: 1, stdout: '', stderr: 'Invalid key in output format: "bogus"\n' });
  const empty = await fleetctl(['list-machines', '--fields='], { env: api });
  t.same(empty, { code: 1, stdout: '', stderr: 'Must define output format\n' });
  const tm = await fleetctl(['list-unit-files', '--fields=unit,tmachine', '--no-legend'], { env: api });
  t.equal(tm.code, 0);
  t.equal(tm.stderr, 'WARNING: The "tmachine" field is deprecated. Use "target" instead\n');
  t.match(tm.stdout, /^hello\.service\t113f16a7\.\.\.\/198\.18\.0\.11$/m);
});

t.test('cat errors', async (t) => {
  t.same(await fleetctl(['cat'], { env: api }), { code: 1, stdout: '', stderr: 'One unit file must be provided\n' });
  t.same(await fleetctl(['cat', 'a', 'b'], { env: api }), { code: 1, stdout: '', stderr: 'One unit file must be provided\n' });
  t.same(await fleetctl(['cat', 'nope'], { env: api }), { code: 1, stdout: '', stderr: 'Unit nope.service not found\n' });
});

t.test('Reschedule=on-failure (ours): list-units gains a REASON column only when such a unit failed', async (t) => {
  const before = await fleetctl(['list-units'], { env: api });
  t.notMatch(before.stdout, /REASON/);
  const text = '[Service]\nExecStart=/bin/false\n[X-Fleet]\nReschedule=on-failure\nRescheduleAttempts=1\n';
  const hash = await submitUnit(reg, 'zflaky.service', text, 'launched');
  await scheduleUnit(reg, 'zflaky.service', M2);
  await publishState(reg, p2, 'zflaky.service', { activeState: 'failed', subState: 'failed' });
  const same = await fleetctl(['list-units'], { env: api });
  t.equal(same.stdout.split('\n')[0], before.stdout.split('\n')[0], 'no failure recorded: the same columns');
  t.notMatch(same.stdout, /REASON/);
  await reg.recordFailure(p1, { name: 'zflaky.service', hash, at: '2026-01-01T00:00:00.000Z', attempts: 1 });
  await reg.recordFailure(p2, { name: 'zflaky.service', hash, at: '2026-01-01T00:01:00.000Z', attempts: 1 });
  for (const env of [api, etcdDriver]) {
    const r = await fleetctl(['list-units'], { env });
    t.equal(r.code, 0);
    const lines = r.stdout.split('\n');
    t.match(lines[0], /^UNIT\s+MACHINE\s+ACTIVE\s+SUB\s+REASON$/);
    t.match(lines.find((l) => l.startsWith('zflaky.service')), /failed\s+failed\s+gave up after 1 move: failed on \S+, \S+$/);
    t.match(lines.find((l) => l.startsWith('hello.service')), /running\s+-$/, 'other units: -');
  }
  const j = JSON.parse((await fleetctl(['list-units', '--output=json'], { env: api })).stdout) as Record<string, unknown>[];
  t.match(j.find((x) => x.unit === 'zflaky.service'), { reschedule: { gaveUp: true, reason: /gave up/ } });
  t.notOk('reschedule' in j.find((x) => x.unit === 'hello.service')!, 'absent for units without it');
  const fields = await fleetctl(['list-units', '--fields=unit,active', '--no-legend'], { env: api });
  t.notMatch(fields.stdout, /gave up/, 'explicit --fields: no extra column');
});
