/**
 * The rollout records on the wire: etcd's JSON round trip (lib/rollout/codec.ts) and the API decoders fleetctl runs
 * an answer through (lib/api/decode.ts): malformed records are refused, a hostile server's control characters in a
 * failure reason are escaped, a request's fields are checked. Pure.
 */
import t from 'tap';
import { decodeRolloutSpec, decodeRolloutStatus, encodeRolloutSpec, encodeRolloutStatus } from '../../lib/rollout/codec.js';
import { decodeRollout, decodeRolloutRequest } from '../../lib/api/decode.js';
import { ApiDecodeError } from '../../lib/api/errors.js';
import type { RolloutSpec, RolloutStatus } from '../../lib/rollout/types.js';

const spec: RolloutSpec = {
  id: '20261205T120000Z-abcdef',
  units: [{ name: 'web@1.service', from: 'a'.repeat(40), to: 'b'.repeat(40) }],
  maxUnavailable: 1,
  minHealthyMs: 10_000,
  deadlineMs: 300_000,
  rollback: true,
  createdAt: '2026-12-05T12:00:00.000Z',
};
const status: RolloutStatus = {
  phase: 'rolled-back',
  units: { 'web@1.service': { state: 'reverted', since: 5, machine: 'm1' } },
  failure: { unit: 'web@1.service', machine: 'm1', reason: 'failed (failed/failed)' },
  updatedAt: 9,
  finishedAt: 9,
};

t.test('etcd round trip; malformed values are refused', async (t) => {
  t.same(decodeRolloutSpec(encodeRolloutSpec(spec)), spec);
  t.same(decodeRolloutStatus(encodeRolloutStatus(status)), status);
  t.equal(decodeRolloutSpec(JSON.stringify({ ...spec, maxUnavailable: 0 })), undefined, 'max-unavailable 0');
  t.equal(decodeRolloutSpec(JSON.stringify({ ...spec, units: [] })), undefined, 'no units');
  t.equal(decodeRolloutSpec(JSON.stringify({ ...spec, units: [{ name: 'a/b', from: spec.units[0]!.from, to: spec.units[0]!.to }] })), undefined, 'bad name');
  t.equal(decodeRolloutStatus(JSON.stringify({ ...status, phase: 'exploded' })), undefined, 'unknown phase');
  t.equal(decodeRolloutStatus(JSON.stringify({ ...status, units: { x: { state: 'pending', since: -1 } } })), undefined, 'negative time');
  t.equal(decodeRolloutStatus('not json'), undefined);
});

t.test('an API answer is checked; control characters in free text are escaped', async (t) => {
  const hostile = { spec, status: { ...status, failure: { ...status.failure!, reason: 'boom\u001b[2J' } }, control: 'abort' };
  const r = decodeRollout(hostile);
  t.equal(r.status!.failure!.reason, 'boom\\u001b[2J');
  t.equal(r.control, 'abort');
  t.throws(() => decodeRollout({ spec: { ...spec, id: '../x' } }), ApiDecodeError);
  t.throws(() => decodeRollout({ spec, control: 'explode' }), ApiDecodeError);
  t.throws(() => decodeRollout({ spec, status: { phase: 'running' } }), ApiDecodeError);
});

t.test('a rollout request: units with options, numbers and the rollback flag', async (t) => {
  const req = { units: [{ name: 'web@1.service', options: [{ section: 'Service', name: 'ExecStart', value: '/bin/true' }] }], maxUnavailable: 2, minHealthyMs: 0, deadlineMs: 1, rollback: false };
  t.same(decodeRolloutRequest(req), req);
  t.throws(() => decodeRolloutRequest({ ...req, units: [] }), /at least one unit/);
  t.throws(() => decodeRolloutRequest({ ...req, rollback: 'yes' }), /rollback: expected true or false/);
});
