/**
 * `GET /fleet/v1/watch/state` (our extension, not in fleet): the unit states the list endpoint would give, then
 * every change, as newline-delimited JSON, so a client waits on one stream instead of polling `/state`. All clients
 * share one registry watch (opened while anyone watches); on a change the states are read once and the difference
 * is sent to every client whose filter matches. Lines (fleetd/api/API.md): `{"state":{...}}` (new or changed),
 * `{"removed":{"name","machineID"}}`, `{"synced":true}` after the initial states, `{"keepalive":true}`.
 * Bounded: MAX_STATE_WATCHERS at once (more get 503), a stream ends after MAX_WATCH_MS (clients reconnect), and a
 * client that does not read (more than MAX_UNSENT_BYTES queued) is dropped.
 */
import type { ServerResponse } from 'node:http';
import type { FleetBackend } from '../../lib/api/backend.js';
import type { ApiUnitState } from '../../lib/api/schema.js';
import { BusyError } from '../../lib/api/errors.js';
import { goJson, wireUnitState } from '../../lib/api/wire.js';
import { Slots } from '../../lib/limit.js';
import { logger } from '../../lib/log.js';
import type { Ctx } from './context.js';

const log = logger('api.state-stream');

/** State streams served at once; more get 503. */
export const MAX_STATE_WATCHERS = 64;
/** A keep-alive line this often, so a client (and fleetd, by the failed write) notices a dead connection. */
export const KEEPALIVE_MS = 15_000;
/** A stream ends after this long; a client that still waits opens a new one. */
export const MAX_WATCH_MS = 10 * 60_000;
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

const keyOf = (s: ApiUnitState): string => `${s.name}\n${s.machineID ?? ''}`;

export class StateStreams {
  private readonly slots: Slots;
  private readonly keepaliveMs: number;
  private readonly maxWatchMs: number;
  private readonly maxUnsent: number;
  private readonly watchers = new Set<Watcher>();
  /** The states last sent, by unit and machine; undefined while nobody watches. */
  private current: Map<string, { state: ApiUnitState; json: string }> | undefined;
  private starting: Promise<{ close(): Promise<void> }> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private refreshing: Promise<void> | undefined;
  private again = false;
  private keepalive: NodeJS.Timeout | undefined;

  constructor(
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
    if (!this.backend.watchUnitStates) throw new BusyError('this fleetd cannot stream unit states');
    if (!this.slots.take()) {
      throw new BusyError(`fleetd is busy: ${this.slots.limit} unit state streams are open; retry later or poll ${'/fleet/v1/state'}`);
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
      for (const { state, json } of this.current!.values()) if (this.matches(w, state)) lines.push(`{"state":${json}}\n`);
      lines.push('{"synced":true}\n');
      this.watchers.add(w);
      this.send(w, lines.join(''));
      await new Promise<void>((resolve) => {
        const lifetime = setTimeout(() => c.res.end(), this.maxWatchMs);
        c.res.once('close', () => {
          clearTimeout(lifetime);
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

  private matches(w: Watcher, s: ApiUnitState): boolean {
    return (!w.unitName || s.name === w.unitName) && (!w.machineID || s.machineID === w.machineID);
  }

  private send(w: Watcher, text: string): void {
    if (w.res.destroyed || text === '') return;
    w.res.write(text);
    if (w.res.writableLength > this.maxUnsent) {
      log.warn('dropping a unit state stream whose client does not read', { queued: w.res.writableLength });
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
        const states = await this.backend.listUnitStates();
        this.current = new Map(states.map((s) => [keyOf(s), { state: s, json: goJson(wireUnitState(s)) }]));
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
    await h?.close().catch((err: unknown) => log.warn('closing the unit state watch failed', { err }));
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
    let states: ApiUnitState[];
    try {
      states = await this.backend.listUnitStates();
    } catch (err) {
      // The watch calls again on the next change; until then clients keep the last states they were sent.
      log.warn('reading unit states for the state streams failed', { err });
      return;
    }
    const cur = this.current;
    if (cur === undefined) return;
    const out = new Map<Watcher, string[]>();
    const emit = (s: ApiUnitState, line: string): void => {
      for (const w of this.watchers) {
        if (!this.matches(w, s)) continue;
        let l = out.get(w);
        if (!l) out.set(w, (l = []));
        l.push(line);
      }
    };
    const seen = new Set<string>();
    for (const s of states) {
      const k = keyOf(s);
      seen.add(k);
      const json = goJson(wireUnitState(s));
      if (cur.get(k)?.json === json) continue;
      cur.set(k, { state: s, json });
      emit(s, `{"state":${json}}\n`);
    }
    for (const [k, { state }] of cur) {
      if (seen.has(k)) continue;
      cur.delete(k);
      emit(state, `${goJson({ removed: { name: state.name, machineID: state.machineID ?? '' } })}\n`);
    }
    for (const [w, lines] of out) this.send(w, lines.join(''));
  }
}
