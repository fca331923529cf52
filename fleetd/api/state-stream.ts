/**
 * `GET /fleet/v1/watch/state` and `/watch/units` (our extensions, not in fleet): the unit states (units) the list
 * endpoint would give, then every change, as newline-delimited JSON, so a client waits on one stream instead of
 * polling. All clients of one route share one registry watch (opened while anyone watches); on a change the list
 * is read once and the difference is sent to every client whose filter matches. Lines (fleetd/api/API.md):
 * `{"state":{...}}` / `{"unit":{...}}` (new or changed), `{"removed":{"name"[,"machineID"]}}`, `{"synced":true}`
 * after the initial entries, `{"keepalive":true}`.
 * Bounded: MAX_STATE_WATCHERS at once (more get 503), a stream ends after MAX_WATCH_MS (clients reconnect), and a
 * client that does not read (more than MAX_UNSENT_BYTES queued) is dropped.
 */
import type { ServerResponse } from 'node:http';
import type { FleetBackend } from '../../lib/api/backend.js';
import type { ApiUnit, ApiUnitState } from '../../lib/api/schema.js';
import { ApiError, BusyError } from '../../lib/api/errors.js';
import { goJson, wireUnit, wireUnitState } from '../../lib/api/wire.js';
import { Slots } from '../../lib/limit.js';
import { logger } from '../../lib/log.js';
import type { Ctx } from './context.js';

const log = logger('api.state-stream');

/** Streams served at once (per route); more get 503. */
export const MAX_STATE_WATCHERS = 64;
/** A keep-alive line this often, so a client (and fleetd, by the failed write) notices a dead connection. */
export const KEEPALIVE_MS = 15_000;
/** A stream ends after this long; a client that still waits opens a new one. */
export const MAX_WATCH_MS = 10 * 60_000;
/** How long an ended stream waits for its client to take the rest before the connection is cut. */
const END_GRACE_MS = 5_000;
/** Bytes queued for a client that does not read; past this it is dropped. */
export const MAX_UNSENT_BYTES = 1024 * 1024;
/** Changes arriving within this are read from the registry once. */
export const COALESCE_MS = 20;

export interface StateStreamOptions {
  maxWatchers?: number;
  keepaliveMs?: number;
  maxWatchMs?: number;
  maxUnsentBytes?: number;
}

interface Watcher {
  res: ServerResponse;
  machineID: string;
  unitName: string;
}

/** What one route streams: its list, how entries are told apart, written, and filtered. */
interface Kind<T extends { name: string; machineID?: string }> {
  /** The line key of an entry (`state`, `unit`) and the list route a client polls without the stream. */
  readonly field: string;
  readonly listRoute: string;
  readonly noun: string;
  list(b: FleetBackend): Promise<T[]>;
  key(e: T): string;
  wire(e: T): unknown;
  removed(e: T): unknown;
}

const STATES: Kind<ApiUnitState> = {
  field: 'state',
  listRoute: '/fleet/v1/state',
  noun: 'unit state',
  list: (b) => b.listUnitStates(),
  key: (s) => `${s.name}\n${s.machineID ?? ''}`,
  wire: wireUnitState,
  removed: (s) => ({ name: s.name, machineID: s.machineID ?? '' }),
};

const UNITS: Kind<ApiUnit> = {
  field: 'unit',
  listRoute: '/fleet/v1/units',
  noun: 'unit',
  list: (b) => b.listUnits(),
  key: (u) => u.name,
  wire: wireUnit,
  removed: (u) => ({ name: u.name }),
};

class ListStreams<T extends { name: string; machineID?: string }> {
  private readonly slots: Slots;
  private readonly keepaliveMs: number;
  private readonly maxWatchMs: number;
  private readonly maxUnsent: number;
  private readonly watchers = new Set<Watcher>();
  /** The entries last sent, by key; undefined while nobody watches. */
  private current: Map<string, { entry: T; json: string }> | undefined;
  private starting: Promise<{ close(): Promise<void> }> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private refreshing: Promise<void> | undefined;
  private again = false;
  private keepalive: NodeJS.Timeout | undefined;

  constructor(
    private readonly kind: Kind<T>,
    private readonly backend: FleetBackend,
    opts: StateStreamOptions = {},
  ) {
    this.slots = new Slots(opts.maxWatchers ?? MAX_STATE_WATCHERS);
    this.keepaliveMs = opts.keepaliveMs ?? KEEPALIVE_MS;
    this.maxWatchMs = opts.maxWatchMs ?? MAX_WATCH_MS;
    this.maxUnsent = opts.maxUnsentBytes ?? MAX_UNSENT_BYTES;
  }

  /** Streams currently served. */
  get active(): number {
    return this.slots.used;
  }

  /** The route's handler: resolves when the stream has ended. */
  async serve(c: Ctx): Promise<void> {
    // A backend without watches (a test's own) has no stream: the route is unknown, as in fleet.
    if (!this.backend.watchUnitStates) throw new ApiError(404, '');
    if (!this.slots.take()) {
      throw new BusyError(`fleetd is busy: ${this.slots.limit} ${this.kind.noun} streams are open; retry later or poll ${this.kind.listRoute}`);
    }
    const w: Watcher = { res: c.res, machineID: c.query.get('machineID') ?? '', unitName: c.query.get('unitName') ?? '' };
    try {
      await this.start();
      if (c.res.destroyed) return;
      c.res.statusCode = 200;
      c.res.setHeader('Content-Type', 'application/x-ndjson');
      c.res.setHeader('Cache-Control', 'no-store');
      c.res.flushHeaders();
      const lines: string[] = [];
      for (const { entry, json } of this.current!.values()) if (this.matches(w, entry)) lines.push(`{"${this.kind.field}":${json}}\n`);
      lines.push('{"synced":true}\n');
      this.watchers.add(w);
      this.send(w, lines.join(''));
      await new Promise<void>((resolve) => {
        // At the end of its lifetime a stream is ended; one whose client does not take the end is cut off.
        let grace: NodeJS.Timeout | undefined;
        const lifetime = setTimeout(() => {
          c.res.end();
          grace = setTimeout(() => c.res.destroy(), END_GRACE_MS);
        }, this.maxWatchMs);
        c.res.once('close', () => {
          clearTimeout(lifetime);
          clearTimeout(grace);
          resolve();
        });
      });
    } finally {
      this.watchers.delete(w);
      this.slots.give();
      if (this.slots.used === 0) void this.stop();
    }
  }

