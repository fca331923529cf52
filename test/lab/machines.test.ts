/**
 * Two real lab machines (systemd as PID 1 in nspawn): identity, network, exec, lib/systemd against a
 * machine's bus, faults, and a `down` that leaves nothing behind. The box's /tmp must survive.
 */
import t from 'tap';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { startLab, type TestLab } from '../harness/lab.js';
import { sleep, waitFor, type WaitOptions } from '../harness/wait.js';
import { isAlive, type ProcRecord } from '../../lab/proc.js';
import { listNetns, linkExists } from '../../lab/net.js';
import { mountsUnder } from '../../lab/overlay.js';
import { clusterCgroups } from '../../lab/cgroup.js';
import { SystemdConnectionError, SystemdError, type JobRemovedEvent, type UnitStateChangedEvent } from '../../lib/systemd/index.js';

const marker = `/tmp/fleet-lab-test-marker-${process.pid}`;
writeFileSync(marker, 'still here\n');
t.teardown(() => rmSync(marker, { force: true }));

const etcdctl = (lab: TestLab, ...args: string[]): string[] => [
  'etcdctl',
  '--dial-timeout=1s',
  '--command-timeout=2s',
  `--endpoints=${lab.etcdUrl}`,
  ...args,
];

const LAB_WAIT: WaitOptions = { timeoutMs: 10_000, intervalMs: 50 };

