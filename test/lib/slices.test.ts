/**
 * lib/slices.ts: long loops run a slice at a time and give the event loop a turn between slices (what keeps an
 * engine's lease alive at 100,000 units); asserted by what runs in between, never by timing.
 */
import t from 'tap';
import { forEachSliced, stringifySliced, yieldToEventLoop } from '../../lib/slices.js';

t.test('forEachSliced calls fn on every item in order and lets the event loop run between slices', async (t) => {
  const seen: number[] = [];
  const between: number[] = [];
  let ticking = true;
  const tick = (): void => {
    between.push(seen.length);
    if (ticking) setImmediate(tick);
  };
  setImmediate(tick);
  await forEachSliced(Array.from({ length: 10 }, (_, i) => i), (i) => seen.push(i), 3);
  ticking = false;
  t.same(seen, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], 'every item, in order');
  t.same([...new Set(between)].filter((n) => n > 0 && n < 10), [3, 6, 9], 'the event loop ran after each slice of 3, never inside one');
});

t.test('forEachSliced on fewer items than a slice never yields', async (t) => {
  let ran = false;
  setImmediate(() => (ran = true));
  const done: number[] = [];
  const p = forEachSliced([1, 2], (i) => done.push(i), 3);
  t.same(done, [1, 2], 'all items handled synchronously');
  await p;
  t.notOk(ran, 'no turn of the event loop was needed');
  await yieldToEventLoop();
  t.ok(ran, 'yieldToEventLoop gives it one');
});

t.test('stringifySliced is JSON.stringify of the array', async (t) => {
  const items = [{ a: 1, b: [2, 'x'] }, 'y', null, 3, undefined, { u: undefined }];
  t.equal(await stringifySliced(items, 2), JSON.stringify(items));
  t.equal(await stringifySliced([], 2), '[]');
});