  /** Ends every stream and the registry watch (the API server is closing). */
  async close(): Promise<void> {
    for (const w of this.watchers) w.res.destroy();
    await this.stop();
  }

  private matches(w: Watcher, s: T): boolean {
    return (!w.unitName || s.name === w.unitName) && (!w.machineID || s.machineID === w.machineID);
  }

  private send(w: Watcher, text: string): void {
    if (w.res.destroyed || text === '') return;
    w.res.write(text);
    if (w.res.writableLength > this.maxUnsent) {
      log.warn(`dropping a ${this.kind.noun} stream whose client does not read`, { queued: w.res.writableLength });
      w.res.destroy();
    }
  }

  /** Opens the shared watch and reads the states, once for all clients (again after everyone left). */
  private start(): Promise<unknown> {
    this.starting ??= (async () => {
      let missed = false;
      const handle = await this.backend.watchUnitStates!(() => {
        if (this.current === undefined) missed = true;
        else this.changed();
      });
      try {
        const entries = await this.kind.list(this.backend);
        this.current = new Map(entries.map((e) => [this.kind.key(e), { entry: e, json: goJson(this.kind.wire(e)) }]));
      } catch (err) {
        await handle.close().catch(() => undefined);
        throw err;
      }
      if (missed) this.changed();
      this.keepalive = setInterval(() => {
        for (const w of this.watchers) this.send(w, '{"keepalive":true}\n');
      }, this.keepaliveMs);
      this.keepalive.unref();
      return handle;
    })();
    const mine = this.starting;
    mine.catch(() => {
      if (this.starting === mine) this.starting = undefined;
    });
    return mine;
  }

  /** Closes the watch the last start opened; nothing is sent until the next start. */
  private async stop(): Promise<void> {
    const starting = this.starting;
    this.starting = undefined;
    clearTimeout(this.timer);
    clearInterval(this.keepalive);
    this.timer = this.keepalive = undefined;
    this.current = undefined;
    const h = await starting?.catch(() => undefined);
    if (this.starting === undefined) {
      clearInterval(this.keepalive);
      this.keepalive = undefined;
      this.current = undefined;
    }
    await h?.close().catch((err: unknown) => log.warn(`closing the ${this.kind.noun} watch failed`, { err }));
  }

  private changed(): void {
    if (this.current === undefined || this.timer !== undefined) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.refresh();
    }, COALESCE_MS);
  }

  /** Reads the states and sends what changed; one read at a time, a change during a read reads again after it. */
  private async refresh(): Promise<void> {
    if (this.refreshing) {
      this.again = true;
      return this.refreshing;
    }
    this.refreshing = (async () => {
      do {
        this.again = false;
        await this.diff();
      } while (this.again && this.current !== undefined);
    })().finally(() => {
      this.refreshing = undefined;
    });
    return this.refreshing;
  }

  private async diff(): Promise<void> {
    // A read that began before everyone left is not applied to the map a later start made.
    const before = this.current;
    if (before === undefined) return;
    let entries: T[];
    try {
      entries = await this.kind.list(this.backend);
    } catch (err) {
      // The watch calls again on the next change; until then clients keep the last entries they were sent.
      log.warn(`reading the ${this.kind.noun}s for their streams failed`, { err });
      return;
    }
    const cur = this.current;
    if (cur === undefined || cur !== before) return;
    const out = new Map<Watcher, string[]>();
    const emit = (s: T, line: string): void => {
      for (const w of this.watchers) {
        if (!this.matches(w, s)) continue;
        let l = out.get(w);
        if (!l) out.set(w, (l = []));
        l.push(line);
      }
    };
    const seen = new Set<string>();
    for (const e of entries) {
      const k = this.kind.key(e);
      seen.add(k);
      const json = goJson(this.kind.wire(e));
      if (cur.get(k)?.json === json) continue;
      cur.set(k, { entry: e, json });
      emit(e, `{"${this.kind.field}":${json}}\n`);
    }
    for (const [k, { entry }] of cur) {
      if (seen.has(k)) continue;
      cur.delete(k);
      emit(entry, `${goJson({ removed: this.kind.removed(entry) })}\n`);
    }
    for (const [w, lines] of out) this.send(w, lines.join(''));
  }
}

/** The unit state stream (`GET /watch/state`, filters `unitName`, `machineID`). */
export class StateStreams extends ListStreams<ApiUnitState> {
  constructor(backend: FleetBackend, opts: StateStreamOptions = {}) {
    super(STATES, backend, opts);
  }
}

/** The unit stream (`GET /watch/units`, filter `unitName`): units with desired and current state, as `GET /units`. */
export class UnitStreams extends ListStreams<ApiUnit> {
  constructor(backend: FleetBackend, opts: StateStreamOptions = {}) {
    super(UNITS, backend, opts);
  }
}
