/**
 * etcd's Range request and response in protobuf wire format, for the pages of whole-prefix reads (readPages).
 * etcd3 decodes every answer into protobufjs objects and then copies each key and value into a fresh Buffer
 * (`toObject`): at 100,000 units a listing's 300,000 job keys cost 1.3–1.7 s of CPU that way, most of it
 * allocation and garbage collection, against 0.4–0.5 s when keys and values are views into the received message
 * (measured 5 Dec 2026 on a filled etcd, docs/benchmarks.md "100,000 units"). Field numbers are those of etcd's
 * rpc.proto and kv.proto (RangeRequest, RangeResponse, ResponseHeader, mvccpb.KeyValue); unknown fields are
 * skipped as protobuf requires. A malformed message throws RangeCodecError, never reads past its end.
 */
import type { IKeyValue } from 'etcd3';
import { RegistryError } from './errors.js';

export class RangeCodecError extends RegistryError {
  override readonly name: string = 'RangeCodecError';
}

/** The fields of a RangeRequest readPages sends. */
export interface RawRangeRequest {
  readonly key: Buffer;
  readonly range_end: Buffer;
  readonly limit?: number;
  /** a decimal revision (0 or absent: the newest) */
  readonly revision?: string;
  readonly keys_only?: boolean;
}

/** A RangeResponse: kvs' keys and values are views into the received message. */
export interface RawRangeResponse {
  readonly header: { readonly revision: string };
  readonly kvs: IKeyValue[];
  readonly more: boolean;
  readonly count: string;
}

const VARINT = 0;
const FIXED64 = 1;
const BYTES = 2;
const FIXED32 = 5;

function pushVarint(out: number[], v: bigint): void {
  while (v >= 0x80n) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
}

export function encodeRangeRequest(r: RawRangeRequest): Buffer {
  const parts: Buffer[] = [];
  const bytes = (field: number, b: Buffer): void => {
    const h: number[] = [];
    pushVarint(h, BigInt((field << 3) | BYTES));
    pushVarint(h, BigInt(b.length));
    parts.push(Buffer.from(h), b);
  };
  const int = (field: number, v: bigint): void => {
    const h: number[] = [];
    pushVarint(h, BigInt((field << 3) | VARINT));
    pushVarint(h, v);
    parts.push(Buffer.from(h));
  };
  if (r.key.length > 0) bytes(1, r.key);
  if (r.range_end.length > 0) bytes(2, r.range_end);
  if (r.limit !== undefined && r.limit > 0) int(3, BigInt(r.limit));
  if (r.revision !== undefined && r.revision !== '0') {
    if (!/^[0-9]{1,19}$/.test(r.revision)) throw new RangeCodecError(`invalid revision ${JSON.stringify(r.revision)} for a range request`);
    int(4, BigInt(r.revision));
  }
  if (r.keys_only) int(8, 1n);
  return Buffer.concat(parts);
}

/** A reader over one message (or a nested one: `end` bounds it). */
class Reader {
  constructor(
    private readonly buf: Buffer,
    public pos: number,
    readonly end: number,
  ) {}

  get done(): boolean {
    return this.pos >= this.end;
  }

  private byte(): number {
    if (this.pos >= this.end) throw new RangeCodecError('truncated etcd range response');
    return this.buf[this.pos++]!;
  }

  /** A varint as a decimal string (int64 and uint64 fields: revisions, lease ids, counts). */
  varintString(): string {
    let lo = 0;
    let scale = 1;
    let b: number;
    let i = 0;
    do {
      b = this.byte();
      if (i >= 7) return this.varintBig(lo, i, b);
      lo += (b & 0x7f) * scale;
      scale *= 128;
      i++;
    } while (b & 0x80);
    return String(lo);
  }

