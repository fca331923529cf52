/**
 * A unit's whole life driven by fleetctl through fleetd's TCP API on a real 3-machine lab: submit, load,
 * start, cat, status, journal, stop, restart, unload, destroy, the list commands, templates and
 * `start --replace`, each checked against systemd inside the machine the unit landed on.
 * One lab for every test here: boots are the expensive part.
 */
import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compareStrings } from '../../lib/compare.js';
import { shortHash } from '../../lib/unit/index.js';
import { API_PORT } from '../../lab/endpoint.js';
import { fleetctl as runFleetctl, type Run } from '../fleetctl/helpers.js';
import { startLab, type MachineInfo } from '../harness/lab.js';
import { eventually, listUnits, rows, type UnitRow } from '../examples/helpers.js';

const UNITS_DIR = '/run/fleet/units';
const WAIT = 90_000;

const lab = await startLab(t, { machines: 3, agentTtl: '5s', prefix: 'lc' });
const machines: MachineInfo[] = await lab.machines();
const work = mkdtempSync(join(tmpdir(), 'fleetctl-lab-'));
t.teardown(() => rmSync(work, { recursive: true, force: true }));

const fleetctl = (...args: string[]): Promise<Run> =>
  runFleetctl(args, { env: { ...lab.env }, cwd: work, timeoutMs: 180_000 });
const units = (): Promise<UnitRow[]> => listUnits(fleetctl, machines);
const legendRe = /[0-9a-f]{8}\.\.\.\/198\.1[89]\.\d+\.\d+/;

const serviceText = (word: string): string =>
  ['[Unit]', `Description=lifecycle ${word}`, '', '[Service]', `ExecStart=/bin/sh -c 'echo ${word} from $(hostname); exec sleep 100000'`, ''].join('\n');

/** list-unit-files rows keyed by unit: [unit, hash, dstate, state, target]. */
async function unitFiles(): Promise<Map<string, string[]>> {
  const r = await fleetctl('list-unit-files', '--full', '--no-legend', '--fields=unit,hash,dstate,state,target');
  if (r.code !== 0) throw new Error(`list-unit-files: exit ${r.code}: ${r.stderr}`);
  return new Map(rows(r.stdout).map((x) => [x[0]!, x]));
}

async function rowOf(unit: string, active?: string): Promise<UnitRow> {
  return eventually(`${unit} in list-units${active ? ` ${active}` : ''}`, async () => {
    const mine = (await units()).filter((u) => u.unit === unit);
    if (mine.length === 1 && mine[0]!.machine.startsWith('m') && (!active || mine[0]!.active === active)) return mine[0];
    throw new Error(`list-units shows ${JSON.stringify(mine)}`);
  }, WAIT);
}

const show = async (machine: string, unit: string, prop: string): Promise<string> =>
  (await lab.exec(machine, ['systemctl', 'show', '-p', prop, '--value', unit])).stdout.trim();
const isActive = async (machine: string, unit: string): Promise<string> =>
  (await lab.exec(machine, ['systemctl', 'is-active', unit])).stdout.trim();
const fileThere = async (machine: string, unit: string): Promise<boolean> =>
  (await lab.exec(machine, ['test', '-e', `${UNITS_DIR}/${unit}`])).code === 0;

const U = 'life.service';
let home = '';

t.test('list-machines: the three machines, their addresses, no metadata', async (t) => {
  t.same(lab.env, { FLEETCTL_ENDPOINT: `http://${machines[0]!.ip}:${API_PORT}`, FLEETCTL_DRIVER: 'API' });
  const listed = await eventually('3 machines in list-machines', async () => {
    const r = await fleetctl('list-machines', '--full', '--no-legend');
    if (r.code === 0 && rows(r.stdout).length === 3) return r;
    throw new Error(`exit ${r.code}: ${r.stdout}${r.stderr}`);
  }, WAIT);
  t.same(
    rows(listed.stdout).sort((a, b) => compareStrings(a[0]!, b[0]!)),
    [...machines].sort((a, b) => compareStrings(a.machineId, b.machineId)).map((m) => [m.machineId, m.ip, '-']),
  );
  const legend = await fleetctl('list-machines');
  t.equal(legend.code, 0, legend.stderr);
  t.same(rows(legend.stdout)[0], ['MACHINE', 'IP', 'METADATA'], 'header');
  t.same(
    rows(legend.stdout).slice(1).map((r) => r[0]).sort(),
    machines.map((m) => `${m.machineId.slice(0, 8)}...`).sort(),
    'short machine ids without --full',
  );
});

