/**
 * A machine's presence on a 3-member etcd cluster survives one member that stops answering without closing its
 * connections (SIGSTOP, as a partitioned member looks to a client): etcd3 keeps the lease's keep-alive stream
 * on one member until a whole TTL passed without an answer, by when the lease has expired; the presence sends
 * keep-alives on fresh streams once the stream stalls (lib/registry/lease-rescue.ts). Each member is frozen in turn,
 * as a follower, for longer than the TTL, so whichever member holds the stream is frozen once. A frozen raft leader
 * is etcd's own outage (no lease is renewed until another is elected); election-cluster.test.ts covers it.
 */
import t from 'tap';
import { freezeEachMember, startCluster } from '../harness/etcd-cluster.js';
import { openEtcd, Registry } from '../../lib/registry/index.js';

const TTL = 6;

t.test('a frozen member does not cost a machine its presence', async (t) => {
  t.setTimeout(120_000);
  const members = await startCluster(t);
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
  await freezeEachMember(members, TTL * 1000 + 1500, (m) => t.same(losses, [], `presence kept while ${m.name} was frozen`), {
    asFollower: true,
  });
  const leaseId = presence.leaseId;
  t.ok(leaseId, 'still the first lease');
});
