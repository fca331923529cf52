/**
 * The engine leader record's codec (lib/registry/codec.ts): what an engine takes for a leader, and what it
 * rejects as malformed (then the record names no leader). No etcd needed.
 */
import t from 'tap';
import { decodeLeaderRecord, encodeLeaderRecord } from '../../lib/registry/codec.js';

t.test('round trip, fields in a fixed order', async (t) => {
  const rec = { machineId: 'm1', since: '2026-12-05T09:00:00.000Z' };
  t.equal(encodeLeaderRecord(rec), '{"machineId":"m1","since":"2026-12-05T09:00:00.000Z"}');
  t.same(decodeLeaderRecord(encodeLeaderRecord(rec)), rec);
  t.same(decodeLeaderRecord('{"since":"2026-12-05T09:00:00Z","machineId":"m2","extra":1}'), { machineId: 'm2', since: '2026-12-05T09:00:00Z' }, 'unknown fields ignored');
});

t.test('malformed records name no leader', async (t) => {
  const rows: [string, string][] = [
    ['not JSON', 'not json {'],
    ['empty', ''],
    ['null', 'null'],
    ['an array', '["m1"]'],
    ['a string', '"m1"'],
    ['no machine id', '{"since":"2026-12-05T09:00:00Z"}'],
    ['a numeric machine id', '{"machineId":5,"since":"2026-12-05T09:00:00Z"}'],
    ['an empty machine id', '{"machineId":"","since":"2026-12-05T09:00:00Z"}'],
    ['a machine id with "/"', '{"machineId":"a/b","since":"2026-12-05T09:00:00Z"}'],
    ['no since', '{"machineId":"m1"}'],
    ['since not a time', '{"machineId":"m1","since":"yesterday-ish"}'],
  ];
  for (const [what, raw] of rows) t.equal(decodeLeaderRecord(raw), undefined, what);
});
