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

/**
 * Freezes each member in turn (SIGSTOP) for `ms`, thaws it, calls `after` with it, and waits until the cluster has
 * settled before the next freeze. etcd 3.4 runs without pre-vote by default, so a thawed member often calls an
 * election; freezing the next member while that election runs, or just after it made that member the leader, is
 * two faults in a row (the cluster without a leader twice within a TTL), not the one fault these tests are about.
 * With `asFollower`, raft leadership is first moved off the member, so each freeze leaves the cluster a leader:
 * the fault of a member (the one a client's lease stream may be on) that stops answering while the others work.
 * Freezing the leader instead stops every write for etcd's own election time (freezeLeader).
 */
export async function freezeEachMember(
  members: readonly Member[],
  ms: number,
  after: (m: Member) => void,
  opts: { asFollower?: boolean } = {},
): Promise<void> {
  for (const m of members) {
    if (opts.asFollower) await moveLeaderOff(members, m);
    await freeze(m, ms);
    after(m);
    await settled(members);
  }
}

/** Freezes the member that is the raft leader for `ms`, thaws it, waits until the cluster settled; returns it. */
export async function freezeLeader(members: readonly Member[], ms: number): Promise<Member> {
  const { leader } = await settled(members);
  const m = members[leader.index];
  if (!m) throw new Error(`no member with index ${leader.index}`);
  await freeze(m, ms);
  await settled(members);
  return m;
}

async function freeze(m: Member, ms: number): Promise<void> {
  m.proc.kill('SIGSTOP');
  try {
    await sleep(ms);
  } finally {
    m.proc.kill('SIGCONT');
  }
}

interface ClusterView {
  /** every member's raft id, in the order of `members` */
  ids: string[];
  leader: { id: string; index: number };
}

/** Each member's raft id and the leader they all agree on, or undefined while they do not (or one does not answer). */
async function view(members: readonly Member[]): Promise<ClusterView | undefined> {
  const clients = members.map((m) => openEtcd({ endpoints: [m.clientUrl], requestTimeoutMs: 1000 }));
  try {
    const seen = await Promise.all(clients.map((c) => c.maintenance.status()));
    const ids = seen.map((s) => String(s.header.member_id));
    const leaders = new Set(seen.map((s) => `${s.leader}@${s.raftTerm}`));
    const leaderId = String(seen[0]?.leader ?? '0');
    const index = ids.indexOf(leaderId);
    return leaders.size === 1 && index >= 0 ? { ids, leader: { id: leaderId, index } } : undefined;
  } finally {
    for (const c of clients) c.close();
  }
}

/** Waits until every member names the same leader in the same raft term twice, half a second apart. */
async function settled(members: readonly Member[]): Promise<ClusterView> {
  let last: string | undefined;
  return waitFor(
    'the etcd cluster to settle',
    async () => {
      const v = await view(members);
      const key = v && `${v.leader.id}/${v.ids.join(',')}`;
      const stable = key !== undefined && key === last;
      last = key;
      return stable ? v : undefined;
    },
    { timeoutMs: 30_000, intervalMs: 500, retryErrors: true },
  );
}

/** Moves raft leadership off `m` (to the next member) if `m` leads, and waits until the cluster settled. */
async function moveLeaderOff(members: readonly Member[], m: Member): Promise<void> {
  const v = await settled(members);
  const at = members.indexOf(m);
  if (v.leader.index !== at) return;
  const target = v.ids[(at + 1) % members.length];
  const client = openEtcd({ endpoints: [m.clientUrl], requestTimeoutMs: 5000 });
  try {
    await client.maintenance.moveLeader({ targetID: target });
  } finally {
    client.close();
  }
  const after = await settled(members);
  if (after.leader.index === at) throw new Error(`raft leadership did not move off ${m.name}`);
}
