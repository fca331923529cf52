/**
 * Long loops in slices. At 100,000 units one loop over every unit (a watch's snapshot, the engine's cluster state,
 * serialising it for the plan worker) holds the event loop for a second or more on a busy box, and the same event
 * loop keeps the engine's leadership lease and the machine's own lease alive. These helpers run such a loop a
 * slice of items at a time and give the event loop a turn (setImmediate: timers and I/O run) between slices.
 */

/** Items per slice: small enough that a slice of any of the loops above takes milliseconds. */
export const SLICE_ITEMS = 2000;

/** Lets the event loop run what is due (timers, I/O callbacks) before going on. */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * Calls `fn` on every item in order, yielding to the event loop after every `slice` items. Items a live Map or Set
 * gains or loses meanwhile follow the iterator's rules; callers iterate over what they own or may see change.
 */
export async function forEachSliced<T>(items: Iterable<T>, fn: (item: T) => void, slice = SLICE_ITEMS): Promise<void> {
  let n = 0;
  for (const item of items) {
    fn(item);
    if (++n % slice === 0) await yieldToEventLoop();
  }
}

/** JSON.stringify of an array, element by element in slices (the parts joined at the end). */
export async function stringifySliced(items: Iterable<unknown>, slice = SLICE_ITEMS): Promise<string> {
  const parts: string[] = [];
  await forEachSliced(items, (item) => parts.push(JSON.stringify(item) ?? 'null'), slice);
  return `[${parts.join(',')}]`;
}
