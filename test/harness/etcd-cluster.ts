/**
 * A 3-member etcd cluster on loopback for tests of what a member that stops answering (SIGSTOP: frozen, or
 * partitioned as a client sees it) does to leases: test/registry/presence-cluster.test.ts, election-cluster.test.ts.
 * Every member is stopped when the test ends.
 */
import type { Test } from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ETCD_BIN, freePort } from './etcd.js';
import { exitWhenDone } from './exit-guard.js';
import { sleep, waitFor } from './wait.js';
import { openEtcd } from '../../lib/registry/index.js';

export interface Member {
  readonly name: string;
  readonly proc: ChildProcess;
  readonly clientUrl: string;
}

export async function startCluster(t: Test): Promise<Member[]> {
  exitWhenDone();
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

/** Freezes each member in turn (SIGSTOP) for `ms`, thaws it, calls `after` with it, and waits 500 ms. */
export async function freezeEachMember(members: readonly Member[], ms: number, after: (m: Member) => void): Promise<void> {
  for (const m of members) {
    m.proc.kill('SIGSTOP');
    try {
      await sleep(ms);
    } finally {
      m.proc.kill('SIGCONT');
    }
    after(m);
    await sleep(500);
  }
}
