/**
 * A Registry for tests: the real one, plus the etcd client the test keeps (the registry's own is private) and the
 * registry API only tests need (a fence without an election, schedule syncs as a list), kept out of lib/registry.
 */
import type { Etcd3 } from 'etcd3';
import { FencedError, Keyspace, Registry, type Fence, type ScheduledState, type ScheduleOpResult } from '../../lib/registry/index.js';

/** What the schedule entry of a scheduled unit must say (a 'sync' schedule op). */
export interface ScheduleSyncItem {
  readonly name: string;
  readonly machineId: string;
  readonly hash: string;
  readonly desiredState: ScheduledState;
}

export class TestRegistry extends Registry {
  constructor(
    /** The client this registry uses, for tests that look at etcd directly. */
    readonly etcd: Etcd3,
    prefix?: string,
  ) {
    super(etcd, prefix);
  }

  /** The keys of this registry's prefix, for tests that read or write etcd directly. */
  get keyspace(): Keyspace {
    return new Keyspace(this.prefix);
  }

  /** The fence of a key as it is now (FencedError when the key does not exist). */
  async fenceFor(key: string): Promise<Fence> {
    const kv = (await this.etcd.get(key).exec()).kvs[0];
    if (!kv) throw new FencedError(key, '(any)', undefined);
    return { key, createRevision: kv.create_revision };
  }

  /** Writes `key` and returns its fence: a leader of the test's own, without an election. */
  async claimFence(key: string, value = 'test'): Promise<Fence> {
    await this.etcd.put(key).value(value).exec();
    return this.fenceFor(key);
  }

  /** Mirrors hash and desired state into schedule entries, as the engine's sync ops do. */
  syncScheduleState(items: readonly ScheduleSyncItem[], fence: Fence): Promise<ScheduleOpResult[]> {
    return this.applySchedule(
      items.map((i) => ({ type: 'sync', name: i.name, machineId: i.machineId, hash: i.hash, desiredState: i.desiredState })),
      fence,
    );
  }
}
