import type { ICompare, IRequestOp } from 'etcd3';
import { encodeJobObject, encodeScheduleEntry, isScheduledState } from './codec.js';
import { InvalidKeyError } from './errors.js';
import { cmp, op } from './etcd.js';
import { checkHash, type Keyspace } from './keys.js';
import type { ScheduleOp } from './types.js';

/**
 * etcd's default --max-txn-ops is 128 and a nested transaction's own ops count against what the outer one
 * leaves (128 - outer ops); schedule ops have at most 4 compares, so 100 ops per transaction stay clear.
 */
export const MAX_OPS_PER_TXN = 100;

function jobMatches(keys: Keyspace, name: string, hash: string, desiredState: string): ICompare[] {
  return [
    cmp.value(keys.jobObject(name), '==', encodeJobObject({ name, hash: checkHash(hash), global: false })),
    cmp.value(keys.jobTargetState(name), '==', desiredState),
  ];
}

function checkState(o: ScheduleOp & { desiredState: unknown }): void {
  if (!isScheduledState(o.desiredState)) {
    throw new InvalidKeyError(
      `schedule op ${o.type} of ${o.name}: desiredState must be "loaded" or "launched", got ${JSON.stringify(o.desiredState)}`,
    );
  }
}

/**
 * The nested transaction of one op: its compares are the op's preconditions (see docs/registry.md), its
 * success branch the writes. A failed precondition leaves that op out without affecting the others.
 */
export function opTxn(keys: Keyspace, o: ScheduleOp): IRequestOp {
  const target = keys.jobTarget(o.name);
  switch (o.type) {
    case 'place':
      checkState(o);
      return op.txn(
        [
          cmp.version(target, '==', 0),
          cmp.version(keys.machineObject(o.machineId), '>', 0),
          ...jobMatches(keys, o.name, o.hash, o.desiredState),
        ],
        [
          op.put(target, o.machineId),
          op.put(keys.schedule(o.machineId, o.name), encodeScheduleEntry(o)),
        ],
      );
    case 'unschedule':
      return op.txn(
        [cmp.value(target, '==', o.machineId)],
        [op.del(target), op.del(keys.schedule(o.machineId, o.name)), op.del(keys.scheduleStart(o.machineId, o.name))],
      );
    case 'move':
      checkState(o);
      if (o.from === o.to) throw new InvalidKeyError(`schedule op move of ${o.name}: from and to are both ${o.to}`);
      return op.txn(
        [
          cmp.value(target, '==', o.from),
          cmp.version(keys.machineObject(o.to), '>', 0),
          ...jobMatches(keys, o.name, o.hash, o.desiredState),
        ],
        [
          op.put(target, o.to),
          op.del(keys.schedule(o.from, o.name)),
          op.del(keys.scheduleStart(o.from, o.name)),
          op.put(keys.schedule(o.to, o.name), encodeScheduleEntry(o)),
        ],
      );
    case 'sync':
      checkState(o);
      return op.txn(
        [cmp.value(target, '==', o.machineId), ...jobMatches(keys, o.name, o.hash, o.desiredState)],
        [op.put(keys.schedule(o.machineId, o.name), encodeScheduleEntry(o))],
      );
    default: {
      const never: never = o;
      throw new InvalidKeyError(`unknown schedule op ${JSON.stringify(never)}`);
    }
  }
}

/** Splits ops into transaction-sized chunks; refuses two ops on one unit (etcd rejects duplicate keys). */
export function chunkOps(ops: readonly ScheduleOp[]): ScheduleOp[][] {
  const seen = new Set<string>();
  for (const o of ops) {
    if (seen.has(o.name)) {
      throw new InvalidKeyError(`schedule ops name unit ${o.name} twice; send one op per unit (use "move" to relocate)`);
    }
    seen.add(o.name);
  }
  const chunks: ScheduleOp[][] = [];
  for (let i = 0; i < ops.length; i += MAX_OPS_PER_TXN) chunks.push(ops.slice(i, i + MAX_OPS_PER_TXN));
  return chunks;
}
