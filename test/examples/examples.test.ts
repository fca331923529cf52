/**
 * The example units we ship (units/examples), started with fleetctl through fleetd's TCP API on a real
 * 3-machine lab (m1, m2 role=worker; m3 role=edge; Docker) whose machines were bootstrapped by
 * cloud-config. One lab for every test here: boots are the expensive part.
 */
import t, { type Test } from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { compareStrings } from '../../lib/compare.js';
import { cloudConfigBootstrap, CLOUDINIT, machineFiles, USER_DATA_PATH } from '../../lab/bootstrap.js';
import { API_PORT } from '../../lab/endpoint.js';
import { LabError } from '../../lab/errors.js';
import { FLEET_DROP_IN } from '../../lab/user-data.js';
import { startLab, type MachineInfo } from '../harness/lab.js';
import { eventually, labFleetctl, listUnits, rows, sleep, type UnitRow } from './helpers.js';
import { errorMessage } from '../../lib/errors.js';

const METADATA = { m1: 'role=worker', m2: 'role=worker', m3: 'role=edge' } as const;
const AGENT_TTL = '10s';

const lab = await startLab(t, { machines: 3, docker: true, metadata: METADATA, agentTtl: AGENT_TTL, prefix: 'ex' });
const machines: MachineInfo[] = await lab.machines();
const byName = (name: string): MachineInfo => machines.find((m) => m.name === name)!;
const fleetctl = labFleetctl(lab);
const units = (): Promise<UnitRow[]> => listUnits(fleetctl, machines);

const fleetdPid = async (machine: string): Promise<string> =>
  (await lab.exec(machine, ['systemctl', 'show', '-p', 'MainPID', '--value', 'fleet.service'])).stdout.trim();

/** Rows of `unit` once they are all active/running and there are `count` of them. */
async function running(unit: string, count = 1): Promise<UnitRow[]> {
  return eventually(`${count} × ${unit} active/running in fleetctl list-units`, async () => {
    const mine = (await units()).filter((u) => u.unit === unit);
    if (mine.length === count && mine.every((u) => u.active === 'active' && u.sub === 'running')) return mine;
    throw new Error(`list-units shows ${JSON.stringify(mine)}`);
  });
}

/** `fleetctl journal` of a unit, once it contains `text`. */
async function journalShows(unit: string, text: string): Promise<string> {
  return eventually(`"${text}" in fleetctl journal ${unit}`, async () => {
    const r = await fleetctl('journal', '--lines', '20', unit);
    if (r.code === 0 && r.stdout.includes(text)) return r.stdout;
    throw new Error(`exit ${r.code}: ${r.stdout}${r.stderr}`);
  }, 30_000);
}

/** What a stuck unit's machine says about it, and dockerd's log: printed when a Docker unit does not come up. */
async function diagnose(t: Test, rows: readonly UnitRow[]): Promise<void> {
  for (const u of rows) {
    if (u.active === 'active' && u.sub === 'running') continue;
    if (!machines.some((m) => m.name === u.machine)) continue;
    const status = await lab.exec(u.machine, ['systemctl', 'status', '--no-pager', '--full', '--lines=30', u.unit]).catch((e: unknown) => ({ stdout: String(e), stderr: '' }));
    const ps = await lab.exec(u.machine, ['ps', '-eo', 'pid,ppid,etimes,stat,wchan:24,args']).catch((e: unknown) => ({ stdout: String(e), stderr: '' }));
    t.comment(`${u.unit} on ${u.machine}:\n${status.stdout}${status.stderr}\nprocesses:\n${ps.stdout}`);
  }
  const log = (await lab.lab.state())?.docker?.log;
  if (log) t.comment(`dockerd log (last 40 lines):\n${readFileSync(log, 'utf8').split('\n').slice(-40).join('\n')}`);
}

