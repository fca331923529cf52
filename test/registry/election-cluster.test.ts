/**
 * The engine leader keeps its term on a 3-member etcd cluster while one member stops answering without closing
 * its connections (SIGSTOP): etcd3 keeps the election lease's keep-alive stream on one member until twice the TTL
 * passed without an answer, by when etcd has expired the lease and the term is lost; the election sends single
 * keep-alives on fresh streams once the stream stalls (lib/registry/lease-rescue.ts). Each member is frozen in
 * turn for longer than the TTL, so whichever member holds the stream is frozen once.
 */
import t from 'tap';
import { freezeEachMember, startCluster } from '../harness/etcd-cluster.js';
import { waitFor } from '../harness/wait.js';
import { openEtcd, Registry } from '../../lib/registry/index.js';

const TTL = 4;

t.test('a frozen member does not cost the engine leader its term', async (t) => {
  t.setTimeout(120_000);
  const members = await startCluster(t);
  const client = openEtcd({ endpoints: members.map((m) => m.clientUrl), requestTimeoutMs: 1000 });
  t.teardown(() => client.close());
  const registry = new Registry(client, '/election-cluster/');
  const election = registry.election('e'.repeat(32), TTL);
  const deposed: string[] = [];
  election.on('deposed', (reason: string) => deposed.push(reason));
  election.start();
  t.teardown(() => election.stop());
  const fence = await waitFor('elected', () => election.current, { timeoutMs: 20_000, intervalMs: 50 });
  await freezeEachMember(members, TTL * 1000 + 1500, (m) => t.same(deposed, [], `term kept while ${m.name} was frozen`));
  t.same(election.current, fence, 'still the first term');
});