t.test('submit: the unit is known to the cluster, inactive, on no machine', async (t) => {
  writeFileSync(join(work, U), serviceText('one'));
  const r = await fleetctl('submit', U);
  t.equal(r.code, 0, r.stderr);
  const f = (await unitFiles()).get(U);
  t.ok(f, 'listed by list-unit-files');
  t.same([f?.[2], f?.[3], f?.[4]], ['inactive', 'inactive', '-'], 'dstate, state, target');
  t.match(f?.[1] ?? '', /^[0-9a-f]{40}$/, 'a full sha1 hash with --full');
  const files = await fleetctl('list-unit-files');
  t.same(rows(files.stdout)[0], ['UNIT', 'HASH', 'DSTATE', 'STATE', 'TARGET'], 'header');
  t.same(rows(files.stdout).find((x) => x[0] === U)?.[1], f?.[1] === undefined ? undefined : shortHash(f[1]), 'short hash without --full');
  t.notOk((await units()).some((u) => u.unit === U), 'not in list-units');
});

t.test('load: loaded on one machine, its file in /run/fleet/units, not started', async (t) => {
  const r = await fleetctl('load', U);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, new RegExp(`^Unit ${U.replace('.', '\\.')} loaded on ${legendRe.source}$`, 'm'));
  const row = await rowOf(U);
  home = row.machine;
  t.equal(row.active, 'inactive', 'list-units: inactive');
  const f = (await unitFiles()).get(U)!;
  t.same([f[2], f[3]], ['loaded', 'loaded']);
  const m = machines.find((x) => x.name === home)!;
  t.equal(f[4], `${m.machineId}/${m.ip}`, 'target is the machine list-units names');
  t.ok(await fileThere(home, U), `${UNITS_DIR}/${U} on ${home}`);
  t.equal(await show(home, U, 'LoadState'), 'loaded', 'systemd loaded it');
  t.equal(await isActive(home, U), 'inactive', 'not started');
});

let firstPid = '';
t.test('start: launched, active (running) in systemd', async (t) => {
  const r = await fleetctl('start', U);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, new RegExp(`^Unit ${U.replace('.', '\\.')} launched on ${legendRe.source}$`, 'm'));
  const row = await rowOf(U, 'active');
  t.equal(row.machine, home, 'stays on the machine it was loaded on');
  t.equal(row.sub, 'running');
  t.equal(await isActive(home, U), 'active');
  firstPid = await show(home, U, 'MainPID');
  t.not(firstPid, '0', 'a main process');
  t.same((await unitFiles()).get(U)?.slice(2, 4), ['launched', 'launched']);
  const lu = await fleetctl('list-units');
  t.equal(lu.code, 0, lu.stderr);
  t.same(rows(lu.stdout)[0], ['UNIT', 'MACHINE', 'ACTIVE', 'SUB'], 'list-units header');
  t.same(rows(lu.stdout).find((x) => x[0] === U)?.slice(2), ['active', 'running']);
});

t.test('cat: prints the unit as submitted', async (t) => {
  const r = await fleetctl('cat', U);
  t.equal(r.code, 0, r.stderr);
  t.equal(r.stdout.trim(), serviceText('one').trim());
  const inside = await lab.exec(home, ['systemctl', 'cat', U]);
  t.match(inside.stdout, "ExecStart=/bin/sh -c 'echo one from $(hostname); exec sleep 100000'", 'systemd has the same');
});

t.test('status: systemctl status from the machine, exit 0', async (t) => {
  const r = await fleetctl('status', U);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, U);
  t.match(r.stdout, /Active: active \(running\)/);
  t.match(r.stdout, `Main PID: ${firstPid}`, "the MainPID systemd reports on the unit's machine");
});