t.test('the machines were bootstrapped by cloud-config and fleetctl reaches them over the TCP API', async (t) => {
  t.same(lab.warnings, [], 'up reported no problem');
  const m1 = byName('m1');
  t.same(lab.env, { FLEETCTL_ENDPOINT: `http://${m1.ip}:${API_PORT}`, FLEETCTL_DRIVER: 'API' });

  // `up` returns once fleet.service started; fleetd registers a moment later
  const listed = await eventually('3 machines in fleetctl list-machines', async () => {
    const r = await fleetctl('list-machines', '--full', '--no-legend');
    if (r.code === 0 && rows(r.stdout).length === 3) return r;
    throw new Error(`exit ${r.code}: ${r.stdout}${r.stderr}`);
  }, 30_000);
  t.same(
    rows(listed.stdout).sort((a, b) => compareStrings(a[1]!, b[1]!)),
    machines.map((m) => [m.machineId, m.ip, METADATA[m.name as keyof typeof METADATA]]),
    'every machine, its address and metadata (from coreos.fleet)',
  );

  const fleetUnit = readFileSync(join(lab.lab.projectDir, 'units', 'fleet.service'), 'utf8');
  for (const m of machines) {
    const inside = await lab.exec(m.name, ['cat', USER_DATA_PATH]);
    t.equal(inside.code, 0, inside.stderr);
    t.match(inside.stdout, /^#cloud-config\n/, `${m.name}: user-data in the machine`);
    t.match(inside.stdout, 'public_ip: $public_ipv4', 'addresses are left to coreos-cloudinit');
    t.equal(readFileSync(join(lab.stateDir, 'machines', m.name, 'user-data'), 'utf8'), inside.stdout, 'a copy in the state dir');

    const written = await lab.sh(m.name, `cat ${FLEET_DROP_IN}; echo ---; cat /etc/fleet/fleet.conf; echo ---; cat /etc/systemd/system/fleet.service`);
    t.equal(written.code, 0, written.stderr);
    const [dropIn, conf, unit] = written.stdout.split('---\n');
    t.equal(
      dropIn,
      [
        '[Service]',
        `Environment="FLEET_AGENT_TTL=${AGENT_TTL}"`,
        `Environment="FLEET_ETCD_SERVERS=${lab.etcdUrl}"`,
        `Environment="FLEET_METADATA=${METADATA[m.name as keyof typeof METADATA]}"`,
        `Environment="FLEET_PUBLIC_IP=${m.ip}"`,
        '',
      ].join('\n'),
      `${m.name}: coreos.fleet became fleet.service's drop-in`,
    );
    t.match(conf, new RegExp(`^api_listen=${m.ip.replace(/\./g, '\\.')}:${API_PORT}$`, 'm'), 'write_files: fleet.conf with the TCP API');
    t.equal(unit, fleetUnit, 'coreos.units: fleet.service is units/fleet.service');
  }

  const etcdEnv = await lab.cli(['env', '--etcd']);
  t.equal(etcdEnv.stdout, `export FLEETCTL_ENDPOINT=${lab.etcdUrl}\nexport FLEETCTL_DRIVER=etcd\n`, 'the etcd variant');
  const viaEtcd = await labFleetctl(lab, { FLEETCTL_ENDPOINT: lab.etcdUrl, FLEETCTL_DRIVER: 'etcd' })('list-machines', '--no-legend');
  t.equal(viaEtcd.code, 0, viaEtcd.stderr);
  t.equal(rows(viaEtcd.stdout).length, 3, 'fleetctl --driver=etcd sees the same 3 machines');
});

t.test('a second up changes nothing; a bad document names the machine and shows cloud-config\'s messages', async (t) => {
  const before = await Promise.all(machines.map((m) => fleetdPid(m.name)));
  const again = await lab.cli(['up', '--machines', '3', '--docker']);
  t.equal(again.code, 0, again.stderr);
  t.equal(again.stderr, '', 'no warnings');
  t.same(await Promise.all(machines.map((m) => fleetdPid(m.name))), before, 'no fleetd was restarted');

  const m3 = byName('m3');
  const ctx = {
    cluster: lab.name,
    machineDir: join(lab.stateDir, 'machines', 'm3'),
    exec: (argv: readonly string[], o?: { timeoutMs?: number }) => lab.exec('m3', argv, o),
    machine: { name: 'm3', ip: m3.ip, machineId: m3.machineId, metadata: 'role=edge\nfloor=2' },
    busAddress: m3.busAddress!,
    etcdServers: [lab.etcdUrl],
    agentTtl: AGENT_TTL,
    projectDir: lab.lab.projectDir,
    ...machineFiles(m3.root),
  };
  const err = await cloudConfigBootstrap(ctx).then(
    () => undefined,
    (e: unknown) => e,
  );
  t.type(err, LabError);
  const message = errorMessage(err);
  t.match(message, /^cloud-config on m3 failed \(exit 1: the document is invalid or unreadable; nothing was changed\):/);
  t.match(message, /error: coreos\.fleet\.metadata: must be a single line \(line \d+, column \d+\)/, "cloud-config's own message");
  t.match(message, `run it again: fleet-lab --name ${lab.name} exec m3 -- node ${CLOUDINIT} --from-file ${USER_DATA_PATH}`);
  t.equal(await fleetdPid('m3'), before[2], 'fleetd on m3 untouched');

  await cloudConfigBootstrap({ ...ctx, machine: { ...ctx.machine, metadata: METADATA.m3 } });
  t.equal(await fleetdPid('m3'), before[2], 'the good document again: nothing to restart');

  const m3Metadata = (want: string) =>
    eventually(`m3 listed with ${want}`, async () => {
      const r = await fleetctl('list-machines', '--full', '--no-legend');
      const row = rows(r.stdout).find((x) => x[0] === m3.machineId);
      if (row?.[2] === want) return row;
      throw new Error(`exit ${r.code}: ${r.stdout}${r.stderr}`);
    }, 30_000);
  await cloudConfigBootstrap({ ...ctx, machine: { ...ctx.machine, metadata: 'role=edge,floor=2' } });
  const restarted = await fleetdPid('m3');
  t.not(restarted, before[2], 'a changed document restarts fleetd (its FLEET_* variables are read at start)');
  await m3Metadata('floor=2,role=edge');
  await cloudConfigBootstrap({ ...ctx, machine: { ...ctx.machine, metadata: METADATA.m3 } });
  t.not(await fleetdPid('m3'), restarted, 'and back');
  await m3Metadata(METADATA.m3);
});

t.test('hello.service runs and fleetctl status and journal show it', async (t) => {
  const r = await fleetctl('start', 'hello.service');
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /^Unit hello\.service launched on [0-9a-f]{8}\.\.\.\/198\.18\./m);
  const [row] = await running('hello.service');
  const status = await fleetctl('status', 'hello.service');
  t.equal(status.code, 0, status.stderr);
  t.match(status.stdout, /Active: active \(running\)/);
  t.match(status.stdout, 'Hello from fleet');
  await journalShows('hello.service', `Hello from ${row!.machine}`);
  t.pass(`journal shows "Hello from ${row!.machine}", the machine list-units names`);
});

