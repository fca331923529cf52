/**
 * lib/clock.ts: the manual clock fires due timers in due order, with now() at each timer's due time, re-arms
 * intervals, honours cancel(), and fires timers armed by a firing timer within the same advance.
 */
import t from 'tap';
import { ManualClock, sleep, systemClock } from '../../lib/clock.js';

t.test('advance fires due timers in order, at their due time', async (t) => {
  const clock = new ManualClock(0);
  const fired: string[] = [];
  clock.after(30, () => fired.push(`c@${clock.now()}`));
  clock.after(10, () => fired.push(`a@${clock.now()}`));
  clock.after(10, () => fired.push(`b@${clock.now()}`));
  clock.after(31, () => fired.push('late'));
  await clock.advance(30);
  t.same(fired, ['a@10', 'b@10', 'c@30'], 'due order, ties in arming order');
  t.equal(clock.now(), 30);
  t.equal(clock.pending, 1, 'the timer due later is still armed');
  t.equal(clock.nextDue(), 31);
});

t.test('intervals repeat, cancel stops them, and nested timers fire within one advance', async (t) => {
  const clock = new ManualClock(100);
  let ticks = 0;
  const every = clock.every(10, () => ticks++);
  const nested: number[] = [];
  clock.after(5, () => clock.after(5, () => nested.push(clock.now())));
  await clock.advance(35);
  t.equal(ticks, 3, 'at 110, 120, 130');
  t.same(nested, [110]);
  every.cancel();
  await clock.advance(100);
  t.equal(ticks, 3, 'cancelled');
  const once = clock.after(1, () => t.fail('cancelled timer fired'));
  once.cancel();
  await clock.advance(5);
  t.equal(clock.pending, 0);
});

t.test('async work a timer starts runs before the next timer fires', async (t) => {
  const clock = new ManualClock(0);
  const log: string[] = [];
  clock.after(1, () => {
    void (async () => {
      await Promise.resolve();
      await new Promise<void>((r) => setImmediate(r));
      log.push('first done');
    })();
  });
  clock.after(2, () => log.push('second'));
  await clock.advance(2);
  t.same(log, ['first done', 'second']);
});

t.test('sleep resolves on the clock it is given', async (t) => {
  const clock = new ManualClock(0);
  let done = false;
  void sleep(clock, 50).then(() => (done = true));
  await clock.advance(49);
  t.notOk(done);
  await clock.advance(1);
  t.ok(done);
  await t.rejects(clock.advance(-1), /cannot move time/);
  t.throws(() => clock.every(0, () => undefined), /interval must be positive/);
});

t.test('the system clock is the real time', async (t) => {
  const before = Date.now();
  t.ok(systemClock.now() >= before);
  await sleep(systemClock, 5);
  let n = 0;
  const every = systemClock.every(1, () => n++, { unref: true });
  await new Promise((r) => setTimeout(r, 20));
  every.cancel();
  t.ok(n >= 1, 'interval fired');
});