t.test("journal: the unit's output", async (t) => {
  const host = (await lab.exec(home, ['hostname'])).stdout.trim();
  const out = await eventually('output in fleetctl journal', async () => {
    const r = await fleetctl('journal', '--lines', '20', U);
    if (r.code === 0 && r.stdout.includes(`one from ${host}`)) return r.stdout;
    throw new Error(`exit ${r.code}: ${r.stdout}${r.stderr}`);
  }, WAIT);
  t.match(out, `one from ${host}`, `written on ${home}`);
});

t.test('stop: loaded, the process is gone', async (t) => {
  const r = await fleetctl('stop', U);
  t.equal(r.code, 0, r.stderr);
  t.equal(r.stderr, `Successfully stopped units [${U}].\n`);
  t.match(r.stdout, new RegExp(`^Unit ${U.replace('.', '\\.')} loaded on ${legendRe.source}$`, 'm'));
  await eventually('inactive in systemd', async () => ((await isActive(home, U)) === 'inactive' ? true : undefined), WAIT);
  t.equal(await show(home, U, 'MainPID'), '0', 'no main process');
  t.equal((await lab.exec(home, ['kill', '-0', firstPid])).code === 0 ? 'alive' : 'gone', 'gone', `pid ${firstPid} is gone`);
  t.same((await unitFiles()).get(U)?.slice(2, 4), ['loaded', 'loaded']);
  t.ok(await fileThere(home, U), 'the file stays while loaded');
});

t.test('restart: a new MainPID', async (t) => {
  const s = await fleetctl('start', U);
  t.equal(s.code, 0, s.stderr);
  await rowOf(U, 'active');
  const before = await show(home, U, 'MainPID');
  t.not(before, '0');
  const r = await fleetctl('restart', U);
  t.equal(r.code, 0, r.stderr);
  const after = await eventually('a new MainPID', async () => {
    const p = await show(home, U, 'MainPID');
    return p !== '0' && p !== before ? p : undefined;
  }, WAIT);
  t.not(after, before, `MainPID ${before} -> ${after}`);
  t.equal(await isActive(home, U), 'active');
});

t.test('unload: inactive, the file is gone from the machine', async (t) => {
  const r = await fleetctl('unload', U);
  t.equal(r.code, 0, r.stderr);
  t.equal(r.stderr, `Successfully unloaded units [${U}].\n`);
  t.match(r.stdout, new RegExp(`^Unit ${U.replace('.', '\\.')} inactive$`, 'm'));
  await eventually('file removed', async () => ((await fileThere(home, U)) ? undefined : true), WAIT);
  t.notOk(await fileThere(home, U), `${UNITS_DIR}/${U} removed on ${home}`);
  t.not(await isActive(home, U), 'active', 'not running');
  t.same((await unitFiles()).get(U)?.slice(2, 5), ['inactive', 'inactive', '-']);
  await eventually('gone from list-units', async () => ((await units()).some((u) => u.unit === U) ? undefined : true), WAIT);
});

t.test('destroy: gone from the cluster and from the machine', async (t) => {
  const s = await fleetctl('start', U);
  t.equal(s.code, 0, s.stderr);
  const row = await rowOf(U, 'active');
  const r = await fleetctl('destroy', U);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, `Destroyed ${U}`);
  t.notOk((await unitFiles()).has(U), 'not in list-unit-files');
  await eventually('gone from the machine', async () =>
    !(await fileThere(row.machine, U)) && (await isActive(row.machine, U)) !== 'active' ? true : undefined, WAIT);
  t.notOk(await fileThere(row.machine, U), 'file removed');
  t.equal(await show(row.machine, U, 'LoadState'), 'not-found', 'systemd no longer knows it');
  await eventually('gone from list-units', async () => ((await units()).some((u) => u.unit === U) ? undefined : true), WAIT);
  const again = await fleetctl('status', U);
  t.not(again.code, 0, 'status of a destroyed unit fails');
});

