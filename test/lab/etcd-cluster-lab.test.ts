/**
 * fleet on a real etcd cluster (issue 15): `up --etcd-members 3 --etcd-tls --etcd-auth` gives two machines
 * whose fleetds reach all three members over TLS with client certificates, as the `fleet` etcd user; a unit
 * runs. Then etcd faults in sequence on the one cluster: the leader member killed (and started again), one
 * member partitioned (SIGSTOP) and healed, every member restarted one by one, a member replaced (member remove
 * / add, empty data dir). For each: the units keep their MainPID (no stop, no restart), they run on one
 * machine only and stay scheduled where they were (no engine double-write), and fleetctl (via the API) is
 * polled all along: how long it failed, and what it printed, goes to the test's comments (docs/reliability.md).
 */
import t, { type Test } from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { etcdClusterOptions } from '../../lab/etcd-cluster.js';
import { ETCD_CLIENT_FILES } from '../../lab/user-data.js';
import { Keyspace, openEtcd, Registry } from '../../lib/registry/index.js';
import { fleetctl as runFleetctl } from '../fleetctl/helpers.js';
import { startLab } from '../harness/lab.js';
import { serviceText, show, sleep, submit, waitFor, waitRunning } from '../fleetd/lab-helpers.js';

/**
 * fleet's default agent_ttl. With 5 s (this test's earlier setting) a member frozen for 10 s cost a machine its
 * registration in some full-suite runs, and the engine moved its unit: docs/reliability.md §11 advises an
 * agent_ttl well above etcd's own recovery times, as the default is.
 */
const AGENT_TTL_S = 30;