t.test('web@1..4: Docker containers on distinct machines (Conflicts); the 4th waits for a 4th machine', async (t) => {
  const r = await fleetctl('start', '--no-block', 'web@1.service', 'web@2.service', 'web@3.service', 'web@4.service');
  t.equal(r.code, 0, r.stderr);
  const placed = await eventually('web@1..3 active/running', async () => {
    const web = (await units()).filter((u) => u.unit.startsWith('web@'));
    const up = web.filter((u) => u.active === 'active' && u.sub === 'running');
    if (up.length === 3) return web;
    throw new Error(`list-units shows ${JSON.stringify(web)}`);
  }, 90_000).catch(async (err: unknown) => {
    await diagnose(t, (await units().catch(() => [])).filter((u) => u.unit.startsWith('web@')));
    throw err;
  });
  t.same(placed.map((u) => u.unit).sort(), ['web@1.service', 'web@2.service', 'web@3.service']);
  t.same(placed.map((u) => u.machine).sort(), ['m1', 'm2', 'm3'], 'one per machine');

  await sleep(3000);
  const files = await fleetctl('list-unit-files', '--no-legend', '--fields=unit,dstate,state,target');
  t.equal(files.code, 0, files.stderr);
  t.same(rows(files.stdout).find((f) => f[0] === 'web@4.service'), ['web@4.service', 'launched', 'inactive', '-'], 'web@4 stays unscheduled');
  t.notOk((await units()).some((u) => u.unit === 'web@4.service'), 'and is on no machine');

  const ps = await lab.exec('m1', ['docker', 'ps', '--format', '{{.Names}}']);
  t.equal(ps.code, 0, ps.stderr);
  t.same(ps.stdout.split('\n').filter((n) => /^web-\d+$/.test(n)).sort(), ['web-1', 'web-2', 'web-3'], 'three real containers');

  for (const u of placed) {
    const n = /^web@(\d+)/.exec(u.unit)![1]!;
    const status = await fleetctl('status', u.unit);
    t.equal(status.code, 0, status.stderr);
    t.match(status.stdout, /Active: active \(running\)/, `status of ${u.unit} on ${u.machine}`);
    t.match(status.stdout, `docker run --rm --network none --name web-${n}`);
    await journalShows(u.unit, `web ${n} serving`);
    t.pass(`journal of ${u.unit} on ${u.machine} shows the container's output`);
  }
});

t.test("web-discovery@1 runs on web@1's machine", async (t) => {
  const r = await fleetctl('start', 'web-discovery@1.service');
  t.equal(r.code, 0, r.stderr);
  const [sidekick] = await running('web-discovery@1.service');
  const [web] = (await units()).filter((u) => u.unit === 'web@1.service');
  t.equal(sidekick!.machine, web!.machine, 'MachineOf=web@1.service');
  await journalShows('web-discovery@1.service', `web@1 is on ${web!.machine}`);
  t.pass('its journal names the machine');
});

t.test('monitor.service (global, role=worker) runs on m1 and m2 only', async (t) => {
  const r = await fleetctl('start', 'monitor.service');
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, 'Triggered global unit monitor.service start');
  const rowsNow = await running('monitor.service', 2);
  t.same(rowsNow.map((u) => u.machine).sort(), ['m1', 'm2']);
  await sleep(3000);
  t.same((await units()).filter((u) => u.unit === 'monitor.service').map((u) => u.machine).sort(), ['m1', 'm2'], 'still not on m3 (role=edge)');
  const m3 = await lab.exec('m3', ['systemctl', 'show', '-p', 'LoadState', '--value', 'monitor.service']);
  t.equal(m3.stdout.trim(), 'not-found', 'm3 never got the unit');
});