t.test('templates: start foo@1 foo@2 from a local foo@.service', async (t) => {
  writeFileSync(
    join(work, 'foo@.service'),
    ['[Service]', "ExecStart=/bin/sh -c 'echo instance %i; exec sleep 100000'", ''].join('\n'),
  );
  const r = await fleetctl('start', 'foo@1', 'foo@2');
  t.equal(r.code, 0, r.stderr);
  for (const n of [1, 2]) t.match(r.stdout, new RegExp(`^Unit foo@${n}\\.service launched on ${legendRe.source}$`, 'm'));
  const files = await unitFiles();
  t.same(files.get('foo@1.service')?.slice(2, 4), ['launched', 'launched']);
  t.same(files.get('foo@2.service')?.slice(2, 4), ['launched', 'launched']);
  t.notOk(files.has('foo@.service'), 'the template itself is not submitted');
  for (const n of [1, 2]) {
    const row = await rowOf(`foo@${n}.service`, 'active');
    t.equal(await isActive(row.machine, `foo@${n}.service`), 'active', `foo@${n} active on ${row.machine}`);
    const cat = await lab.exec(row.machine, ['systemctl', 'cat', `foo@${n}.service`]);
    t.match(cat.stdout, "ExecStart=/bin/sh -c 'echo instance %i; exec sleep 100000'", 'the template content');
    const fc = await fleetctl('cat', `foo@${n}.service`);
    t.equal(fc.code, 0, fc.stderr);
    t.match(fc.stdout, 'echo instance %i');
  }
  const d = await fleetctl('destroy', 'foo@1.service', 'foo@2.service');
  t.equal(d.code, 0, d.stderr);
});

t.test('start --replace: the running unit gets the new content', async (t) => {
  const R = 'repl.service';
  writeFileSync(join(work, R), serviceText('old'));
  const s = await fleetctl('start', R);
  t.equal(s.code, 0, s.stderr);
  const row = await rowOf(R, 'active');
  const oldHash = (await unitFiles()).get(R)![1]!;
  const oldPid = await show(row.machine, R, 'MainPID');
  t.not(oldPid, '0');

  writeFileSync(join(work, R), serviceText('new'));
  const plain = await fleetctl('start', R);
  t.equal(plain.code, 0, plain.stderr);
  t.match(plain.stderr, `Unit ${R} in registry differs from local unit file ${R}. Add --replace to override.`, 'fleet warns');
  t.equal((await unitFiles()).get(R)![1], oldHash, 'without --replace the cluster keeps the old file');

  const r = await fleetctl('start', '--replace', R);
  t.equal(r.code, 0, r.stderr);
  const newHash = (await unitFiles()).get(R)![1]!;
  t.not(newHash, oldHash, `list-unit-files: hash ${shortHash(oldHash)} -> ${shortHash(newHash)}`);
  const cat = await fleetctl('cat', R);
  t.equal(cat.stdout.trim(), serviceText('new').trim(), 'fleetctl cat shows the new file');

  const now = await rowOf(R, 'active');
  const newPid = await eventually('a new MainPID running the new ExecStart', async () => {
    const inside = await lab.exec(now.machine, ['systemctl', 'cat', R]);
    const p = await show(now.machine, R, 'MainPID');
    return inside.stdout.includes('echo new from') && p !== '0' && p !== oldPid ? p : undefined;
  }, WAIT);
  t.not(newPid, oldPid, `MainPID ${oldPid} -> ${newPid}`);
  const inside = await lab.exec(now.machine, ['systemctl', 'cat', R]);
  t.match(inside.stdout, "ExecStart=/bin/sh -c 'echo new from $(hostname); exec sleep 100000'", 'systemctl cat: new ExecStart');
  t.notMatch(inside.stdout, 'echo old from', 'and not the old one');
  t.equal(await isActive(now.machine, R), 'active');
  await eventually('list-units reports the new hash', async () => {
    const lu = await fleetctl('list-units', '--full', '--no-legend', '--fields=unit,hash,active');
    const x = rows(lu.stdout).find((y) => y[0] === R);
    return x?.[1] === newHash && x[2] === 'active' ? x : undefined;
  }, WAIT);
  t.pass('list-units: the new hash, active');
  const d = await fleetctl('destroy', R);
  t.equal(d.code, 0, d.stderr);
});
