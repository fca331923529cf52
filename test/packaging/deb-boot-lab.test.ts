/**
 * Issue 15, run on real hosts: lab machines that join the cluster the way a real host does, at boot, through the
 * cloud-config boot units: m2 is booted bare (nothing of ours in it: no /opt/fleet), gets the .deb installed, the
 * metadata service as its OEM's data source, and after a power cycle registers with the metadata of its user-data
 * and runs a Docker unit fleet scheduled to it. m3 joins through a config drive, then, replaced (fresh disk, new
 * machine-id), through cloud-config-url= on its kernel command line (both with the lab's image: coreos-cloudinit
 * and the boot units from the project bound at /opt/fleet). m1 is a normal lab member (the lab's bootstrap).
 * test-tier: lab
 */
import t from 'tap';
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openEtcd, Registry } from '../../lib/registry/index.js';
import { startLab } from '../harness/lab.js';
import { run } from '../../lab/run.js';
import { show, submit, waitFor } from '../fleetd/lab-helpers.js';
import { METADATA_URL, OEM_DEFAULTS } from '../../lab/boot.js';
import { isAlive, stopProcess } from '../../lab/proc.js';

t.test('machines join at boot: the .deb with the metadata service, a config drive, the kernel command line', { timeout: 900_000 }, async (t) => {
  const work = await mkdtemp(join(tmpdir(), 'hb-deb-'));
  t.teardown(() => rm(work, { recursive: true, force: true }));
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/root', PACKAGE_COMPRESS: 'none' };
  const built = await run('bash', ['scripts/package.sh', 'deb', join(work, 'deb')], { env, timeoutMs: 300_000 });
  t.equal(built.code, 0, `package.sh deb: ${built.stderr}`);
  const deb = built.stdout.trim();

  const lab = await startLab(t, {
    prefix: 'hb',
    machines: 3,
    docker: true,
    agentTtl: '3s',
    metadata: { m1: 'boot=lab', m2: 'boot=metadata,pkg=deb', m3: 'boot=configdrive' },
    boot: { m2: { bare: true, from: 'metadata' }, m3: { from: 'configdrive' } },
  });
  t.same(lab.warnings, []);
  const client = openEtcd({ endpoints: [lab.etcdUrl], requestTimeoutMs: 3000 });
  const registry = new Registry(client);
  t.teardown(async () => {
    await registry.close().catch(() => undefined);
    client.close();
  });
  const registered = (name: string, id: string, metadata: Record<string, string>): Promise<true> =>
    waitFor(`${name} registered with ${JSON.stringify(metadata)}`, async () => {
      const m = (await registry.listMachines()).find((x) => x.id === id);
      return m !== undefined && Object.entries(metadata).every(([k, v]) => m.metadata[k] === v) ? true : undefined;
    }, 60_000);

  await t.test('m3 joins through its config drive', async (t) => {
    const m3 = await lab.machine('m3');
    await registered('m3', m3.machineId, { boot: 'configdrive' });
    t.equal((await lab.exec('m3', ['systemctl', 'is-active', 'user-configdrive.service'])).stdout.trim(), 'active');
    t.match((await lab.exec('m3', ['cat', '/media/configdrive/openstack/latest/user_data'])).stdout, /^#cloud-config\n/);
  });

  await t.test('m2, bare, gets the .deb and joins at boot through the metadata service', async (t) => {
    const m2 = await lab.machine('m2');
    t.not((await lab.exec('m2', ['test', '-e', '/opt/fleet'])).code, 0, 'nothing of ours in m2');
    t.not((await lab.exec('m2', ['sh', '-c', 'command -v fleetd'])).code, 0, 'no fleetd before the package');
    await copyFile(deb, join(m2.root, 'var/tmp/fleet-ts.deb'));
    const inst = await lab.exec('m2', ['dpkg', '-i', '/var/tmp/fleet-ts.deb'], { timeoutMs: 300_000 });
    t.equal(inst.code, 0, `dpkg -i: ${inst.stderr}`);
    // the OEM's part: the cloud's data source, and user-config.target wanted by the lab's minimal boot target
    // (fleet-lab.target; the package enables it for multi-user.target, which a lab machine never reaches)
    const oem = await lab.sh(
      'm2',
      `mkdir -p /etc/systemd/system/fleet-lab.target.wants && ` +
        `ln -sf /lib/systemd/system/user-config.target /etc/systemd/system/fleet-lab.target.wants/user-config.target && ` +
        `echo 'OEM_CLOUDINIT_ARGS="--from-ec2-metadata=${METADATA_URL}"' > ${OEM_DEFAULTS}`,
    );
    t.equal(oem.code, 0, oem.stderr);
    await lab.lab.poweroff('m2');
    // a metadata service that died is started again by the poweron of a machine that boots from it
    const before = (await lab.lab.state())?.metadataService?.proc;
    t.ok(isAlive(before), 'the metadata service runs');
    await stopProcess(before);
    await lab.lab.poweron('m2');
    const status = await lab.lab.status();
    t.equal(status.metadataService?.running, true, 'running again');
    t.not(status.metadataService?.pid, before?.pid);
    t.same((await lab.machine('m2')).boot, { bare: true, from: 'metadata', initArgs: [] }, 'boot options in the record');
    await registered('m2', m2.machineId, { boot: 'metadata', pkg: 'deb' });
    t.equal((await lab.exec('m2', ['systemctl', 'is-active', 'oem-cloudinit.service'])).stdout.trim(), 'active');
    const exec = await lab.exec('m2', ['systemctl', 'show', '-p', 'ExecStart', 'fleet.service']);
    t.match(exec.stdout, 'path=/usr/bin/fleetd', "fleet.service runs the package's fleetd");
    t.not((await lab.exec('m2', ['test', '-e', '/opt/fleet'])).code, 0, 'still nothing under /opt/fleet');
    const state = await show(lab, 'm2', 'fleet.service', ['ActiveState', 'Environment']);
    t.equal(state.ActiveState, 'active');
    t.match(state.Environment, `FLEET_PUBLIC_IP=${m2.ip}`, 'the address came from the metadata service');
  });

  await t.test('a Docker unit constrained to m2 runs there', async (t) => {
    const m2 = await lab.machine('m2');
    const name = `hb-deb-${process.pid}`;
    await submit(
      registry,
      'hb-docker.service',
      [
        '[Service]',
        `ExecStartPre=-/usr/bin/docker rm -f ${name}`,
        `ExecStart=/usr/bin/docker run --rm --name ${name} --network none fleet-lab/busybox sleep 600`,
        `ExecStop=/usr/bin/docker rm -f ${name}`,
        '',
        '[X-Fleet]',
        'MachineMetadata=pkg=deb',
        '',
      ].join('\n'),
    );
    await waitFor('hb-docker.service active on m2', async () => ((await show(lab, 'm2', 'hb-docker.service')).ActiveState === 'active' ? true : undefined), 120_000);
    await waitFor(`container ${name} running`, async () => {
      const r = await lab.exec('m2', ['docker', 'inspect', '-f', '{{.State.Running}}', name]);
      return r.stdout.trim() === 'true' ? true : undefined;
    }, 60_000);
    const states = await registry.listUnitStates({ unitName: 'hb-docker.service' });
    t.same(states.map((s) => s.machineId), [m2.machineId], 'scheduled to m2 only');
    t.equal((await show(lab, 'm1', 'hb-docker.service', ['LoadState'])).LoadState, 'not-found', 'not on m1');
  });

  await t.test('m3, replaced (fresh disk), joins through cloud-config-url= on its kernel command line', async (t) => {
    await lab.lab.up({ machines: 3, docker: true, agentTtl: '3s', metadata: { m3: 'boot=cmdline' }, boot: { m3: { from: 'cmdline' } } });
    const m3 = await lab.lab.replace('m3');
    await registered('m3', m3.machineId, { boot: 'cmdline' });
    t.match((await lab.exec('m3', ['cat', '/proc/1/cmdline'])).stdout, `cloud-config-url=${METADATA_URL}latest/user-data`);
    t.equal((await lab.exec('m3', ['systemctl', 'is-active', 'user-cloudinit-proc-cmdline.service'])).stdout.trim(), 'active');
    t.not((await lab.exec('m3', ['test', '-e', '/media/configdrive/openstack'])).code, 0, 'no config drive any more');
  });
});
