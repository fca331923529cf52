/**
 * The lean Range codec (lib/registry/range-codec.ts) against hand-built protobuf messages: every KeyValue field,
 * a 63-bit lease id and 64-bit header ids exactly, unknown fields of every wire type skipped, and a truncated or
 * overlong message refused with RangeCodecError instead of read past its end. Pure, no etcd (large-read.test.ts
 * compares it with etcd3's decoding on a real etcd).
 */
import t from 'tap';
import { decodeRangeResponse, encodeRangeRequest, RangeCodecError } from '../../lib/registry/range-codec.js';

function varint(v: bigint): number[] {
  const out: number[] = [];
  while (v >= 0x80n) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
  return out;
}
const tag = (field: number, wire: number): number[] => varint(BigInt(field * 8 + wire));
const int = (field: number, v: bigint): number[] => [...tag(field, 0), ...varint(v)];
const bytes = (field: number, b: number[] | Buffer): number[] => [...tag(field, 2), ...varint(BigInt(b.length)), ...b];
const str = (field: number, s: string): number[] => bytes(field, Buffer.from(s));

const LEASE = 7587869023123456789n;
const CLUSTER = 18446744073709551000n; // a uint64 above 2^63

function keyValue(key: string, value: string, rev: bigint, lease = 0n): number[] {
  return [...str(1, key), ...int(2, rev), ...int(3, rev + 1n), ...int(4, 2n), ...str(5, value), ...(lease ? int(6, lease) : [])];
}

t.test('a range response: header revision, every key-value field, more and count', async (t) => {
  const header = [...int(1, CLUSTER), ...int(2, 12345678901234567n), ...int(3, 4242n), ...int(4, 7n)];
  const msg = Buffer.from([
    ...bytes(1, header),
    ...bytes(2, keyValue('/a/1', 'one', 10n, LEASE)),
    ...bytes(2, keyValue('/a/2', '', 11n)),
    ...int(3, 1n),
    ...int(4, 250n),
  ]);
  const r = decodeRangeResponse(msg);
  t.equal(r.header.revision, '4242');
  t.equal(r.more, true);
  t.equal(r.count, '250');
  t.same(
    r.kvs.map((kv) => ({ ...kv, key: kv.key.toString(), value: kv.value.toString() })),
    [
      { key: '/a/1', value: 'one', create_revision: '10', mod_revision: '11', version: '2', lease: String(LEASE) },
      { key: '/a/2', value: '', create_revision: '11', mod_revision: '12', version: '2', lease: '0' },
    ],
    'a 63-bit lease id comes out exact, an absent one as 0',
  );
  t.equal(r.kvs[0]!.key.buffer, msg.buffer, 'keys and values are views into the message, not copies');
});

t.test('unknown fields of every wire type are skipped', async (t) => {
  const kv = [...keyValue('/k', 'v', 5n), ...int(9, 3n), ...tag(10, 1), 1, 2, 3, 4, 5, 6, 7, 8, ...tag(11, 5), 1, 2, 3, 4, ...bytes(12, [1, 2])];
  const msg = Buffer.from([...bytes(2, kv), ...tag(7, 1), 0, 0, 0, 0, 0, 0, 0, 0, ...str(8, 'later field'), ...int(3, 0n)]);
  const r = decodeRangeResponse(msg);
  t.same(r.kvs.map((x) => [x.key.toString(), x.value.toString(), x.mod_revision]), [['/k', 'v', '6']]);
  t.equal(r.more, false);
  t.equal(r.header.revision, '0', 'no header: revision 0');
});

t.test('truncated, overlong or unknown wire types are refused, never read past the end', async (t) => {
  const good = Buffer.from([...bytes(2, keyValue('/key', 'value', 1n))]);
  for (let cut = 1; cut < good.length; cut++) {
    t.throws(() => decodeRangeResponse(good.subarray(0, cut)), RangeCodecError, `cut at ${cut} of ${good.length}`);
  }
  t.throws(() => decodeRangeResponse(Buffer.from([...tag(4, 0), ...Array(11).fill(0xff), 1])), RangeCodecError, 'an 11-byte varint');
  t.throws(() => decodeRangeResponse(Buffer.from([...tag(4, 3)])), /wire type 3/, 'group wire types are not etcd\'s');
  t.throws(() => decodeRangeResponse(Buffer.from([...tag(2, 2), ...varint(1000n), 1, 2])), RangeCodecError, 'a length past the end');
});

t.test('a range request: key, range end, limit, revision, keys only', async (t) => {
  const req = encodeRangeRequest({ key: Buffer.from('/a/'), range_end: Buffer.from('/a0'), limit: 300, revision: '9007199254740993', keys_only: true });
  t.same([...req], [...str(1, '/a/'), ...str(2, '/a0'), ...int(3, 300n), ...int(4, 9007199254740993n), ...int(8, 1n)], 'a revision past 2^53 stays exact');
  t.same([...encodeRangeRequest({ key: Buffer.from('/k'), range_end: Buffer.alloc(0), revision: '0' })], str(1, '/k'), 'defaults are left out');
  t.throws(() => encodeRangeRequest({ key: Buffer.from('/k'), range_end: Buffer.alloc(0), revision: '-1' }), RangeCodecError);
});