t.test('fleet on a 3-member etcd cluster with TLS and auth', async (t) => {
  const lab = await startLab(t, { machines: 2, agentTtl: `${AGENT_TTL_S}s`, prefix: 'eh', etcdMembers: 3, etcdTls: true, etcdAuth: true });
  t.same(lab.warnings, [], 'up without warnings');
  const cluster = (await lab.lab.state())!.etcdCluster!;
  const client = openEtcd({ ...etcdClusterOptions(cluster), requestTimeoutMs: 3000 });
  const registry = new Registry(client);
  t.teardown(async () => {
    await registry.close().catch(() => undefined);
    client.close();
  });
  const work = mkdtempSync(join(tmpdir(), 'etcd-cluster-lab-'));
  t.teardown(() => rmSync(work, { recursive: true, force: true }));
  const fleetctl = (...args: string[]) => runFleetctl(args, { env: { ...lab.env }, cwd: work, timeoutMs: 30_000 });

  const ids: Record<string, string> = {};
  for (const m of await lab.machines()) ids[m.name] = m.machineId;

  await t.test('machines get every member, the client files (key 0600) and the fleet user', async (t) => {
    for (const m of ['m1', 'm2']) {
      const env = await lab.sh(m, 'cat /run/systemd/system/fleet.service.d/20-cloudinit.conf');
      for (const member of cluster.members) t.match(env.stdout, member.clientUrl, `${m}: ${member.name} in etcd_servers`);
      t.match(env.stdout, /FLEET_ETCD_USERNAME=fleet/, `${m}: etcd user`);
      t.match(env.stdout, new RegExp(`FLEET_ETCD_KEYFILE=${ETCD_CLIENT_FILES.key}`), `${m}: key file`);
      const mode = await lab.sh(m, `stat -c %a ${ETCD_CLIENT_FILES.key}`);
      t.equal(mode.stdout.trim(), '600', `${m}: key file mode`);
    }
    const anon = openEtcd({ endpoints: [cluster.members[0]!.clientUrl], requestTimeoutMs: 2000, tls: { ca: cluster.tls!.caFile } });
    t.teardown(() => anon.close());
    await t.rejects(anon.get('/_coreos.com/fleet/x').string(), 'a client without a certificate is refused');
    t.equal((await lab.lab.status()).etcd?.healthy, true, 'status: the etcd cluster is healthy');
  });

  await waitFor('both fleetds registered', async () => ((await registry.listMachines()).length === 2 ? true : undefined), 60_000);
  const units = ['eh-a.service', 'eh-b.service'];
  for (const [i, u] of units.entries()) await submit(registry, u, serviceText(`etcd cluster test ${i}`, [`ExecStart=/bin/sleep 30${i}0`]));
  const where: Record<string, string> = {};
  const pids: Record<string, string> = {};
  for (const u of units) {
    const id = await waitFor(`${u} scheduled`, async () => (await registry.getUnit(u))?.machineId, 60_000);
    where[u] = Object.entries(ids).find(([, x]) => x === id)![0];
    pids[u] = String(await waitRunning(lab, where[u], u, 60_000));
  }

  await t.test('a unit runs, and fleetctl lists it', async (t) => {
    const r = await fleetctl('list-units', '--no-legend');
    t.equal(r.code, 0, r.stderr);
    for (const u of units) t.match(r.stdout, u);
  });

  const leaderKey = new Keyspace().engineLeader;
  const leaderRevision = async (): Promise<string | undefined> => {
    const res = await client.get(leaderKey).exec();
    return res.kvs[0]?.create_revision;
  };

  /** fleetctl list-machines every 300 ms while a fault is on: the longest run of failures and what they said. */
  function probeFleetctl(): { stop(): Promise<{ runs: number; failed: number; longestMs: number; messages: string[]; calls: string[] }> } {
    let on = true;
    let runs = 0;
    let failed = 0;
    let longestMs = 0;
    let failingSince: number | undefined;
    const started = Date.now();
    const messages = new Set<string>();
    const calls: string[] = [];
    const loop = (async () => {
      while (on) {
        const t0 = Date.now();
        const r = await fleetctl('list-machines', '--no-legend');
        runs++;
        calls.push(`${((t0 - started) / 1000).toFixed(1)}s:${r.code === 0 ? 'ok' : 'FAIL'}:${Date.now() - t0}ms`);
        if (r.code === 0) {
          if (failingSince !== undefined) longestMs = Math.max(longestMs, Date.now() - failingSince);
          failingSince = undefined;
        } else {
          failed++;
          failingSince ??= t0;
          messages.add((r.stderr.trim().split('\n')[0] ?? '').replace(/\d+(\.\d+)? ?m?s\b/g, 'N s'));
        }
        await sleep(300);
      }
      if (failingSince !== undefined) longestMs = Math.max(longestMs, Date.now() - failingSince);
    })();
    return {
      async stop() {
        on = false;
        await loop;
        return { runs, failed, longestMs, messages: [...messages], calls };
      },
    };
  }

  async function unitsUntouched(t: Test, what: string): Promise<void> {
    for (const u of units) {
      const other = where[u] === 'm1' ? 'm2' : 'm1';
      const s = await show(lab, where[u]!, u, ['ActiveState', 'MainPID', 'NRestarts']);
      t.match(s, { ActiveState: 'active', MainPID: pids[u], NRestarts: '0' }, `${what}: ${u} keeps its MainPID on ${where[u]}`);
      t.equal((await show(lab, other, u)).LoadState, 'not-found', `${what}: ${u} not started on ${other}`);
      t.equal((await registry.getUnit(u))?.machineId, ids[where[u]!], `${what}: ${u} still scheduled to ${where[u]}`);
    }
  }

  /** Runs a fault with fleetctl probed throughout, then settles, checks the units and reports the figures. */
  async function scenario(t: Test, name: string, fault: () => Promise<void>): Promise<void> {
    const fenceBefore = await waitFor('engine leader', leaderRevision);
    const probe = probeFleetctl();
    const t0 = Date.now();
    await fault();
    const faultMs = Date.now() - t0;
    // past agent_ttl from the fault's start: a lost machine or a lost leader would show by now
    await sleep(Math.max(2000, AGENT_TTL_S * 1000 + 2000 - faultMs));
    const r = await probe.stop();
    const fenceAfter = await waitFor('engine leader', leaderRevision);
    await unitsUntouched(t, name);
    t.comment(
      `FIGURES ${name}: fault took ${faultMs} ms; fleetctl ${r.failed}/${r.runs} calls failed, longest failing ${r.longestMs} ms; ` +
        `engine leader fence ${fenceBefore === fenceAfter ? 'unchanged' : `${fenceBefore} -> ${fenceAfter}`}; messages: ${JSON.stringify(r.messages)}; calls ${r.calls.join(' ')}`,
    );
    // A machine whose presence was lost (seen once in a full-suite run, the box busy with another lab test, during
    // the rolling restart; its units stayed, as unitsUntouched checked) must be registered again within 15 s.
    const registered = await waitFor(`${name}: both machines registered`, async () => ((await registry.listMachines()).length === 2 ? true : undefined), 15_000).catch(() => false);
    t.ok(registered, `${name}: both machines registered (again within 15 s)`);
  }

  await t.test('no fault (baseline for the figures)', (t) => scenario(t, 'no fault', async () => sleep(5000)));

  await t.test('the etcd leader member killed, then started again', (t) =>
    scenario(t, 'leader killed', async () => {
      const leader = await waitFor('etcd leader', () => lab.lab.etcdLeader());
      await lab.lab.etcdMember(leader, 'kill');
      await sleep(5000);
      await lab.lab.etcdMember(leader, 'restart');
    }));

  await t.test('one member partitioned (SIGSTOP), then healed', (t) =>
    scenario(t, 'member partitioned', async () => {
      const leader = await waitFor('etcd leader', () => lab.lab.etcdLeader());
      const victim = cluster.members.map((m) => m.name).find((n) => n !== leader)!;
      await lab.lab.etcdMember(victim, 'partition');
      t.teardown(() => lab.lab.etcdMember(victim, 'heal'));
      await sleep(10_000);
      await lab.lab.etcdMember(victim, 'heal');
    }));

  await t.test('all members restarted one by one', (t) =>
    scenario(t, 'rolling restart', async () => {
      for (const m of ['e1', 'e2', 'e3']) {
        await lab.lab.etcdMember(m, 'restart');
        await sleep(2000);
      }
    }));

  await t.test('a member replaced (member remove/add, empty data dir)', (t) =>
    scenario(t, 'member replaced', async () => {
      const name = await lab.lab.replaceEtcdMember('e2');
      t.equal(name, 'e2r1', 'the new member');
    }));
});
