/**
 * lib/reconcile.ts with a manual clock: passes never overlap, triggers during a pass coalesce into exactly one
 * more pass, the periodic pass, the bounded backoff of failing passes (and its reset), wakes, and stop().
 */
import t from 'tap';
import { ManualClock } from '../../lib/clock.js';
import { backoffDelay, ReconcileLoop, type Backoff } from '../../lib/reconcile.js';

/** A pass the test finishes by hand, recording overlap and when each pass began. */
function gatedPasses(clock: ManualClock) {
  const began: number[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  let release: (() => void)[] = [];
  const pass = async (): Promise<void> => {
    began.push(clock.now());
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    await new Promise<void>((r) => release.push(r));
    inFlight--;
  };
  const finish = async (): Promise<void> => {
    const rs = release;
    release = [];
    for (const r of rs) r();
    await clock.advance(0);
  };
  return { pass, finish, began, maxInFlight: () => maxInFlight };
}

const ENGINE_BACKOFF: Backoff = { firstMs: 100, factor: 2, maxMs: 1000 };

t.test('backoff delays: doubling from firstMs, bounded by maxMs', async (t) => {
  const rows: Array<[Backoff, number, number]> = [
    [ENGINE_BACKOFF, 1, 100],
    [ENGINE_BACKOFF, 2, 200],
    [ENGINE_BACKOFF, 4, 800],
    [ENGINE_BACKOFF, 5, 1000],
    [ENGINE_BACKOFF, 50, 1000],
    [{ firstMs: 1000, factor: 1, maxMs: 1000 }, 7, 1000],
    [{ firstMs: 100, factor: 2, maxMs: 50 }, 1, 50],
  ];
  for (const [b, n, ms] of rows) t.equal(backoffDelay(b, n), ms, `failure ${n} of ${JSON.stringify(b)}`);
  t.throws(() => new ReconcileLoop({ clock: new ManualClock(), pass: async () => undefined, intervalMs: 0, backoff: ENGINE_BACKOFF }), /interval/);
  t.throws(() => new ReconcileLoop({ clock: new ManualClock(), pass: async () => undefined, intervalMs: 10, backoff: { firstMs: 10, factor: 0.5, maxMs: 5 } }), /invalid backoff/);
});

t.test('triggers during a pass coalesce into exactly one more pass; passes never overlap', async (t) => {
  const clock = new ManualClock(0);
  const g = gatedPasses(clock);
  const loop = new ReconcileLoop({ clock, pass: g.pass, intervalMs: 60_000, backoff: ENGINE_BACKOFF });
  loop.trigger();
  await clock.advance(0);
  t.equal(g.began.length, 0, 'a trigger before start() waits for it');
  loop.start();
  await clock.advance(0);
  t.equal(g.began.length, 1, 'start() runs one pass for both');
  for (let i = 0; i < 5; i++) loop.trigger();
  t.ok(loop.busy);
  await g.finish();
  t.equal(g.began.length, 2, 'five triggers during the pass: one more pass');
  await g.finish();
  t.equal(g.began.length, 2, 'and no third');
  t.notOk(loop.busy);
  t.equal(g.maxInFlight(), 1, 'never two passes at once');
  await loop.stop();
});

t.test('the periodic pass runs every interval', async (t) => {
  const clock = new ManualClock(0);
  const began: number[] = [];
  const loop = new ReconcileLoop({ clock, pass: async () => void began.push(clock.now()), intervalMs: 1000, backoff: ENGINE_BACKOFF });
  loop.start();
  await clock.advance(3500);
  t.same(began, [0, 1000, 2000, 3000]);
  await loop.stop();
  await clock.advance(5000);
  t.equal(began.length, 4, 'none after stop()');
  t.equal(clock.pending, 0, 'stop() cancels every timer');
});

t.test('a failing pass is retried after the bounded backoff; a good pass resets it', async (t) => {
  const clock = new ManualClock(0);
  const began: number[] = [];
  let failUntil = 4;
  const errors: string[] = [];
  const loop = new ReconcileLoop({
    clock,
    intervalMs: 60_000,
    backoff: { firstMs: 100, factor: 2, maxMs: 300 },
    onError: (err) => errors.push(String(err)),
    pass: async () => {
      began.push(clock.now());
      if (began.length <= failUntil) throw new Error(`pass ${began.length} failed`);
    },
  });
  loop.start();
  await clock.advance(2000);
  // fails at 0, 100 (+100), 300 (+200), 600 (+300: bounded), then succeeds at 900
  t.same(began, [0, 100, 300, 600, 900]);
  t.equal(errors.length, 4);
  t.equal(loop.failures, 0, 'reset by the good pass');
  failUntil = began.length + 1;
  loop.trigger();
  await clock.advance(150);
  t.same(began.slice(5), [2000, 2100], 'after a reset the first retry is firstMs again');
  await loop.stop();
});

t.test('failed() from inside a pass retries without throwing; one retry armed at a time', async (t) => {
  const clock = new ManualClock(0);
  const began: number[] = [];
  let loop: ReconcileLoop | undefined;
  loop = new ReconcileLoop({
    clock,
    intervalMs: 60_000,
    backoff: ENGINE_BACKOFF,
    pass: async () => {
      began.push(clock.now());
      if (began.length === 1) {
        loop!.failed();
        loop!.failed();
      }
    },
  });
  loop.start();
  t.equal(loop.failures, 2);
  await clock.advance(1000);
  t.same(began, [0, 100], 'one retry: the one the first failure armed');
  await loop.stop();
});

t.test('wakeAt: a pass at a given time; a later call replaces it, undefined cancels it', async (t) => {
  const clock = new ManualClock(0);
  const began: number[] = [];
  const loop = new ReconcileLoop({ clock, pass: async () => void began.push(clock.now()), intervalMs: 60_000, backoff: ENGINE_BACKOFF });
  loop.start();
  loop.wakeAt('hold', 500);
  loop.wakeAt('hold', 700);
  loop.wakeAt('grace', 300);
  loop.wakeAt('grace', undefined);
  await clock.advance(1000);
  t.same(began, [0, 700]);
  await loop.stop();
});

t.test('stop() waits for the pass in flight and nothing runs after it', async (t) => {
  const clock = new ManualClock(0);
  const g = gatedPasses(clock);
  const loop = new ReconcileLoop({ clock, pass: g.pass, intervalMs: 1000, backoff: ENGINE_BACKOFF });
  loop.start();
  await clock.advance(0);
  loop.trigger();
  let stopped = false;
  const stopping = loop.stop().then(() => (stopped = true));
  await clock.advance(0);
  t.notOk(stopped, 'still waiting for the pass');
  await g.finish();
  await stopping;
  t.ok(stopped);
  t.equal(g.began.length, 1, 'the coalesced trigger did not run after stop()');
  loop.trigger();
  loop.start();
  await clock.advance(5000);
  t.equal(g.began.length, 1, 'a stopped loop stays stopped');
});
