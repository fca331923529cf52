/**
 * A machine's presence on a 3-member etcd cluster survives one member that stops answering without closing its
 * connections (SIGSTOP, as a partitioned member looks to a client): etcd3 keeps the lease's keep-alive stream
 * on one member until a whole TTL passed without an answer, by when the lease has expired; the presence sends
 * single keep-alives on fresh streams once the stream stalls (presence.ts startWatchdog). Each member is frozen
 * in turn for longer than the TTL, so whichever member holds the stream is frozen once.
 */
import t from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ETCD_BIN, freePort } from '../harness/etcd.js';
import { sleep, waitFor } from '../harness/wait.js';
import { openEtcd, Registry } from '../../lib/registry/index.js';

const TTL = 6;

interface Member {
  readonly name: string;
  readonly proc: ChildProcess;
  readonly clientUrl: string;
}

async function startCluster(): Promise<Member[]> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fleet-etcd-cluster-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const ports = [];
  for (let i = 0; i < 3; i++) ports.push({ client: await freePort(), peer: await freePort() });
  const initial = ports.map((p, i) => `e${i}=http://127.0.0.1:${p.peer}`).join(',');
  const members = ports.map((p, i): Member => {
    const clientUrl = `http://127.0.0.1:${p.client}`;
    const proc = spawn(
      ETCD_BIN,
      [
        `--name=e${i}`,
        `--data-dir=${path.join(dir, `e${i}`)}`,
        `--listen-client-urls=${clientUrl}`,
        `--advertise-client-urls=${clientUrl}`,
        `--listen-peer-urls=http://127.0.0.1:${p.peer}`,
        `--initial-advertise-peer-urls=http://127.0.0.1:${p.peer}`,
        `--initial-cluster=${initial}`,
        '--initial-cluster-state=new',
        '--log-level=error',
      ],
      { stdio: 'ignore' },
    );
    t.teardown(async () => {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      const gone = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGCONT');
      proc.kill('SIGKILL');
      await gone;
    });
    return { name: `e${i}`, proc, clientUrl };
  });
  const probe = openEtcd({ endpoints: members.map((m) => m.clientUrl), requestTimeoutMs: 1000 });
  try {
    await waitFor('the etcd cluster', async () => (await probe.put('/up').value('1').then(() => true)), { timeoutMs: 30_000, intervalMs: 200, retryErrors: true });
  } finally {
    probe.close();
  }
  return members;
}

t.test('a frozen member does not cost a machine its presence', async (t) => {
  t.setTimeout(120_000);
  const members = await startCluster();
  const client = openEtcd({ endpoints: members.map((m) => m.clientUrl), requestTimeoutMs: 1000 });
  t.teardown(() => client.close());
  const registry = new Registry(client, '/presence-cluster/');
  const presence = await registry.registerMachine(
    { id: 'a'.repeat(32), publicIP: '10.0.0.1', metadata: {}, version: 'test', disableEngine: true, instance: 'i1' },
    TTL,
  );
  t.teardown(() => presence.close({ revoke: false }).catch(() => undefined));
  const losses: string[] = [];
  presence.onLost((err) => losses.push(err.message));
  for (const m of members) {
    m.proc.kill('SIGSTOP');
    try {
      await sleep(TTL * 1000 + 1500);
    } finally {
      m.proc.kill('SIGCONT');
    }
    t.same(losses, [], `presence kept while ${m.name} was frozen`);
    await sleep(500);
  }
  const leaseId = presence.leaseId;
  t.ok(leaseId, 'still the first lease');
});
