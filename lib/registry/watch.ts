import type { Etcd3, IKeyValue, IWatchResponse, Watcher } from 'etcd3';
import { logger, type Logger } from '../log.js';
import { readPages } from './etcd.js';
import { forEachSliced } from '../slices.js';
import type { ChangeListener, WatchHandle, WatchReason } from './types.js';

/**
 * How a watched prefix maps onto records: every key below `dir` belongs to at most one group (a unit name, a
 * machine id...), and a group's record is rebuilt from all of that group's keys whenever one of them changes.
 */
export interface Projection<V> {
  readonly dir: string;
  /** Group of a key, given relative to `dir`; undefined for keys the projection ignores. */
  group(relKey: string): string | undefined;
  /** The record of a group from its keys (relative key -> value); undefined when there is no valid record. */
  build(group: string, keys: ReadonlyMap<string, string>): V | undefined;
}

/**
 * Builds a projection's records from key-values handed over in parts (the pages of a read, readPages' consume):
 * each part is reduced to the strings the projection needs at once, so the read's key-value objects do not pile up.
 */
export class Projector<V> {
  /** The keys added so far, by group (relative key -> value); PrefixWatch keeps them as its raw map. */
  readonly groups = new Map<string, Map<string, string>>();

  constructor(private readonly p: Projection<V>) {}

  /** Adds key-values; `restart` forgets those added before (readPages: the first page of a new attempt). */
  add(kvs: readonly IKeyValue[], restart = false): void {
    if (restart) this.groups.clear();
    const dir = Buffer.from(this.p.dir, 'utf8');
    for (const kv of kvs) {
      // keys below `dir` start with its bytes: only the relative key is decoded
      if (kv.key.length < dir.length || kv.key.compare(dir, 0, dir.length, 0, dir.length) !== 0) continue;
      const rel = kv.key.toString('utf8', dir.length);
      const g = this.p.group(rel);
      if (g === undefined) continue;
      let m = this.groups.get(g);
      if (!m) this.groups.set(g, (m = new Map()));
      m.set(rel, kv.value.toString('utf8'));
    }
  }

  /** The records of every group added so far. */
  result(): Map<string, V> {
    const out = new Map<string, V>();
    for (const [g, m] of this.groups) {
      const v = this.p.build(g, m);
      if (v !== undefined) out.set(g, v);
    }
    return out;
  }

  /** result() in slices that yield to the event loop (lib/slices.ts), for reads that may hold 100,000 groups. */
  async resultSliced(): Promise<Map<string, V>> {
    const out = new Map<string, V>();
    await forEachSliced(this.groups, ([g, m]) => {
      const v = this.p.build(g, m);
      if (v !== undefined) out.set(g, v);
    });
    return out;
  }

  /** A PageRead of `prefix` (default: the projection's whole directory) that feeds this projector. */
  read(prefix = this.p.dir): { prefix: string; consume: (kvs: readonly IKeyValue[], first: boolean) => void } {
    return { prefix, consume: (kvs, first) => this.add(kvs, first) };
  }
}

const RESYNC_BACKOFF_MS = [100, 250, 500, 1000, 2000, 5000];

/** A group's record as built from its keys, with the fingerprint that tells whether it changed. */
interface Built<V> {
  readonly group: string;
  readonly rec: V | undefined;
  readonly fp: string | undefined;
}

/**
 * A prefix watch delivering whole-map snapshots plus changed ids. It lists the prefix (in pages, all at one revision:
 * readPages), then watches from the listed revision; the etcd3 watcher resumes from its last revision after reconnects, and when etcd cannot
 * resume (history compacted, watch cancelled) the prefix is listed again and the difference delivered as a
 * `resync`.
 *
 * A listing is taken page by page as it arrives, and its records are built in slices that yield to the event loop
 * (lib/slices.ts), then applied in one step: the listener still sees one consistent snapshot, and an engine's
 * snapshot of 100,000 jobs does not hold its event loop (and leadership lease) for seconds.
 */
export class PrefixWatch<V> implements WatchHandle {
  private raw = new Map<string, Map<string, string>>();
  private readonly view = new Map<string, V>();
  private readonly fingerprints = new Map<string, string>();
  private rev = 0n;
  private watcher: Watcher | undefined;
  private closed = false;
  private chain: Promise<void> = Promise.resolve();
  private readonly log: Logger;

  constructor(
    private readonly client: Etcd3,
    private readonly projection: Projection<V>,
    private readonly listener: ChangeListener<V>,
    name: string,
  ) {
    this.log = logger('registry.watch').child(name);
  }

  get revision(): string {
    return this.rev.toString();
  }

  /** Lists, delivers the initial snapshot, and starts watching. Rejects if the first listing fails. */
  async start(): Promise<this> {
    const listed = await this.list();
    await this.enqueue(() => this.replaceAll(listed.raw, listed.revision, 'initial'));
    this.attach();
    return this;
  }

