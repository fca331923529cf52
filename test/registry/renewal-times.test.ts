/**
 * RenewalTimes (lib/registry/lease-rescue.ts): a lease counts as renewed from when the answered keep-alive was
 * sent, not from when its answer arrived, so the engine leader's own deadline never runs past etcd's expiry. Pure:
 * a hand-moved clock, no etcd.
 */
import t from 'tap';
import { ManualClock } from '../../lib/clock.js';
import { RenewalTimes } from '../../lib/registry/lease-rescue.js';

/** A ManualClock at `start`, and a way to move it forward to an absolute time. */
function clockAt(start: number): ManualClock & { set(ms: number): Promise<void> } {
  const c = new ManualClock(start);
  return Object.assign(c, { set: (ms: number) => c.advance(ms - c.now()) });
}

t.test('an answer renews from its send time, not its arrival', async (t) => {
  const c = clockAt(1000);
  const r = new RenewalTimes(c);
  await c.set(2000);
  r.sent();
  await c.set(2900); // a slow answer: 900 ms on the way
  r.answered();
  t.equal(r.since(), 900, 'counted from 2000, when etcd could have renewed at the earliest');
});

t.test('stream answers belong to the oldest unanswered sends, in order', async (t) => {
  const c = clockAt(0);
  const r = new RenewalTimes(c);
  await c.set(100);
  r.sent();
  await c.set(200);
  r.sent();
  await c.set(300);
  r.answered();
  t.equal(r.since(), 200, 'the first answer is for the send at 100');
  r.answered();
  t.equal(r.since(), 100, 'the second for the send at 200');
  r.answered();
  t.equal(r.since(), 100, 'an answer with no send on record renews nothing');
});

t.test('a new stream forgets sends the old one will never answer', async (t) => {
  const c = clockAt(0);
  const r = new RenewalTimes(c);
  await c.set(100);
  r.sent(); // lost with its stream
  r.newStream();
  await c.set(500);
  r.sent();
  await c.set(600);
  r.answered();
  t.equal(r.since(), 100, 'renewed from 500, not from the lost send at 100');
});

t.test('a grant or a rescue renews from the time given, never backwards', async (t) => {
  const c = clockAt(0);
  const r = new RenewalTimes(c);
  await c.set(1000);
  r.renewedAt(800);
  t.equal(r.since(), 200);
  r.renewedAt(500);
  t.equal(r.since(), 200, 'an older renewal does not move it back');
});
