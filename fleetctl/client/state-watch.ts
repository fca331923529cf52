/**
 * fleetctl's side of the API's streams (`GET /fleet/v1/watch/state`, `/watch/units`, fleetd/api/API.md): reads
 * their newline-delimited JSON into a map of the latest entries, so a wait reacts to each change without polling.
 * Any line it cannot read ends the view (`live` false) and the caller falls back to polling.
 */
import type { IncomingMessage } from 'node:http';
import type { ApiUnit, ApiUnitState } from '../../lib/api/schema.js';
import { decodeUnit, decodeUnitState } from '../../lib/api/decode.js';
import { parseJsonObject } from '../../lib/json.js';
import type { StreamWatch } from './types.js';

/** A line longer than this is not one of fleetd's: the stream is dropped. */
const MAX_LINE_BYTES = 1024 * 1024;
/** fleetd sends a keep-alive line every 15 s; a stream silent for this long has lost its server and is dropped. */
export const STREAM_IDLE_MS = 45_000;

/** How one stream's lines are read: the line's field, its decoder, and the key of an entry (or a removal). */
export interface StreamKind<T> {
  readonly field: string;
  decode(v: unknown, at: string): T;
  key(e: { name: string; machineID?: string }): string;
}

export const STATE_STREAM: StreamKind<ApiUnitState> = {
  field: 'state',
  decode: decodeUnitState,
  key: (e) => `${e.name}\n${e.machineID ?? ''}`,
};

export const UNIT_STREAM: StreamKind<ApiUnit> = {
  field: 'unit',
  decode: decodeUnit,
  key: (e) => e.name,
};

export class StreamedList<T extends { name: string; machineID?: string }> implements StreamWatch<T> {
  readonly entries = new Map<string, T>();
  version = 0;
  live = true;
  private synced = false;
  private buf = '';
  private waiters: (() => void)[] = [];
  private onSynced: ((ok: boolean) => void) | undefined;

  constructor(
    private readonly kind: StreamKind<T>,
    private readonly res: IncomingMessage,
    idleMs = STREAM_IDLE_MS,
  ) {
    res.setEncoding('utf8');
    res.setTimeout(idleMs, () => this.close());
    res.on('data', (chunk: string) => this.data(chunk));
    res.on('end', () => this.end());
    res.on('close', () => this.end());
    res.on('error', () => this.end());
  }

  /** Resolves true once the current states arrived, false when the stream ended first or took over `timeoutMs`. */
  ready(timeoutMs: number): Promise<boolean> {
    if (this.synced || !this.live) return Promise.resolve(this.synced && this.live);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.close();
      }, timeoutMs);
      this.onSynced = (ok) => {
        clearTimeout(timer);
        this.onSynced = undefined;
        resolve(ok);
      };
    });
  }

  changed(since: number): Promise<void> {
    if (this.version > since || !this.live) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  close(): void {
    this.res.destroy();
    this.end();
  }

  private bump(): void {
    this.version++;
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  private end(): void {
    if (!this.live) return;
    this.live = false;
    this.res.destroy();
    this.onSynced?.(false);
    this.bump();
  }

  private data(chunk: string): void {
    this.buf += chunk;
    let changed = false;
    let i: number;
    while (this.live && (i = this.buf.indexOf('\n')) >= 0) {
      const line = this.buf.slice(0, i);
      this.buf = this.buf.slice(i + 1);
      if (!this.apply(line)) return this.end();
      changed = true;
    }
    if (this.buf.length > MAX_LINE_BYTES) return this.end();
    if (changed && this.synced) this.bump();
  }

  /** False for a line that is not one of the stream's. */
  private apply(line: string): boolean {
    const o = parseJsonObject(line);
    if (o === undefined) return false;
    try {
      if (o[this.kind.field] !== undefined) {
        const e = this.kind.decode(o[this.kind.field], `streamed ${this.kind.field}`);
        this.entries.set(this.kind.key(e), e);
      } else if (o['removed'] !== undefined) {
        const r = decodeUnitState(o['removed'], 'removed entry');
        this.entries.delete(this.kind.key(r));
      } else if (o.synced === true && !this.synced) {
        this.synced = true;
        this.onSynced?.(true);
      }
    } catch {
      return false;
    }
    return true;
  }
}