  /** No listener call starts after this; one already running is not waited for (it may be the caller). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.detach();
  }

  private enqueue(task: () => Promise<void>): Promise<void> {
    const next = this.chain.then(task, task);
    this.chain = next.catch((err: unknown) => this.log.error('watch processing failed', { err }));
    return next;
  }

  private attach(): void {
    if (this.closed) return;
    const w = this.client
      .watch()
      .prefix(this.projection.dir)
      .startRevision((this.rev + 1n).toString())
      .watcher();
    this.watcher = w;
    w.on('data', (res: IWatchResponse) => {
      if (this.watcher === w) void this.enqueue(() => this.applyResponse(res));
    });
    w.on('error', (err: Error) => {
      if (this.watcher !== w) return;
      this.log.info('watch cancelled by etcd, listing again', { err });
      this.watcher = undefined;
      void this.enqueue(() => this.resync());
    });
    w.on('disconnected', (err: Error) => this.log.debug('watch disconnected, etcd3 reconnects', { err }));
  }

  private async detach(): Promise<void> {
    const w = this.watcher;
    this.watcher = undefined;
    if (!w) return;
    w.on('error', () => undefined);
    try {
      await w.cancel();
    } catch (err) {
      this.log.debug('cancelling watch failed', { err });
    }
  }

  private async resync(): Promise<void> {
    for (let attempt = 0; !this.closed; attempt++) {
      try {
        const listed = await this.list();
        if (this.closed) return;
        await this.replaceAll(listed.raw, listed.revision, 'resync');
        this.attach();
        return;
      } catch (err) {
        const delay = RESYNC_BACKOFF_MS[Math.min(attempt, RESYNC_BACKOFF_MS.length - 1)];
        this.log.warn('listing for watch resync failed, retrying', { err, delayMs: delay });
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  }

  /** Lists the prefix (one snapshot, in pages) into a new raw map, page by page. */
  private async list(): Promise<{ raw: Map<string, Map<string, string>>; revision: bigint }> {
    const listing = new Projector(this.projection);
    const snap = await readPages(this.client, [listing.read()]);
    return { raw: listing.groups, revision: BigInt(snap.revision) };
  }

  private async replaceAll(raw: Map<string, Map<string, string>>, revision: bigint, reason: WatchReason): Promise<void> {
    const touched = new Set<string>(this.raw.keys());
    for (const g of raw.keys()) touched.add(g);
    const records = await this.buildSliced(raw, touched);
    this.raw = raw;
    const changed = this.apply(records);
    this.rev = revision;
    if (reason === 'initial' || changed.size > 0) await this.deliver(changed, reason, reason === 'initial');
  }

  private async applyResponse(res: IWatchResponse): Promise<void> {
    if (this.closed) return;
    const touched = new Set<string>();
    for (const ev of res.events ?? []) {
      if (BigInt(ev.kv.mod_revision) <= this.rev) continue;
      const key = ev.kv.key.toString('utf8');
      const group = this.setRaw(key, ev.type === 'Delete' ? undefined : ev.kv.value.toString('utf8'));
      if (group !== undefined) touched.add(group);
    }
    const headerRev = BigInt(res.header.revision);
    if (headerRev > this.rev) this.rev = headerRev;
    const changed = this.rebuild(touched);
    if (changed.size > 0) await this.deliver(changed, 'update', false);
  }

  /** Records one key's value (undefined = deleted); returns its group. */
  private setRaw(key: string, value: string | undefined): string | undefined {
    const raw = this.raw;
    if (!key.startsWith(this.projection.dir)) return undefined;
    const rel = key.slice(this.projection.dir.length);
    const group = this.projection.group(rel);
    if (group === undefined) return undefined;
    let keys = raw.get(group);
    if (value === undefined) {
      keys?.delete(rel);
      if (keys && keys.size === 0) raw.delete(group);
    } else {
      if (!keys) raw.set(group, (keys = new Map()));
      keys.set(rel, value);
    }
    return group;
  }

  /** The record and fingerprint of a group from its keys in `raw` (undefined: none). */
  private record(raw: ReadonlyMap<string, ReadonlyMap<string, string>>, g: string): Built<V> {
    const keys = raw.get(g);
    const rec = keys ? this.projection.build(g, keys) : undefined;
    return { group: g, rec, fp: rec === undefined ? undefined : JSON.stringify(rec) };
  }

  /** Rebuilds the records of `groups`; returns those whose record actually changed. */
  private rebuild(groups: Iterable<string>): Set<string> {
    const built: Built<V>[] = [];
    for (const g of groups) built.push(this.record(this.raw, g));
    return this.apply(built);
  }

  /** Builds the records of `groups` from `raw` in slices, yielding between them; nothing is applied yet. */
  private async buildSliced(raw: ReadonlyMap<string, ReadonlyMap<string, string>>, groups: Iterable<string>): Promise<Built<V>[]> {
    const built: Built<V>[] = [];
    await forEachSliced(groups, (g) => {
      const b = this.record(raw, g);
      if (b.fp !== this.fingerprints.get(g)) built.push(b);
    });
    return built;
  }

  /** Applies built records to the view in one step; returns the groups whose record changed. */
  private apply(built: readonly Built<V>[]): Set<string> {
    const changed = new Set<string>();
    for (const { group: g, rec, fp } of built) {
      if (fp === this.fingerprints.get(g)) continue;
      changed.add(g);
      if (rec === undefined || fp === undefined) {
        this.view.delete(g);
        this.fingerprints.delete(g);
      } else {
        this.view.set(g, rec);
        this.fingerprints.set(g, fp);
      }
    }
    return changed;
  }

  private async deliver(changed: Set<string>, reason: WatchReason, initial: boolean): Promise<void> {
    if (this.closed) return;
    const ids = initial ? new Set(this.view.keys()) : changed;
    try {
      await this.listener(this.view, ids, { reason, revision: this.rev.toString() });
    } catch (err) {
      this.log.error('watch listener threw', { err });
    }
  }
}
