/**
 * One machine with the lab's Docker engine and the fleet bootstrap: a container started inside the
 * machine prints, and the machine got fleet.conf and fleet.service (fleetd itself may not run yet).
 */
import t from 'tap';
import { existsSync } from 'node:fs';
import { startLab } from '../harness/lab.js';
import { isAlive } from '../../lab/proc.js';
import { mountsUnder } from '../../lab/overlay.js';

t.test('docker engine and fleet bootstrap in a lab machine', async (t) => {
  const lab = await startLab(t, {
    machines: 1,
    docker: true,
    fleet: true,
    agentTtl: '3s',
    metadata: { m1: 'role=web,az=1' },
    prefix: 'td',
  });

  await t.test('a container run inside the machine prints', async (t) => {
    const r = await lab.exec('m1', ['docker', 'run', '--rm', '--network', 'none', 'fleet-lab/busybox', 'echo', 'hello from busybox']);
    t.equal(r.code, 0, r.stderr);
    t.equal(r.stdout, 'hello from busybox\n');
  });

  await t.test('a unit in the machine can run a container', async (t) => {
    const sys = await lab.systemd('m1');
    const w = await lab.sh(
      'm1',
      `printf '%s\\n' '[Service]' 'Type=oneshot' ` +
        `'ExecStart=/usr/bin/docker run --rm --network none fleet-lab/busybox sh -c "echo unit-container > /dev/stderr"' ` +
        `> /run/systemd/system/lab-docker.service`,
    );
    t.equal(w.code, 0, w.stderr);
    await sys.reload();
    const job = await sys.startUnit('lab-docker.service', { wait: true });
    t.equal(job.result, 'done');
    const journal = await lab.exec('m1', ['journalctl', '-u', 'lab-docker.service', '--no-pager', '-o', 'cat']);
    t.match(journal.stdout, /unit-container/);
  });

  await t.test('the machine was bootstrapped for fleet', async (t) => {
    const m1 = await lab.machine('m1');
    // fleet.conf or FLEET_* variables of fleet.service: whichever way the bootstrap configures fleetd
    const conf = await lab.sh('m1', 'cat /etc/fleet/fleet.conf 2>/dev/null; systemctl show -p Environment fleet.service');
    t.match(conf.stdout, lab.etcdUrl, 'etcd servers');
    t.match(conf.stdout, m1.ip, 'public ip');
    t.match(conf.stdout, 'role=web,az=1', 'metadata');
    t.match(conf.stdout, /agent.ttl="?3s/i, 'agent ttl');
    const sys = await lab.systemd('m1');
    t.match(await sys.getUnitState('fleet.service'), { loadState: 'loaded' });
    t.equal(await sys.getUnitProperty('fleet.service', 'org.freedesktop.systemd1.Service', 'KillMode'), 'process');
    const execStart = await lab.exec('m1', ['systemctl', 'show', '-p', 'ExecStart', 'fleet.service']);
    t.match(execStart.stdout, '/usr/bin/node');
    t.match(execStart.stdout, '/opt/fleet/dist/fleetd/main.js');
    t.equal((await lab.exec('m1', ['test', '-f', '/opt/fleet/package.json'])).code, 0, 'project mounted at /opt/fleet');
    t.not((await lab.exec('m1', ['touch', '/opt/fleet/x'])).code, 0, 'read-only');
  });

  await t.test('a second up keeps running machines and adds missing ones', async (t) => {
    const before = await lab.machine('m1');
    const r = await lab.cli(['up', '--machines', '2', '--docker', '--agent-ttl', '3s']);
    t.equal(r.code, 0, r.stderr);
    t.match(r.stdout, `FLEETCTL_ENDPOINT=${(await lab.lab.env()).FLEETCTL_ENDPOINT}\n`);
    t.match(r.stdout, /^m2\s/m);
    const after = await lab.machine('m1');
    t.equal(after.initPid, before.initPid, 'm1 kept running');
    t.equal(after.metadata, 'role=web,az=1', 'm1 kept its metadata');
    const m2 = await lab.machine('m2');
    t.ok(m2.running);
    t.not(m2.machineId, after.machineId);
    const d = await lab.exec('m2', ['docker', 'image', 'ls', '--format', '{{.Repository}}']);
    t.match(d.stdout, 'fleet-lab/busybox', 'the new machine has the engine too');
    const env = await lab.cli(['env']);
    const expected = Object.entries(await lab.lab.env()).map(([k, v]) => `export ${k}=${v}\n`);
    t.equal(env.stdout, expected.join(''), 'env prints what `up` printed, as exports');
  });

  await t.test('down stops the engine and removes its files', async (t) => {
    const state = (await lab.lab.state())!;
    const dockerd = state.docker!.proc!;
    t.ok(isAlive(dockerd));
    await lab.down();
    t.notOk(isAlive(dockerd), 'dockerd stopped');
    if (state.docker!.containerd) t.notOk(isAlive(state.docker!.containerd), 'its containerd stopped');
    t.same(await mountsUnder(lab.stateDir), []);
    t.notOk(existsSync(state.docker!.socket));
  });
});
