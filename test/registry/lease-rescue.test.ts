/**
 * rescueStalledKeepAlive (lib/registry/lease-rescue.ts): once a lease's renewals stall, rescue keep-alives go out
 * several at once, not one per tick, so a frozen member that etcd3's random pick keeps choosing cannot use up the
 * time before the term's deadline; failed ones are topped up, an answer renews from its send time, and nothing is
 * sent while renewals flow. Pure: a hand-moved clock and a scripted keep-alive, no etcd.
 */
import t from 'tap';
import { ManualClock } from '../../lib/clock.js';
import { rescueStalledKeepAlive } from '../../lib/registry/lease-rescue.js';

interface Pending {
  sentAt: number;
  resolve(): void;
  reject(err: Error): void;
}

/** A lease whose keep-alives wait until the test answers or fails them. */
function scriptedLease(clock: ManualClock): { pending: Pending[]; lease: { keepaliveOnce(): Promise<unknown> } } {
  const pending: Pending[] = [];
  return {
    pending,
    lease: {
      keepaliveOnce: () =>
        new Promise<unknown>((resolve, reject) => {
          pending.push({ sentAt: clock.now(), resolve: () => resolve({}), reject });
        }),
    },
  };
}

t.test('a stalled lease gets three rescues at once, topped up as they fail; an answer renews from its send', async (t) => {
  const clock = new ManualClock(0);
  const { pending, lease } = scriptedLease(clock);
  let renewedAt = 0;
  const failures: string[] = [];
  const timer = rescueStalledKeepAlive({
    lease,
    ttlMs: 4000,
    clock,
    sinceRenewalMs: () => clock.now() - renewedAt,
    renewed: (sentAt) => {
      renewedAt = Math.max(renewedAt, sentAt);
    },
    failed: (err) => failures.push(err),
  });
  t.teardown(() => timer.cancel());

  await clock.advance(1500);
  t.equal(pending.length, 0, 'nothing is sent while the last renewal is recent (1.5 s of a 4 s TTL)');
  await clock.advance(500);
  t.equal(pending.length, 3, 'past 40 % of the TTL, three keep-alives go out in one tick');
  t.same(pending.map((p) => p.sentAt), [2000, 2000, 2000]);

  pending[0]?.reject(new Error('4 DEADLINE_EXCEEDED'));
  await clock.advance(0);
  t.same(failures, ['4 DEADLINE_EXCEEDED'], 'a failure is reported');
  await clock.advance(500);
  t.equal(pending.length, 4, 'the next tick replaces the failed one, and only that one (three in flight)');
  t.equal(pending[3]?.sentAt, 2500);

  await clock.advance(200);
  pending[3]?.resolve();
  await clock.advance(0);
  t.equal(renewedAt, 2500, 'renewed as of the answered keep-alive\'s send time, not its answer (2700)');
  pending[1]?.resolve();
  await clock.advance(0);
  t.equal(renewedAt, 2500, 'a later answer to an earlier send does not move the renewal back');
  pending[2]?.reject(new Error('late'));
  await clock.advance(1000);
  t.equal(pending.length, 4, 'once renewed, no more rescues go out');
});

t.test('after cancel, answers and failures of rescues in flight are ignored', async (t) => {
  const clock = new ManualClock(0);
  const { pending, lease } = scriptedLease(clock);
  const renewed: number[] = [];
  const failures: string[] = [];
  const timer = rescueStalledKeepAlive({
    lease,
    ttlMs: 4000,
    clock,
    sinceRenewalMs: () => clock.now(),
    renewed: (sentAt) => renewed.push(sentAt),
    failed: (err) => failures.push(err),
  });
  await clock.advance(2000);
  t.equal(pending.length, 3);
  timer.cancel();
  pending[0]?.resolve();
  pending[1]?.reject(new Error('gone'));
  await clock.advance(2000);
  t.same(renewed, []);
  t.same(failures, []);
  t.equal(pending.length, 3, 'nothing more is sent');
});