t.test('a two-machine lab', async (t) => {
  const lab = await startLab(t, { machines: 2, fleet: false, prefix: 'tm' });

  await t.test('machines have their own identity and address', async (t) => {
    const [m1, m2] = await lab.machines();
    t.ok(m1!.running && m2!.running, 'both running');
    t.not(m1!.machineId, m2!.machineId, 'distinct machine ids');
    t.not(m1!.ip, m2!.ip, 'distinct addresses');
    const hostId = readFileSync('/etc/machine-id', 'utf8').trim();
    for (const m of [m1!, m2!]) {
      const r = await lab.sh(m.name, 'cat /etc/machine-id; hostname; ip -4 -o addr show dev host0');
      t.equal(r.code, 0, r.stderr);
      const [id, hostname, addr] = r.stdout.trim().split('\n');
      t.equal(id, m.machineId, `${m.name} sees its machine-id`);
      t.not(id, hostId, `${m.name} does not share the box's machine-id`);
      t.equal(hostname, m.name, `${m.name} hostname`);
      t.match(addr, ` ${m.ip}/24 `, `${m.name} address on host0`);
    }
    for (const m of [m1!, m2!]) {
      const cg = readFileSync(`/proc/${m.initPid}/cgroup`, 'utf8');
      t.match(cg, `/fleet-lab/${lab.name}/${m.name}/`, `${m.name} has a cgroup subtree of its own`);
    }
    for (const m of ['m1', 'm2']) {
      const sys = await lab.systemd(m);
      t.equal(await sys.systemState(), 'running', `${m}: minimal boot has no failed units`);
    }
  });

  await t.test('etcd on the host is reachable from both machines', async (t) => {
    const put = await lab.exec('m1', etcdctl(lab, 'put', '/lab-test/key', 'from-m1'));
    t.equal(put.code, 0, put.stderr);
    const get = await lab.exec('m2', etcdctl(lab, 'get', '--print-value-only', '/lab-test/key'));
    t.equal(get.code, 0, get.stderr);
    t.equal(get.stdout.trim(), 'from-m1');
  });

  await t.test('exec passes exit codes and output through (API and CLI)', async (t) => {
    const r = await lab.sh('m1', 'echo out; echo err >&2; exit 7');
    t.equal(r.code, 7);
    t.equal(r.stdout, 'out\n');
    t.equal(r.stderr, 'err\n');
    const cli = await lab.cli(['exec', 'm2', '--', 'sh', '-c', 'hostname; exit 3']);
    t.equal(cli.code, 3, cli.stderr);
    t.equal(cli.stdout.trim(), 'm2');
    const missing = await lab.cli(['exec', 'm9', '--', 'true']);
    t.equal(missing.code, 1);
    t.match(missing.stderr, /no machine "m9"/);
  });

  await t.test('lib/systemd drives the machine over its bus', async (t) => {
    const sys = await lab.systemd('m1');
    t.match(await sys.version(), /^\d+/);
    const unitDir = '/var/lib/lab-test';
    const unitPath = `${unitDir}/lab-hello.service`;
    const w = await lab.sh(
      'm1',
      `mkdir -p ${unitDir} && printf '%s\\n' '[Unit]' 'Description=lab hello' '[Service]' ` +
        `'ExecStart=/bin/sleep 1000' '[Install]' 'WantedBy=fleet-lab.target' > ${unitPath}`,
    );
    t.equal(w.code, 0, w.stderr);

    const changes = await sys.linkUnitFiles([unitPath], true, true);
    t.same(changes, [{ type: 'symlink', file: '/run/systemd/system/lab-hello.service', destination: unitPath }]);
    await sys.reload();
    t.equal(await sys.getUnitFileState('lab-hello.service'), 'linked-runtime');

    const jobs: JobRemovedEvent[] = [];
    const states: UnitStateChangedEvent[] = [];
    sys.on('jobRemoved', (ev) => jobs.push(ev));
    sys.on('unitStateChanged', (ev) => states.push(ev));
    await sys.watchUnits(['lab-hello.service']);

    const started = await sys.startUnit('lab-hello.service', { wait: true });
    t.equal(started.result, 'done', 'start job done');
    t.same(await sys.getUnitState('lab-hello.service'), { loadState: 'loaded', activeState: 'active', subState: 'running' });
    t.ok(jobs.some((j) => j.job === started.job && j.unit === 'lab-hello.service' && j.result === 'done'), 'JobRemoved seen');
    await waitFor('PropertiesChanged to active', () => states.find((s) => s.state.activeState === 'active') ?? undefined, LAB_WAIT);
    t.ok(Number(await sys.getUnitProperty('lab-hello.service', 'org.freedesktop.systemd1.Service', 'MainPID')) > 0, 'MainPID');
    const listed = await sys.listUnitsByNames(['lab-hello.service', 'no-such-unit.service']);
    t.match(listed, [
      { name: 'lab-hello.service', loadState: 'loaded', activeState: 'active', subState: 'running' },
      { name: 'no-such-unit.service', loadState: 'not-found', activeState: 'inactive' },
    ]);

    const restarted = await sys.unitAction('try-restart', 'lab-hello.service', { wait: true });
    t.equal(restarted.result, 'done', 'try-restart');

    const stopped = await sys.stopUnit('lab-hello.service', { wait: true });
    t.equal(stopped.result, 'done', 'stop job done');
    t.match(await sys.getUnitState('lab-hello.service'), { activeState: 'inactive', subState: 'dead' });
    await waitFor('PropertiesChanged to inactive', () => states.find((s) => s.state.activeState === 'inactive') ?? undefined, LAB_WAIT);

    const enabled = await sys.enableUnitFiles(['lab-hello.service'], true, true);
    t.ok(enabled.carriesInstallInfo);
    t.ok(enabled.changes.some((c) => c.type === 'symlink' && c.file.includes('fleet-lab.target.wants')), 'enable symlink');
    const disabled = await sys.disableUnitFiles(['lab-hello.service'], true);
    t.ok(disabled.some((c) => c.type === 'unlink' && c.file === '/run/systemd/system/lab-hello.service'), 'link removed');
    await sys.reload();
    t.match(await sys.getUnitState('lab-hello.service'), { loadState: 'not-found' });

    const masked = await sys.maskUnitFiles(['lab-masked.service'], true, true);
    t.match(masked, [{ type: 'symlink', destination: '/dev/null' }]);
    await sys.reload();
    t.match(await sys.getUnitState('lab-masked.service'), { loadState: 'masked' });
    await sys.unmaskUnitFiles(['lab-masked.service'], true);
    await sys.reload();

    const bad = await lab.sh(
      'm1',
      `printf '%s\\n' '[Service]' 'Type=oneshot' 'ExecStart=/bin/false' > /run/systemd/system/lab-fails.service`,
    );
    t.equal(bad.code, 0);
    await sys.reload();
    const failed = await sys.startUnit('lab-fails.service', { wait: true });
    t.equal(failed.result, 'failed', 'a failing oneshot reports failed');
    t.match(await sys.getUnitState('lab-fails.service'), { activeState: 'failed' });
    await sys.resetFailedUnit('lab-fails.service');
    t.match(await sys.getUnitState('lab-fails.service'), { activeState: 'inactive' });

    t.equal(
      (await lab.sh('m1', `printf '%s\\n' '[Service]' 'Type=oneshot' 'ExecStart=/bin/sleep 2' > /run/systemd/system/lab-slow.service`)).code,
      0,
    );
    await sys.reload();
    const queued = await sys.startUnit('lab-slow.service');
    t.notOk(queued.result, 'without wait there is no result yet');
    const jobsNow = await sys.listJobs();
    t.ok(jobsNow.some((j) => j.unit === 'lab-slow.service' && j.type === 'start'), 'listJobs shows it');

    const err = await sys.stopUnit('never-loaded.service').catch((e: unknown) => e);
    t.type(err, SystemdError);
    t.match(err, { dbusName: 'org.freedesktop.systemd1.NoSuchUnit', unit: 'never-loaded.service', method: 'StopUnit' });

    await sys.close();
    t.ok(sys.closed);
    await t.rejects(sys.version(), SystemdConnectionError, 'calls after close fail');
  });

  await t.test('cut and heal the network of one machine', async (t) => {
    await lab.lab.cut('m2');
    t.equal((await lab.machine('m2')).cut, true);
    const cut = await lab.exec('m2', etcdctl(lab, 'endpoint', 'health'));
    t.not(cut.code, 0, 'm2 cannot reach etcd');
    const other = await lab.exec('m1', etcdctl(lab, 'endpoint', 'health'));
    t.equal(other.code, 0, 'm1 still can');
    await lab.lab.heal('m2');
    const healed = await waitFor('m2 reaches etcd again', async () => {
      const r = await lab.exec('m2', etcdctl(lab, 'endpoint', 'health'));
      return r.code === 0 ? r : undefined;
    }, LAB_WAIT);
    t.equal(healed.code, 0);
  });

  await t.test('poweroff and poweron keep identity and disk', async (t) => {
    const before = await lab.machine('m2');
    const init = (await lab.lab.state())!.machines.m2!.init!;
    t.equal((await lab.sh('m2', 'echo kept > /root/lab-disk')).code, 0);
    const sys = await lab.systemd('m2');
    const disconnected = new Promise<void>((resolve) => sys.once('disconnected', () => resolve()));
    const cli = await lab.cli(['poweroff', 'm2']);
    t.equal(cli.code, 0, cli.stderr);
    await disconnected;
    t.ok(sys.closed, 'a client on the machine bus sees the machine go');
    await t.rejects(sys.version(), SystemdConnectionError);
    const off = await lab.machine('m2');
    t.equal(off.running, false);
    t.notOk(isAlive(init), 'its init is gone');
    t.equal((await lab.exec('m2', ['true']).catch((e: Error) => e)) instanceof Error, true, 'exec refuses');
    const on = await lab.lab.poweron('m2');
    t.equal(on.running, true);
    t.equal(on.machineId, before.machineId);
    t.equal(on.ip, before.ip);
    t.not(on.initPid, before.initPid);
    const r = await lab.sh('m2', 'cat /etc/machine-id /root/lab-disk');
    t.equal(r.stdout, `${before.machineId}\nkept\n`);
  });

  await t.test('replace gives a fresh machine at the same address', async (t) => {
    const before = await lab.machine('m1');
    t.equal((await lab.sh('m1', 'echo old > /root/lab-disk')).code, 0);
    const after = await lab.lab.replace('m1');
    t.not(after.machineId, before.machineId);
    t.equal(after.ip, before.ip);
    const r = await lab.sh('m1', 'cat /etc/machine-id; test -e /root/lab-disk && echo disk-kept || echo disk-new');
    t.equal(r.stdout, `${after.machineId}\ndisk-new\n`);
  });

  await t.test('list and status show the machines', async (t) => {
    const list = await lab.cli(['list']);
    t.equal(list.code, 0, list.stderr);
    t.match(list.stdout, /^MACHINE\s+MACHINE-ID\s+IP/);
    const m2 = await lab.machine('m2');
    t.match(list.stdout, new RegExp(`m2\\s+${m2.machineId}\\s+${m2.ip.replace(/\./g, '\\.')}\\s+${m2.initPid}\\s+running`));
    const st = await lab.cli(['status', '--json']);
    const status = JSON.parse(st.stdout) as { etcd: { healthy: boolean }; machines: unknown[]; env: Record<string, string> };
    t.equal(status.etcd.healthy, true);
    t.equal(status.machines.length, 2);
    t.same(status.env, await lab.lab.env(), 'the FLEETCTL_* variables `up` printed');
    t.match(status.env.FLEETCTL_ENDPOINT, /^http:\/\/198\.18\.\d+\.\d+:\d+$/);
  });

  await t.test('down leaves nothing behind', async (t) => {
    const state = (await lab.lab.state())!;
    const procs: ProcRecord[] = [state.etcd!.proc!];
    for (const m of Object.values(state.machines)) procs.push(m.nspawn!, m.init!);
    const reservation = `/var/lib/fleet-lab/.subnets/${state.subnet}`;
    t.ok(existsSync(reservation), 'subnet reserved while up');
    await lab.down();
    t.same(procs.filter(isAlive), [], 'no processes left');
    t.same(await mountsUnder(lab.stateDir), [], 'no mounts left');
    t.same((await listNetns()).filter((n) => n.includes(lab.name)), [], 'no network namespaces left');
    t.notOk(linkExists(state.bridge), 'bridge gone');
    for (const m of Object.values(state.machines)) t.notOk(linkExists(m.veth), `${m.veth} gone`);
    t.notOk(existsSync(lab.stateDir), 'state dir gone');
    for (const cg of clusterCgroups(lab.name)) t.notOk(existsSync(cg), `${cg} gone`);
    t.notOk(existsSync(reservation), 'subnet released');
    const again = await lab.cli(['down']);
    t.equal(again.code, 0, 'down twice is fine');
    t.notOk(existsSync(lab.stateDir));
  });
});

t.test("the box's /tmp survived", async (t) => {
  t.equal(readFileSync(marker, 'utf8'), 'still here\n');
  t.ok((await readdir('/tmp')).length > 0);
});
