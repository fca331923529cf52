/**
 * lib/limit.ts's inOrderLimited: at most `limit` calls at once, started in item order, outcomes consumed in item
 * order; a consumer that throws stops new calls and waits for those under way; with limit 1 an item is consumed
 * before the next one starts (fleetctl/create.ts relies on both to print and stop as one unit after another).
 */
import t from 'tap';
import { inOrderLimited } from '../../lib/limit.js';

const tick = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

t.test('bounded, started in order, consumed in order', async (t) => {
  const items = Array.from({ length: 20 }, (_, i) => i);
  let running = 0;
  let most = 0;
  const started: number[] = [];
  const consumed: number[] = [];
  await inOrderLimited(
    items,
    4,
    async (i) => {
      started.push(i);
      running++;
      most = Math.max(most, running);
      await tick((i * 7) % 5); // later items may finish first
      running--;
      return i * 10;
    },
    (r, item) => {
      t.same(r, { status: 'fulfilled', value: item * 10 });
      consumed.push(item);
    },
  );
  t.same(started, items);
  t.same(consumed, items);
  t.equal(most, 4);
});

t.test('a rejected call is handed to the consumer, not thrown', async (t) => {
  const seen: string[] = [];
  await inOrderLimited([1, 2, 3], 2, async (i) => {
    if (i === 2) throw new Error('two');
    return i;
  }, (r) => {
    seen.push(r.status === 'fulfilled' ? String(r.value) : (r.reason as Error).message);
  });
  t.same(seen, ['1', 'two', '3']);
});

t.test('a consumer that throws: nothing more starts, the calls under way finish first', async (t) => {
  const started: number[] = [];
  let finished = 0;
  const err = await inOrderLimited(
    Array.from({ length: 50 }, (_, i) => i),
    4,
    async (i) => {
      started.push(i);
      await tick(5);
      finished++;
      return i;
    },
    (r) => {
      if (r.status === 'fulfilled' && r.value === 1) throw new Error('stop at 1');
    },
  ).then(
    () => undefined,
    (e: unknown) => e,
  );
  t.match(err, { message: 'stop at 1' });
  t.ok(started.length < 50, `stopped starting (${started.length} started)`);
  t.equal(finished, started.length, 'every call started had finished when it rejected');
});

t.test('limit 1: each item is consumed before the next one starts', async (t) => {
  const events: string[] = [];
  const err = await inOrderLimited(
    [0, 1, 2],
    1,
    async (i) => {
      events.push(`start ${i}`);
      await tick(1);
      return i;
    },
    (r) => {
      if (r.status !== 'fulfilled') return;
      events.push(`consume ${r.value}`);
      if (r.value === 1) throw new Error('stop');
    },
  ).then(
    () => undefined,
    (e: unknown) => e,
  );
  t.match(err, { message: 'stop' });
  t.same(events, ['start 0', 'consume 0', 'start 1', 'consume 1']);
});
