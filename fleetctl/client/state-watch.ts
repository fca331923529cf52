/**
 * fleetctl's side of the API's unit state stream (`GET /fleet/v1/watch/state`, fleetd/api/API.md): reads its
 * newline-delimited JSON into a map of the latest states, so a wait reacts to each change without polling. Any
 * line it cannot read ends the view (`live` false) and the caller falls back to polling.
 */
import type { IncomingMessage } from 'node:http';
import type { ApiUnitState } from '../../lib/api/schema.js';
import { decodeUnitState } from '../../lib/api/decode.js';
import type { UnitStateWatch } from './types.js';

/** A line longer than this is not one of fleetd's: the stream is dropped. */
const MAX_LINE_BYTES = 1024 * 1024;

const keyOf = (name: string, machineID: string | undefined): string => `${name}\n${machineID ?? ''}`;

export class StreamedUnitStates implements UnitStateWatch {
  readonly states = new Map<string, ApiUnitState>();
  version = 0;
  live = true;
  private synced = false;
  private buf = '';
  private waiters: (() => void)[] = [];
  private onSynced: ((ok: boolean) => void) | undefined;

  constructor(private readonly res: IncomingMessage) {
    res.setEncoding('utf8');
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
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch {
      return false;
    }
    if (typeof v !== 'object' || v === null) return false;
    const o = v as { state?: unknown; removed?: unknown; synced?: unknown };
    try {
      if (o.state !== undefined) {
        const s = decodeUnitState(o.state, 'streamed state');
        this.states.set(keyOf(s.name, s.machineID), s);
      } else if (o.removed !== undefined) {
        const r = decodeUnitState(o.removed, 'removed state');
        this.states.delete(keyOf(r.name, r.machineID));
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
