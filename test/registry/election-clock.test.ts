/**
 * The election runs on an injected Clock (lib/clock.ts), like the agent and the engine: a term whose lease is
 * not renewed within its TTL by that clock ends (the watchdog that beats etcd3's own, later, lease-lost report),
 * and the record's `since` is that clock's time. Real etcd behind a proxy that the test freezes, so neither the
 * lease's stream nor the rescue keep-alives (lib/registry/lease-rescue.ts, also on that clock) renew it; a
 * ManualClock moves time without waiting.
 */
import { randomUUID } from 'node:crypto';
import t from 'tap';
import { ManualClock } from '../../lib/clock.js';
import { Registry, type LeaderRecord } from '../../lib/registry/index.js';
import { startEtcd } from '../harness/etcd.js';
import { TcpProxy } from '../harness/proxy.js';

const etcd = await startEtcd(t);

t.test("a term not renewed within its TTL by the election's clock ends; since is that clock's time", async (t) => {
  const proxy = await TcpProxy.start(etcd.clientPort);
  const client = etcd.newClient({ endpoint: proxy.endpoint, requestTimeoutMs: 1000 });
  t.teardown(async () => {
    proxy.thaw();
    await proxy.close();
  });
  const registry = new Registry(client, `/election-clock-${randomUUID()}/`);
  const clock = new ManualClock(Date.parse('2030-01-02T03:04:05.000Z'));
  const e = registry.election('machine-a', 5, clock);
  t.teardown(() => e.stop());
  const won = new Promise<void>((resolve) => e.once('elected', () => resolve()));
  e.start();
  await won;
  const first = e.current;
  const rec = JSON.parse((await etcd.client.get(`${registry.prefix}engine/leader`).string()) ?? '') as LeaderRecord;
  t.equal(rec.since, '2030-01-02T03:04:05.000Z', "since is the election clock's time");

  const deposed = new Promise<string>((resolve) => e.once('deposed', resolve));
  proxy.freeze();
  await clock.advance(4000);
  t.ok(e.current, 'within the TTL the term holds');
  // a keepalive that landed meanwhile renewed at +4 s at the latest: +10 s is past its TTL either way
  await clock.advance(6000);
  t.equal(await deposed, 'lease not renewed within its TTL');
  proxy.thaw();
  t.not(e.current?.createRevision, first?.createRevision, 'that term is over (a new campaign may have begun another)');
});