  /** The rest of a varint past 49 bits, in BigInt (lease ids are random 63-bit numbers). */
  private varintBig(lo: number, shift: number, first: number): string {
    let v = BigInt(lo);
    let b = first;
    let s = BigInt(7 * shift);
    for (;;) {
      v |= BigInt(b & 0x7f) << s;
      if (!(b & 0x80)) break;
      s += 7n;
      if (s > 63n) throw new RangeCodecError('varint too long in etcd range response');
      b = this.byte();
    }
    return BigInt.asIntN(64, v).toString();
  }

  /** A varint that fits a JS number (tags, lengths, booleans). */
  varint(): number {
    let v = 0;
    let scale = 1;
    let b: number;
    do {
      b = this.byte();
      v += (b & 0x7f) * scale;
      scale *= 128;
      if (scale > 2 ** 56) throw new RangeCodecError('varint too long in etcd range response');
    } while (b & 0x80);
    return v;
  }

  /** The bounds of a length-delimited field's contents. */
  span(): [number, number] {
    const len = this.varint();
    const start = this.pos;
    if (start + len > this.end) throw new RangeCodecError('truncated etcd range response');
    this.pos = start + len;
    return [start, start + len];
  }

  /** Skips a varint of up to 10 bytes (a uint64 such as a header's cluster id needs all 64 bits). */
  private skipVarint(): void {
    for (let i = 0; i < 10; i++) if (!(this.byte() & 0x80)) return;
    throw new RangeCodecError('varint too long in etcd range response');
  }

  skip(wireType: number): void {
    if (wireType === VARINT) this.skipVarint();
    else if (wireType === BYTES) this.span();
    else if (wireType === FIXED64 || wireType === FIXED32) {
      const n = wireType === FIXED64 ? 8 : 4;
      if (this.pos + n > this.end) throw new RangeCodecError('truncated etcd range response');
      this.pos += n;
    } else throw new RangeCodecError(`unknown protobuf wire type ${wireType} in etcd range response`);
  }
}

const EMPTY = Buffer.alloc(0);

function decodeKeyValue(buf: Buffer, start: number, end: number): IKeyValue {
  const r = new Reader(buf, start, end);
  const kv: IKeyValue = { key: EMPTY, value: EMPTY, create_revision: '0', mod_revision: '0', version: '0', lease: '0' };
  while (!r.done) {
    const tag = r.varint();
    const field = Math.floor(tag / 8);
    const wire = tag % 8;
    if (wire === BYTES && (field === 1 || field === 5)) {
      const [s, e] = r.span();
      if (field === 1) kv.key = buf.subarray(s, e);
      else kv.value = buf.subarray(s, e);
    } else if (wire === VARINT && field >= 2 && field <= 6 && field !== 5) {
      const v = r.varintString();
      if (field === 2) kv.create_revision = v;
      else if (field === 3) kv.mod_revision = v;
      else if (field === 4) kv.version = v;
      else kv.lease = v;
    } else r.skip(wire);
  }
  return kv;
}

export function decodeRangeResponse(buf: Buffer): RawRangeResponse {
  const r = new Reader(buf, 0, buf.length);
  const kvs: IKeyValue[] = [];
  let revision = '0';
  let more = false;
  let count = '0';
  while (!r.done) {
    const tag = r.varint();
    const field = Math.floor(tag / 8);
    const wire = tag % 8;
    if (field === 1 && wire === BYTES) {
      const [s, e] = r.span();
      const h = new Reader(buf, s, e);
      while (!h.done) {
        const t = h.varint();
        if (Math.floor(t / 8) === 3 && t % 8 === VARINT) revision = h.varintString();
        else h.skip(t % 8);
      }
    } else if (field === 2 && wire === BYTES) {
      const [s, e] = r.span();
      kvs.push(decodeKeyValue(buf, s, e));
    } else if (field === 3 && wire === VARINT) more = r.varint() !== 0;
    else if (field === 4 && wire === VARINT) count = r.varintString();
    else r.skip(wire);
  }
  return { header: { revision }, kvs, more, count };
}
